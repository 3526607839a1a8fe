//! kie.ai's account-wide budgets (contracts/kie-ai.md): at most `create_per_window` createTask
//! calls in any window and `polls_per_second` recordInfo calls per second, shared by every
//! worker of the process. A sliding window, not a token bucket: the provider counts requests in
//! windows of its own, and a 429 is a dropped request, not a queued one.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

/// Added to every window so network jitter never makes the provider count one request too
/// many at the edge of its own window.
const WINDOW_MARGIN: Duration = Duration::from_millis(50);

/// A sliding-window budget: at most `limit` acquisitions in any `window`.
pub struct SlidingWindow {
    limit: usize,
    window: Duration,
    /// (stamp, answered): a slot in flight is never dropped; an answered one is dropped a full
    /// window after its answer.
    log: Mutex<VecDeque<(Instant, bool)>>,
    /// Waiters take their turn first-come first-served (tokio's mutex is fair), so under a
    /// backlog no job waits for a slot while later ones keep taking them.
    turn: Mutex<()>,
}

impl SlidingWindow {
    pub fn new(limit: usize, window: Duration) -> Self {
        SlidingWindow { limit: limit.max(1), window, log: Mutex::new(VecDeque::new()), turn: Mutex::new(()) }
    }

    /// Waits until a slot is free, then takes it; returns the slot's stamp for [`Self::finish`].
    pub async fn acquire(&self) -> Instant {
        let _turn = self.turn.lock().await;
        loop {
            let wait = {
                let mut log = self.log.lock().await;
                let now = Instant::now();
                while log
                    .front()
                    .is_some_and(|(t, done)| *done && now.duration_since(*t) >= self.window + WINDOW_MARGIN)
                {
                    log.pop_front();
                }
                if log.len() < self.limit {
                    log.push_back((now, false));
                    return now;
                }
                // The oldest slot frees when it leaves the window (or, in flight, soon after).
                match log[0] {
                    (t, true) => (self.window + WINDOW_MARGIN).saturating_sub(now.duration_since(t)),
                    (_, false) => Duration::from_millis(20),
                }
            };
            tokio::time::sleep(wait).await;
        }
    }

    /// The request of slot `stamp` got its answer: the provider counted it at some moment up to
    /// now, so the slot is held a full window from now (a slow request can never make two
    /// windows overlap at the provider).
    pub async fn finish(&self, stamp: Instant) {
        let mut log = self.log.lock().await;
        if let Some(slot) = log.iter_mut().find(|(t, done)| *t == stamp && !*done) {
            *slot = (Instant::now(), true);
        }
        // Answered slots in answer order; in-flight ones (older stamps) stay in front.
        log.make_contiguous().sort_by_key(|(t, done)| (*done, *t));
    }

    /// Gives back slot `stamp` unused (no request was sent).
    pub async fn cancel(&self, stamp: Instant) {
        let mut log = self.log.lock().await;
        if let Some(i) = log.iter().position(|(t, done)| *t == stamp && !*done) {
            log.remove(i);
        }
    }
}

/// A budget in PostgreSQL shared by every node of a cluster (issue 19) and by a process and the
/// one that replaced it after a crash: the same rule as [`SlidingWindow`], each slot a row of
/// `provider_slots` taken under an advisory lock.
pub struct SharedWindow {
    pool: sqlx::PgPool,
    name: String,
    limit: i64,
    window: Duration,
    /// A request still unanswered after this long is counted from its start: its process died
    /// before it could report the answer (at least the client's own timeout).
    stale: Duration,
    /// This node's waiters take their turn first-come first-served, as in [`SlidingWindow`].
    turn: Mutex<()>,
}

impl SharedWindow {
    pub fn new(pool: sqlx::PgPool, name: &str, limit: usize, window: Duration, stale: Duration) -> Self {
        SharedWindow { pool, name: name.into(), limit: limit.max(1) as i64, window, stale, turn: Mutex::new(()) }
    }

    /// Waits until a slot is free, then takes it; returns its id for [`Self::finish`].
    pub async fn acquire(&self) -> i64 {
        use crate::db::cluster::{SlotAttempt, try_take_slot};
        let _turn = self.turn.lock().await;
        loop {
            match try_take_slot(&self.pool, &self.name, self.limit, self.window + WINDOW_MARGIN, self.stale).await {
                Ok(SlotAttempt::Taken(id)) => return id,
                Ok(SlotAttempt::Wait(wait)) => tokio::time::sleep(wait).await,
                // Without the database no node can count: wait rather than risk the provider's
                // limit (the job's own deadline still applies).
                Err(e) => {
                    tracing::warn!(budget = %self.name, error = %e, "the shared provider budget is unreachable; waiting");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
    }

    /// The request of slot `id` got its answer.
    pub async fn finish(&self, id: i64) {
        if let Err(e) = crate::db::cluster::finish_slot(&self.pool, id).await {
            tracing::warn!(budget = %self.name, error = %e, "could not mark a provider slot answered");
        }
    }

    /// Slot `id` was not used.
    pub async fn cancel(&self, id: i64) {
        if let Err(e) = crate::db::cluster::cancel_slot(&self.pool, id).await {
            tracing::warn!(budget = %self.name, error = %e, "could not give back a provider slot");
        }
    }
}

/// A slot taken from a [`Budget`].
#[derive(Debug, Clone, Copy)]
pub enum Slot {
    Local(Instant),
    Shared(i64),
}

/// One of kie.ai's budgets: this process's sliding window, or (in a cluster) the cluster's.
pub enum Budget {
    Local(SlidingWindow),
    Shared(SharedWindow),
}

impl Budget {
    /// Waits until a slot is free, then takes it.
    pub async fn acquire(&self) -> Slot {
        match self {
            Budget::Local(w) => Slot::Local(w.acquire().await),
            Budget::Shared(w) => Slot::Shared(w.acquire().await),
        }
    }

    /// The request of `slot` got its answer.
    pub async fn finish(&self, slot: Slot) {
        match (self, slot) {
            (Budget::Local(w), Slot::Local(stamp)) => w.finish(stamp).await,
            (Budget::Shared(w), Slot::Shared(id)) => w.finish(id).await,
            _ => {}
        }
    }

    /// Gives `slot` back unused.
    pub async fn cancel(&self, slot: Slot) {
        match (self, slot) {
            (Budget::Local(w), Slot::Local(stamp)) => w.cancel(stamp).await,
            (Budget::Shared(w), Slot::Shared(id)) => w.cancel(id).await,
            _ => {}
        }
    }
}

/// kie.ai's account-wide budgets, shared by every worker (and, in a cluster, every node).
pub struct ProviderLimits {
    pub create: Budget,
    pub poll: Budget,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test]
    async fn the_sliding_window_never_exceeds_its_limit() {
        let window = Arc::new(SlidingWindow::new(5, Duration::from_millis(200)));
        let stamps = Arc::new(std::sync::Mutex::new(Vec::new()));
        let tasks: Vec<_> = (0..12)
            .map(|_| {
                let (window, stamps) = (window.clone(), stamps.clone());
                tokio::spawn(async move {
                    let slot = window.acquire().await;
                    stamps.lock().unwrap().push(Instant::now());
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    window.finish(slot).await;
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        let mut stamps = stamps.lock().unwrap().clone();
        stamps.sort();
        for (i, t) in stamps.iter().enumerate() {
            let in_window =
                stamps[i..].iter().take_while(|s| s.duration_since(*t) < Duration::from_millis(200)).count();
            assert!(in_window <= 5, "{in_window} acquisitions inside one window");
        }
    }

    #[tokio::test]
    async fn a_cancelled_slot_is_free_again_at_once() {
        let window = SlidingWindow::new(1, Duration::from_secs(60));
        let slot = window.acquire().await;
        window.cancel(slot).await;
        let again = tokio::time::timeout(Duration::from_millis(200), window.acquire()).await;
        assert!(again.is_ok(), "an unused slot does not hold the budget");
    }

    #[tokio::test]
    async fn slots_go_to_waiters_in_arrival_order() {
        let window = Arc::new(SlidingWindow::new(1, Duration::from_millis(100)));
        let first = window.acquire().await;
        let order = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut waiters = Vec::new();
        for i in 0..4 {
            let (window, order) = (window.clone(), order.clone());
            waiters.push(tokio::spawn(async move {
                let slot = window.acquire().await;
                order.lock().unwrap().push(i);
                window.finish(slot).await;
            }));
            // Arrive one after another.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        window.finish(first).await;
        for w in waiters {
            w.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), vec![0, 1, 2, 3]);
    }
}
