//! Recent logins: a returning user whose Telegram profile has not changed since their last
//! login a few minutes ago is answered without writing to the database again (the upsert is
//! the only write on the login path and the bottleneck under load). Entries expire after a
//! short TTL, and anything that changes the user row (language, "delete my data", blocking)
//! must call [`RecentLogins::forget`]. The entry also keeps the user as the login answer shows
//! them, rendered once ([`Recent::view`]), not serialised again for every login.

use std::sync::Arc;
use std::time::{Duration, Instant};

use dashmap::DashMap;
use serde_json::value::RawValue;

use crate::db::users::{TelegramProfile, UserRow};

/// A user who logged in: their row, and the JSON the login answer carries for them.
pub struct Recent {
    pub row: UserRow,
    pub view: Box<RawValue>,
}

impl Recent {
    /// `view` is the answer's user object for `row`; it cannot fail to render for plain data,
    /// and if it ever did the login answers an error instead of a half-written body.
    pub fn new(row: UserRow, view: &impl serde::Serialize) -> serde_json::Result<Self> {
        Ok(Recent { row, view: serde_json::value::to_raw_value(view)? })
    }
}

struct Entry {
    profile: TelegramProfile,
    user: Arc<Recent>,
    at: Instant,
}

pub struct RecentLogins {
    /// Keyed by Telegram id with foldhash (randomly seeded per process): every login looks a
    /// user up here, and SipHash showed in a login's profile.
    map: DashMap<i64, Entry, foldhash::fast::RandomState>,
    ttl: Duration,
}

impl RecentLogins {
    /// `ttl` zero turns the cache off.
    pub fn new(ttl: Duration) -> Self {
        RecentLogins { map: DashMap::with_hasher(foldhash::fast::RandomState::default()), ttl }
    }

    /// The stored user when this exact profile logged in within the TTL.
    pub fn get(&self, profile: &TelegramProfile) -> Option<Arc<Recent>> {
        if self.ttl.is_zero() {
            return None;
        }
        let entry = self.map.get(&profile.id)?;
        (entry.at.elapsed() < self.ttl && entry.profile == *profile).then(|| entry.user.clone())
    }

    pub fn put(&self, profile: TelegramProfile, user: Arc<Recent>) {
        if self.ttl.is_zero() {
            return;
        }
        self.map.insert(profile.id, Entry { profile, user, at: Instant::now() });
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
