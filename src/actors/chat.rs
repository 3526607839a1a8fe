//! The editor chat as the SessionActor keeps it (DESIGN §3): the last `chat.history_size`
//! messages and the current image, loaded from `chat_history` on first use, and every change
//! written (trimmed) to the database **before** its `chat.message` frames are sent. The session
//! is the only writer of a user's chat (`session/chat.rs`), so requests, finished edits and
//! "start over" never overwrite each other; a restarted session simply reloads the row.

use chrono::Utc;
use serde::Serialize;

use crate::db::chat::Chat;
use crate::domain::chat::ChatMessage;
use crate::storage::Storage;

/// A change to the chat, applied by the session in one write.
#[derive(Debug, Clone, Default)]
pub struct ChatChange {
    /// Appended in order; the oldest messages beyond the history size are dropped.
    pub messages: Vec<ChatMessage>,
    /// Becomes the chat's current image (the input of the next edit).
    pub current_image: Option<String>,
}

/// Applies `change` to `chat` in memory, keeping the last `keep` messages.
pub fn apply(chat: &mut Chat, change: &ChatChange, keep: usize) {
    chat.messages.extend(change.messages.iter().cloned());
    let skip = chat.messages.len().saturating_sub(keep);
    chat.messages.drain(..skip);
    if let Some(key) = &change.current_image {
        chat.current_image = Some(key.clone());
    }
}

/// A short-lived signed link (valid `ttl_secs`) for an image the user owns.
pub fn signed(storage: &Storage, ttl_secs: u64, key: &str) -> String {
    storage.signed_path(key, ttl_secs, Utc::now().timestamp())
}

/// A message as clients see it: the storage key replaced by a signed `image_url`.
pub fn message_view(storage: &Storage, ttl_secs: u64, message: &ChatMessage) -> ChatMessage {
    message.with_link(|key| signed(storage, ttl_secs, key))
}

/// The current image as clients see it.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
#[ts(export_to = "ChatView.ts")]
pub struct CurrentImage {
    pub url: String,
}

/// The chat as `GET /api/chat` returns it.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
#[ts(export_to = "ChatView.ts")]
pub struct ChatView {
    pub messages: Vec<ChatMessage>,
    pub current_image: Option<CurrentImage>,
}

pub fn chat_view(storage: &Storage, ttl_secs: u64, chat: &Chat) -> ChatView {
    ChatView {
        messages: chat.messages.iter().map(|m| message_view(storage, ttl_secs, m)).collect(),
        current_image: chat.current_image.as_deref().map(|k| CurrentImage { url: signed(storage, ttl_secs, k) }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    #[test]
    fn changes_are_trimmed_and_move_the_current_image() {
        let mut chat = Chat::default();
        let now = Utc::now();
        let texts: Vec<String> = (0..14).map(|i| i.to_string()).collect();
        for pair in texts.chunks(2) {
            let change = ChatChange {
                messages: pair.iter().map(|t| ChatMessage::user(t, None, now)).collect(),
                current_image: None,
            };
            apply(&mut chat, &change, 10);
        }
        assert_eq!(chat.messages.len(), 10);
        let text = |m: &ChatMessage| match m {
            ChatMessage::User { text, .. } => text.clone(),
            _ => String::new(),
        };
        assert_eq!(text(&chat.messages[0]), "4", "the oldest four are gone");
        assert_eq!(text(&chat.messages[9]), "13");
        assert!(chat.current_image.is_none());
        let result = ChatMessage::edit_result(Uuid::new_v4(), "results/a.jpg", false, now);
        apply(&mut chat, &ChatChange { messages: vec![result], current_image: Some("results/a.jpg".into()) }, 10);
        assert_eq!(chat.current_image.as_deref(), Some("results/a.jpg"));
        assert_eq!(chat.messages.len(), 10);
    }
}
