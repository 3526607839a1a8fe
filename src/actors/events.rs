//! Events pushed to the Mini App over the WebSocket: `{"type": "...", "data": {...}}`
//! (docs/API.md). One [`Event`] enum names every event and its payload; the frontend's
//! TypeScript union is generated from it (`frontend/src/api/generated/Event.ts`). An event is
//! serialised once into a [`Frame`] shared by every socket of the user.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::db::types::GenerationKind;
use crate::domain::chat::ChatMessage;
use crate::domain::credits::{self, BucketState};
use crate::domain::errors::ErrorCode;

/// A serialised event frame, cheap to clone to many sockets.
pub type Frame = Arc<str>;

/// Where a running generation is, as the progress screen names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
#[ts(export_to = "Event.ts")]
pub enum JobStage {
    /// The task was created at kie.ai (it can no longer be cancelled).
    Submitted,
    /// kie.ai is generating.
    Generating,
    /// The result is being checked and stored.
    Finishing,
}

/// Every event the server sends on `/ws`.
#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS)]
#[serde(tag = "type", content = "data")]
#[ts(export_to = "Event.ts")]
pub enum Event {
    /// The user's balance, on connect and after every change.
    #[serde(rename = "balance")]
    Balance(BalanceView),
    /// A generation waits in the queue; `position` 1 is next.
    #[serde(rename = "job.queued")]
    JobQueued { generation_id: Uuid, position: u32 },
    #[serde(rename = "job.progress")]
    JobProgress { generation_id: Uuid, stage: JobStage },
    #[serde(rename = "job.succeeded")]
    JobSucceeded { generation_id: Uuid, kind: GenerationKind, result_url: String, watermarked: bool },
    /// The generation failed; `credits_returned` says whether its credits came back (`refunded` of them).
    #[serde(rename = "job.failed")]
    JobFailed {
        generation_id: Uuid,
        kind: GenerationKind,
        code: ErrorCode,
        message: String,
        credits_returned: bool,
        refunded: i32,
    },
    /// A new chat message (the user's, the assistant's answer, an edit's result or failure).
    #[serde(rename = "chat.message")]
    ChatMessage(ChatMessage),
    #[serde(rename = "payment.succeeded")]
    PaymentSucceeded { payment_id: Uuid, product: String, credits: i32 },
    /// The answer to the client's `{"type":"ping"}` heartbeat.
    #[serde(rename = "pong")]
    Pong {},
}

impl Event {
    /// Serialises the event once, for every socket of the user.
    pub fn frame(&self) -> Frame {
        Arc::from(serde_json::to_string(self).expect("events serialise to JSON: no maps with non-string keys"))
    }
}

/// The balance as the API and the `balance` event show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ts_rs::TS)]
#[ts(export_to = "BalanceView.ts")]
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
        Event::Balance(*self).frame()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_keep_their_wire_shape() {
        let id = Uuid::nil();
        let frame = Event::JobQueued { generation_id: id, position: 2 }.frame();
        let value: serde_json::Value = serde_json::from_str(&frame).unwrap();
        assert_eq!(value["type"], "job.queued");
        assert_eq!(value["data"]["position"], 2);
        let pong: serde_json::Value = serde_json::from_str(&Event::Pong {}.frame()).unwrap();
        assert_eq!(pong, serde_json::json!({"type": "pong", "data": {}}));
        let failed = Event::JobFailed {
            generation_id: id,
            kind: GenerationKind::Tryon,
            code: ErrorCode::ProviderTimeout,
            message: "m".into(),
            credits_returned: true,
            refunded: 2,
        };
        let value: serde_json::Value = serde_json::from_str(&failed.frame()).unwrap();
        assert_eq!(value["data"]["code"], "provider_timeout");
        assert_eq!(value["data"]["kind"], "tryon");
    }
}
