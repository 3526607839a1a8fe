//! The editor chat as the SessionActor keeps it (DESIGN §3): the last `chat.history_size`
//! messages and the current image, loaded from `chat_history` on first use, and every change
//! written (trimmed) to the database **before** its `chat.message` frames are sent. The session
//! is the only writer of a user's chat, so requests, finished edits and "start over" never
//! overwrite each other; a restarted session simply reloads the row.
//!
//! A chat *turn* (one user message and the assistant's answer) is slow (the assistant call), so
//! it never runs inside the actor: the session hands out a FIFO gate that the request holds for
//! the whole turn (one user's messages are answered one at a time, in order, each seeing the
//! history of the ones before it), and caps how many turns may wait (`chat.max_pending`).

use std::sync::Arc;

use chrono::Utc;
use ractor::ActorRef;
use serde_json::{Value, json};
use uuid::Uuid;

use super::Services;
use super::session::SessionMsg;
use crate::db::chat::Chat;

/// A change to the chat, applied by the session in one write.
#[derive(Debug, Clone, Default)]
pub struct ChatChange {
    /// Appended in order; the oldest messages beyond the history size are dropped.
    pub messages: Vec<Value>,
    /// Becomes the chat's current image (the input of the next edit).
    pub current_image: Option<String>,
}

/// The right to run one chat turn. Dropping it lets the next waiting turn run and tells the
/// session the turn is over.
pub struct ChatTurn {
    _guard: tokio::sync::OwnedMutexGuard<()>,
    session: ActorRef<SessionMsg>,
}

impl ChatTurn {
    pub(super) async fn wait(gate: Arc<tokio::sync::Mutex<()>>, session: ActorRef<SessionMsg>) -> ChatTurn {
        ChatTurn { _guard: gate.lock_owned().await, session }
    }
}

impl Drop for ChatTurn {
    fn drop(&mut self) {
        let _ = self.session.cast(SessionMsg::ChatTurnDone);
    }
}

/// Applies `change` to `chat` in memory, keeping the last `keep` messages.
pub fn apply(chat: &mut Chat, change: &ChatChange, keep: usize) {
    chat.messages.extend(change.messages.iter().cloned());
    let skip = chat.messages.len().saturating_sub(keep);
    chat.messages.drain(..skip);
    if let Some(key) = &change.current_image {
        chat.current_image = Some(json!({"key": key}));
    }
}

/// A short-lived signed link for an image the user owns.
pub fn signed(services: &Services, key: &str) -> String {
    services.storage.signed_path(key, services.settings.file.storage.signed_url_ttl_secs, Utc::now().timestamp())
}

/// A message as clients see it: the storage key replaced by a signed `image_url`.
pub fn message_view(services: &Services, message: &Value) -> Value {
    let mut view = message.clone();
    if let Some(key) = message.get("image_key").and_then(Value::as_str) {
        view["image_url"] = json!(signed(services, key));
    }
    if let Some(obj) = view.as_object_mut() {
        obj.remove("image_key");
    }
    view
}

/// The chat as `GET /api/chat` returns it.
pub fn chat_view(services: &Services, chat: &Chat) -> Value {
    let current = chat
        .current_image
        .as_ref()
        .and_then(|c| c.get("key"))
        .and_then(Value::as_str)
        .map(|k| json!({"url": signed(services, k)}));
    json!({
        "messages": chat.messages.iter().map(|m| message_view(services, m)).collect::<Vec<_>>(),
        "current_image": current,
    })
}

/// The chat message for a finished edit: its result becomes the current image.
pub fn result_message(generation_id: Uuid, key: &str, watermarked: bool) -> Value {
    json!({
        "id": Uuid::new_v4(),
        "role": "assistant",
        "kind": "image",
        "text": "",
        "image_key": key,
        "generation_id": generation_id,
        "watermarked": watermarked,
        "created_at": Utc::now(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_are_trimmed_and_move_the_current_image() {
        let mut chat = Chat::default();
        for i in 0..7 {
            let change =
                ChatChange { messages: vec![json!({"n": 2 * i}), json!({"n": 2 * i + 1})], current_image: None };
            apply(&mut chat, &change, 10);
        }
        assert_eq!(chat.messages.len(), 10);
        assert_eq!(chat.messages[0]["n"], 4, "the oldest four are gone");
        assert_eq!(chat.messages[9]["n"], 13);
        assert!(chat.current_image.is_none());
        apply(&mut chat, &ChatChange { messages: vec![], current_image: Some("results/a.jpg".into()) }, 10);
        assert_eq!(chat.current_image, Some(json!({"key": "results/a.jpg"})));
        assert_eq!(chat.messages.len(), 10);
    }
}
