//! The pool's queue: one FIFO per user, served round-robin, so one user's backlog never starves
//! another; every queued job knows its position in dispatch order.

use std::collections::{HashMap, HashSet, VecDeque};

use uuid::Uuid;

use crate::domain::ids::UserId;

#[derive(Debug, Default)]
pub struct FairQueue {
    queues: HashMap<UserId, VecDeque<Uuid>>,
    users: VecDeque<UserId>,
    queued: HashSet<Uuid>,
}

impl FairQueue {
    /// Queues `id` for `user`; false when it is queued already.
    pub fn push(&mut self, id: Uuid, user: UserId) -> bool {
        if !self.queued.insert(id) {
            return false;
        }
        let queue = self.queues.entry(user).or_default();
        if queue.is_empty() {
            self.users.push_back(user);
        }
        queue.push_back(id);
        true
    }

    /// The next job in fair (round-robin between users) order.
    pub fn pop(&mut self) -> Option<(Uuid, UserId)> {
        let user = self.users.pop_front()?;
        let queue = self.queues.get_mut(&user)?;
        let id = queue.pop_front()?;
        if queue.is_empty() {
            self.queues.remove(&user);
        } else {
            self.users.push_back(user);
        }
        self.queued.remove(&id);
        Some((id, user))
    }

    /// Takes `id` out of the queue (a cancelled job); false when it was not queued.
    pub fn remove(&mut self, id: Uuid, user: UserId) -> bool {
        if !self.queued.remove(&id) {
            return false;
        }
        if let Some(queue) = self.queues.get_mut(&user) {
            queue.retain(|j| *j != id);
            if queue.is_empty() {
                self.queues.remove(&user);
                self.users.retain(|u| *u != user);
            }
        }
        true
    }

    pub fn contains(&self, id: &Uuid) -> bool {
        self.queued.contains(id)
    }

    pub fn len(&self) -> usize {
        self.queued.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queued.is_empty()
    }

    /// Every queued job with its 1-based position in dispatch order.
    pub fn positions(&self) -> Vec<(Uuid, UserId, u32)> {
        let mut out = Vec::new();
        let depth = self.queues.values().map(VecDeque::len).max().unwrap_or(0);
        for round in 0..depth {
            for user in &self.users {
                if let Some(id) = self.queues.get(user).and_then(|q| q.get(round)) {
                    out.push((*id, *user, out.len() as u32 + 1));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_queue_is_fair_between_users() {
        let mut state = FairQueue::default();
        let (a, b) = (UserId(1), UserId(2));
        let a_jobs: Vec<Uuid> = (0..3).map(|_| Uuid::new_v4()).collect();
        let b_job = Uuid::new_v4();
        for id in &a_jobs {
            assert!(state.push(*id, a));
        }
        assert!(state.push(b_job, b));
        assert!(!state.push(b_job, b), "a job is queued once");
        let positions: Vec<_> = state.positions().into_iter().map(|(id, _, p)| (id, p)).collect();
        assert_eq!(positions, vec![(a_jobs[0], 1), (b_job, 2), (a_jobs[1], 3), (a_jobs[2], 4)]);
        let order: Vec<Uuid> = std::iter::from_fn(|| state.pop().map(|(id, _)| id)).collect();
        assert_eq!(order, vec![a_jobs[0], b_job, a_jobs[1], a_jobs[2]]);
    }

    #[test]
    fn a_removed_job_leaves_no_gap() {
        let mut state = FairQueue::default();
        let (a, b) = (UserId(1), UserId(2));
        let (a1, b1) = (Uuid::new_v4(), Uuid::new_v4());
        state.push(a1, a);
        state.push(b1, b);
        assert!(state.remove(a1, a));
        assert!(!state.remove(a1, a), "removed once");
        assert_eq!(state.positions(), vec![(b1, b, 1)]);
        assert_eq!(state.pop(), Some((b1, b)));
        assert!(state.is_empty());
    }
}
