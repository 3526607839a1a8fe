//! Recent logins: a returning user whose Telegram profile has not changed since their last
//! login a few minutes ago is answered without writing to the database again (the upsert is
//! the only write on the login path and the bottleneck under load). Entries expire after a
//! short TTL, and anything that changes the user row (language, "delete my data", blocking)
//! must call [`RecentLogins::forget`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use dashmap::DashMap;

use crate::db::users::{TelegramProfile, UserRow};

struct Entry {
    profile: TelegramProfile,
    user: Arc<UserRow>,
    at: Instant,
}

pub struct RecentLogins {
    map: DashMap<i64, Entry>,
    ttl: Duration,
}

impl RecentLogins {
    /// `ttl` zero turns the cache off.
    pub fn new(ttl: Duration) -> Self {
        RecentLogins { map: DashMap::new(), ttl }
    }

    /// The stored row when this exact profile logged in within the TTL.
    pub fn get(&self, profile: &TelegramProfile) -> Option<Arc<UserRow>> {
        if self.ttl.is_zero() {
            return None;
        }
        let entry = self.map.get(&profile.id)?;
        (entry.at.elapsed() < self.ttl && entry.profile == *profile).then(|| entry.user.clone())
    }

    pub fn put(&self, profile: TelegramProfile, user: UserRow) {
        if self.ttl.is_zero() {
            return;
        }
        self.map.insert(profile.id, Entry { profile, user: Arc::new(user), at: Instant::now() });
    }

    pub fn forget(&self, user_id: i64) {
        self.map.remove(&user_id);
    }

    /// Drops expired entries (call periodically).
    pub fn prune(&self) {
        let ttl = self.ttl;
        self.map.retain(|_, e| e.at.elapsed() < ttl);
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}
