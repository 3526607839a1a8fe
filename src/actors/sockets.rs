//! `SocketHub`: the users' open WebSockets on this node, by user. A socket registers here (not
//! in its user's `SessionActor`), so a user who only listens costs a map entry and a channel,
//! not an actor: 10,000 connected users no longer keep 10,000 sessions alive (each ≈ 8 KB of
//! ractor mailboxes; BENCHMARKS.md, WebSockets). Sessions, the generator and the bus publish
//! frames here; a session stays the owner of the user's state and stops when idle even while
//! the user's sockets stay open.
//!
//! A registration is a [`Subscription`] guard: dropping it (the socket's task ended, however it
//! ended) removes the socket, so the per-user cap can never leak a place.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use dashmap::DashMap;
use tokio::sync::mpsc;

use super::events::Frame;
use crate::domain::ids::UserId;

/// Too many sockets open for one user (`sessions.max_sockets_per_user`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooManySockets;

#[derive(Default)]
pub struct SocketHub {
    users: DashMap<UserId, Vec<(u64, mpsc::Sender<Frame>)>>,
    next: AtomicU64,
}

impl SocketHub {
    /// Registers a socket of `user` that reads its frames from `tx`'s receiver; `max` sockets
    /// per user at most (closed ones are not counted).
    pub fn subscribe(
        self: &Arc<Self>,
        user: UserId,
        tx: mpsc::Sender<Frame>,
        max: usize,
    ) -> Result<Subscription, TooManySockets> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let mut sockets = self.users.entry(user).or_default();
        let before = sockets.len();
        sockets.retain(|(_, s)| !s.is_closed());
        let gone = before - sockets.len();
        if sockets.len() >= max {
            drop(sockets);
            decrement(gone);
            return Err(TooManySockets);
        }
        sockets.push((id, tx));
        drop(sockets);
        decrement(gone);
        metrics::gauge!("primerka_ws_subscribers").increment(1.0);
        Ok(Subscription { hub: self.clone(), user, id })
    }

    /// Sends `frame` to every socket of `user` on this node; a socket that cannot keep up is
    /// dropped (its channel closes: it registers again and catches up through REST).
    pub fn publish(&self, user: UserId, frame: &Frame) {
        self.retain(user, |(_, tx)| tx.try_send(frame.clone()).is_ok());
    }

    /// Whether `user` has an open socket on this node.
    pub fn is_connected(&self, user: UserId) -> bool {
        self.users.get(&user).is_some_and(|s| s.iter().any(|(_, tx)| !tx.is_closed()))
    }

    /// Open sockets of `user` on this node.
    #[cfg(test)]
    fn count(&self, user: UserId) -> usize {
        self.users.get(&user).map_or(0, |s| s.iter().filter(|(_, tx)| !tx.is_closed()).count())
    }

    fn remove(&self, user: UserId, id: u64) {
        self.retain(user, |(sid, _)| *sid != id);
    }

    /// Keeps the sockets of `user` that `keep` accepts; the gauge follows, and the user's entry
    /// goes with their last socket.
    fn retain(&self, user: UserId, keep: impl FnMut(&(u64, mpsc::Sender<Frame>)) -> bool) {
        let Some(mut sockets) = self.users.get_mut(&user) else { return };
        let before = sockets.len();
        sockets.retain(keep);
        let gone = before - sockets.len();
        let empty = sockets.is_empty();
        drop(sockets);
        decrement(gone);
        if empty {
            self.users.remove_if(&user, |_, s| s.is_empty());
        }
    }
}

fn decrement(gone: usize) {
    if gone > 0 {
        metrics::gauge!("primerka_ws_subscribers").decrement(gone as f64);
    }
}

/// One registered socket; dropping it unregisters the socket.
pub struct Subscription {
    hub: Arc<SocketHub>,
    user: UserId,
    id: u64,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.hub.remove(self.user, self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(text: &str) -> Frame {
        Arc::from(text)
    }

    #[test]
    fn a_socket_gets_its_users_frames_and_leaves_when_its_guard_drops() {
        let hub = Arc::new(SocketHub::default());
        let (tx, mut rx) = mpsc::channel(4);
        let (other_tx, mut other_rx) = mpsc::channel(4);
        let sub = hub.subscribe(UserId(1), tx, 5).expect("a place");
        let _other = hub.subscribe(UserId(2), other_tx, 5).expect("a place");
        hub.publish(UserId(1), &frame("a"));
        assert_eq!(rx.try_recv().as_deref().ok(), Some("a"));
        assert!(other_rx.try_recv().is_err(), "another user's socket hears nothing");
        assert!(hub.is_connected(UserId(1)));
        drop(sub);
        assert!(!hub.is_connected(UserId(1)));
        assert!(hub.users.get(&UserId(1)).is_none(), "the user's entry goes with the last socket");
    }

    #[test]
    fn the_cap_counts_open_sockets_and_a_dropped_guard_frees_its_place_at_once() {
        let hub = Arc::new(SocketHub::default());
        let mut subs = Vec::new();
        let mut receivers = Vec::new();
        for _ in 0..3 {
            let (tx, rx) = mpsc::channel(4);
            subs.push(hub.subscribe(UserId(7), tx, 3).expect("a place"));
            receivers.push(rx);
        }
        let (tx, _rx) = mpsc::channel(4);
        assert_eq!(hub.subscribe(UserId(7), tx.clone(), 3).err(), Some(TooManySockets));
        subs.pop();
        let again = hub.subscribe(UserId(7), tx, 3);
        assert!(again.is_ok(), "a closed socket's place is free again");
        // A socket whose reader went away (receiver dropped) does not hold a place either.
        receivers.remove(0);
        let (tx, _rx2) = mpsc::channel(4);
        let last = hub.subscribe(UserId(7), tx, 3);
        assert!(last.is_ok());
        assert_eq!(hub.count(UserId(7)), 3);
        drop((again, last, subs));
        assert_eq!(hub.count(UserId(7)), 0, "every guard gave its place back");
    }

    #[test]
    fn a_socket_that_cannot_keep_up_is_dropped_and_sees_its_channel_close() {
        let hub = Arc::new(SocketHub::default());
        let (tx, mut rx) = mpsc::channel(1);
        let _sub = hub.subscribe(UserId(3), tx, 5).expect("a place");
        hub.publish(UserId(3), &frame("1"));
        hub.publish(UserId(3), &frame("2"));
        assert_eq!(rx.try_recv().as_deref().ok(), Some("1"));
        assert!(matches!(rx.try_recv(), Err(mpsc::error::TryRecvError::Disconnected)));
        assert!(!hub.is_connected(UserId(3)));
    }
}
