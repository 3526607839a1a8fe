//! Events pushed to the Mini App over the WebSocket: `{"type": "...", "data": {...}}`
//! (docs/API.md). Serialised once, shared by every socket of the user.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::credits::{self, BucketState};

/// A serialised event frame, cheap to clone to many sockets.
pub type Frame = Arc<str>;

/// Builds a frame for `kind` with `data`.
pub fn frame(kind: &str, data: impl Serialize) -> Frame {
    #[derive(Serialize)]
    struct Envelope<'a, T> {
        r#type: &'a str,
        data: T,
    }
    let json = serde_json::to_string(&Envelope { r#type: kind, data }).expect("event payloads serialise to JSON");
    Arc::from(json)
}

/// The balance as the API and the `balance` event show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct BalanceView {
    pub free: i32,
    pub subscription: i32,
    pub purchased: i32,
    pub total: i32,
    /// When the free allowance is next replaced (start of next month in the configured zone).
    pub free_resets_at: Option<DateTime<Utc>>,
    pub subscription_expires_at: Option<DateTime<Utc>>,
}

impl BalanceView {
    pub fn from_state(state: &BucketState, tz: chrono_tz::Tz) -> Self {
        let b = state.buckets;
        BalanceView {
            free: b.free,
            subscription: b.subscription,
            purchased: b.purchased,
            total: b.total(),
            free_resets_at: state.free_month.map(|m| credits::next_month_start(m, tz)),
            subscription_expires_at: state.sub_period_end,
        }
    }

    pub fn frame(&self) -> Frame {
        frame("balance", self)
    }
}
