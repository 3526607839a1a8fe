//! Revoking session tokens before they expire: every token carries the user's token version
//! (`users.token_version`, claim `ver`); blocking a user and "delete my data" bump it. Each
//! authenticated request (and each WebSocket before its upgrade) compares its token's version
//! and the user's `blocked` flag with the current ones, which this cache holds for `ttl` per
//! user (one small read per user per `ttl`). A bump on this node forgets the entry at once;
//! other nodes of a cluster see it within `ttl`.

use std::time::{Duration, Instant};

use dashmap::DashMap;
use sqlx::PgPool;

use crate::db::{self, DbError};
use crate::domain::ids::UserId;

/// Why a token no longer opens anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revoked {
    /// The user is blocked.
    Blocked,
    /// Issued before the last bump (or for a user that no longer exists).
    Stale,
}

pub struct TokenVersions {
    map: DashMap<UserId, (i32, bool, Instant)>,
    ttl: Duration,
}

impl TokenVersions {
    pub fn new(ttl: Duration) -> Self {
        TokenVersions { map: DashMap::new(), ttl }
    }

    /// `Ok(Ok(()))` when a token of version `ver` for `user` is current.
    pub async fn check(&self, pool: &PgPool, user: UserId, ver: i32) -> Result<Result<(), Revoked>, DbError> {
        let cached = self.map.get(&user).filter(|e| e.2.elapsed() < self.ttl).map(|e| (e.0, e.1));
        let (current, blocked) = match cached {
            Some(state) => state,
            None => match db::users::token_state(pool, user).await? {
                Some((current, blocked)) => {
                    self.map.insert(user, (current, blocked, Instant::now()));
                    (current, blocked)
                }
                None => return Ok(Err(Revoked::Stale)),
            },
        };
        Ok(if blocked {
            Err(Revoked::Blocked)
        } else if ver != current {
            Err(Revoked::Stale)
        } else {
            Ok(())
        })
    }

    /// What a login just read from the user's row (saves the first request's read).
    pub fn remember(&self, user: UserId, ver: i32, blocked: bool) {
        self.map.insert(user, (ver, blocked, Instant::now()));
    }

    /// The user's version or `blocked` changed here: read them again on the next request.
    pub fn forget(&self, user: UserId) {
        self.map.remove(&user);
    }

    /// Drops expired entries (call periodically).
    pub fn prune(&self) {
        let ttl = self.ttl;
        self.map.retain(|_, e| e.2.elapsed() < ttl);
    }
}
