//! The editor chat's messages (DESIGN §1): what is stored in `chat_history.messages` (JSONB) and,
//! with storage keys swapped for signed links, what the API and the `chat.message` event show.
//!
//! The wire form is the one the product has always stored: `role` (`user` | `assistant`) and
//! `kind` (`text`, `image`, `refusal`, `error`), an `id` and `created_at`; rows written before
//! this type existed read back unchanged (unknown fields are ignored).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::errors::ErrorCode;

/// One message of the chat.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
#[serde(tag = "role", rename_all = "snake_case")]
#[ts(export_to = "ChatMessage.ts")]
pub enum ChatMessage {
    /// What the user wrote, with the photo they attached (`kind: image`).
    User {
        id: Uuid,
        kind: UserKind,
        text: String,
        /// Storage key (stored form only; never sent to clients).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        image_key: Option<String>,
        /// Signed link (client form only).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        image_url: Option<String>,
        created_at: DateTime<Utc>,
    },
    Assistant(AssistantMessage),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
#[ts(export_to = "ChatMessage.ts")]
pub enum UserKind {
    Text,
    Image,
}

/// The assistant's side: an answer with variants, a refusal, a finished edit, or a failure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[ts(export_to = "ChatMessage.ts")]
pub enum AssistantMessage {
    /// An answer with prompt variants the user may apply (charged).
    Text {
        id: Uuid,
        text: String,
        variants: Vec<Variant>,
        #[serde(default)]
        credits_returned: bool,
        created_at: DateTime<Utc>,
    },
    /// The assistant declined (not charged).
    Refusal {
        id: Uuid,
        text: String,
        #[serde(default = "yes")]
        credits_returned: bool,
        created_at: DateTime<Utc>,
    },
    /// A finished edit: its result is the chat's current image.
    Image {
        id: Uuid,
        generation_id: Uuid,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        image_key: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        image_url: Option<String>,
        #[serde(default)]
        watermarked: bool,
        created_at: DateTime<Utc>,
    },
    /// The assistant or an edit failed; `credits_returned` says whether the credits came back.
    Error {
        id: Uuid,
        code: ErrorCode,
        text: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        generation_id: Option<Uuid>,
        credits_returned: bool,
        created_at: DateTime<Utc>,
    },
}

fn yes() -> bool {
    true
}

/// A prompt the assistant proposes: a title and a description in the user's language, and the
/// prompt itself in English for the image model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[ts(export_to = "ChatMessage.ts")]
pub struct Variant {
    pub id: Uuid,
    pub title: String,
    #[serde(default)]
    pub description: String,
    pub prompt: String,
}

impl ChatMessage {
    pub fn id(&self) -> Uuid {
        match self {
            ChatMessage::User { id, .. } => *id,
            ChatMessage::Assistant(a) => match a {
                AssistantMessage::Text { id, .. }
                | AssistantMessage::Refusal { id, .. }
                | AssistantMessage::Image { id, .. }
                | AssistantMessage::Error { id, .. } => *id,
            },
        }
    }

    /// The stored image key of a user photo or an edit result.
    pub fn image_key(&self) -> Option<&str> {
        match self {
            ChatMessage::User { image_key, .. } | ChatMessage::Assistant(AssistantMessage::Image { image_key, .. }) => {
                image_key.as_deref()
            }
            _ => None,
        }
    }

    /// The variants offered by this message (an assistant answer), if any.
    pub fn variants(&self) -> &[Variant] {
        match self {
            ChatMessage::Assistant(AssistantMessage::Text { variants, .. }) => variants,
            _ => &[],
        }
    }

    /// The client form: the storage key replaced by `link(key)`.
    pub fn with_link(&self, link: impl Fn(&str) -> String) -> ChatMessage {
        let mut view = self.clone();
        match &mut view {
            ChatMessage::User { image_key, image_url, .. }
            | ChatMessage::Assistant(AssistantMessage::Image { image_key, image_url, .. }) => {
                *image_url = image_key.take().map(|k| link(&k));
            }
            _ => {}
        }
        view
    }

    pub fn user(text: &str, image_key: Option<String>, now: DateTime<Utc>) -> ChatMessage {
        ChatMessage::User {
            id: Uuid::new_v4(),
            kind: if image_key.is_some() { UserKind::Image } else { UserKind::Text },
            text: text.to_string(),
            image_key,
            image_url: None,
            created_at: now,
        }
    }

    /// A finished edit: its result becomes the chat's current image.
    pub fn edit_result(generation_id: Uuid, key: &str, watermarked: bool, now: DateTime<Utc>) -> ChatMessage {
        ChatMessage::Assistant(AssistantMessage::Image {
            id: Uuid::new_v4(),
            generation_id,
            image_key: Some(key.to_string()),
            image_url: None,
            watermarked,
            created_at: now,
        })
    }

    pub fn error(
        code: ErrorCode,
        text: &str,
        generation_id: Option<Uuid>,
        credits_returned: bool,
        now: DateTime<Utc>,
    ) -> ChatMessage {
        ChatMessage::Assistant(AssistantMessage::Error {
            id: Uuid::new_v4(),
            code,
            text: text.to_string(),
            generation_id,
            credits_returned,
            created_at: now,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rows_stored_before_the_type_read_back() {
        let stored = json!([
            {"id": Uuid::new_v4(), "role": "user", "kind": "image", "text": "фон — пляж", "image_key": "uploads/a.jpg", "created_at": Utc::now()},
            {"id": Uuid::new_v4(), "role": "assistant", "kind": "text", "text": "Вот варианты", "variants": [{"id": Uuid::new_v4(), "title": "Пляж", "prompt": "beach"}], "credits_returned": false, "created_at": Utc::now()},
            {"id": Uuid::new_v4(), "role": "assistant", "kind": "refusal", "text": "Нельзя", "variants": [], "credits_returned": true, "created_at": Utc::now()},
            {"id": Uuid::new_v4(), "role": "assistant", "kind": "error", "code": "assistant_unavailable", "text": "…", "variants": [], "credits_returned": true, "created_at": Utc::now()},
            {"id": Uuid::new_v4(), "role": "assistant", "kind": "image", "text": "", "image_key": "results/b.jpg", "generation_id": Uuid::new_v4(), "watermarked": true, "created_at": Utc::now()},
        ]);
        let messages: Vec<ChatMessage> = serde_json::from_value(stored).expect("old rows parse");
        assert_eq!(messages[0].image_key(), Some("uploads/a.jpg"));
        assert_eq!(messages[1].variants().len(), 1);
        assert_eq!(messages[1].variants()[0].description, "");
        assert_eq!(messages[4].image_key(), Some("results/b.jpg"));
        let back = serde_json::to_value(&messages[0]).unwrap();
        assert_eq!(back["role"], "user");
        assert_eq!(back["kind"], "image");
    }

    #[test]
    fn the_client_form_carries_a_link_and_never_the_key() {
        let message = ChatMessage::edit_result(Uuid::new_v4(), "results/x.jpg", false, Utc::now());
        let view = serde_json::to_value(message.with_link(|k| format!("/media/{k}?sig=1"))).unwrap();
        assert_eq!(view["kind"], "image");
        assert_eq!(view["role"], "assistant");
        assert_eq!(view["image_url"], "/media/results/x.jpg?sig=1");
        assert!(view.get("image_key").is_none());
    }
}
