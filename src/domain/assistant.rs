//! The editor assistant's contract, pure: the JSON schema its answers must match, the strict
//! check of an answer against it, the message list the model sees, and the retry backoff.
//! The calls themselves (OpenRouter, retries, recording) run in the session's chat task
//! (`actors::session::turn`).

use std::time::Duration;

use serde_json::{Value, json};

use super::chat::{AssistantMessage, ChatMessage, UserKind};

/// The JSON schema every assistant reply must match.
pub fn reply_schema(variants: usize) -> Value {
    json!({
        "type": "object",
        "properties": {
            "reply": {"type": "string"},
            "refused": {"type": "boolean"},
            "variants": {
                "type": "array",
                "minItems": variants,
                "maxItems": variants,
                "items": {
                    "type": "object",
                    "properties": {
                        "title": {"type": "string"},
                        "description": {"type": "string"},
                        "prompt": {"type": "string"},
                    },
                    "required": ["title", "description", "prompt"],
                    "additionalProperties": false,
                },
            },
        },
        "required": ["reply", "refused", "variants"],
        "additionalProperties": false,
    })
}

/// One proposed edit: title and description in the user's language, the prompt in English.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProposedVariant {
    pub title: String,
    pub description: String,
    pub prompt: String,
}

/// A validated assistant answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub reply: String,
    pub refused: bool,
    pub variants: Vec<ProposedVariant>,
}

/// Strict validation: exactly the schema's shape, non-empty texts, sane lengths. A variant
/// without `description` (a model that ignored the field) is accepted with an empty one, since
/// the rest of the answer is sound.
pub fn parse_answer(content: &str, variants: usize) -> Option<Answer> {
    let value: Value = serde_json::from_str(content.trim()).ok()?;
    let object = value.as_object()?;
    if object.keys().any(|k| !matches!(k.as_str(), "reply" | "refused" | "variants")) {
        return None;
    }
    let reply = super::text::clean(object.get("reply")?.as_str()?);
    let refused = object.get("refused")?.as_bool()?;
    let list = object.get("variants")?.as_array()?;
    if reply.is_empty() || reply.chars().count() > 1000 {
        return None;
    }
    let mut out = Vec::new();
    for item in list {
        let item = item.as_object()?;
        if item.keys().any(|k| !matches!(k.as_str(), "title" | "description" | "prompt")) {
            return None;
        }
        let title = super::text::clean(item.get("title")?.as_str()?);
        let prompt = super::text::clean(item.get("prompt")?.as_str()?);
        let description = match item.get("description") {
            Some(d) => super::text::clean(d.as_str()?),
            None => String::new(),
        };
        if title.is_empty()
            || prompt.is_empty()
            || title.chars().count() > 80
            || description.chars().count() > 300
            || prompt.chars().count() > 2000
        {
            return None;
        }
        out.push(ProposedVariant { title, description, prompt });
    }
    if refused != out.is_empty() || (!refused && out.len() != variants) {
        return None;
    }
    Some(Answer { reply, refused, variants: out })
}

/// The message list the model sees: the system prompt, then the recent messages with
/// consecutive same-role messages merged (the API wants turns to alternate), then the new
/// message with the current image.
pub fn model_messages(system: &str, history: &[ChatMessage], new_text: &str, image_url: Option<&str>) -> Vec<Value> {
    let mut out = vec![json!({"role": "system", "content": system})];
    let mut turns: Vec<(&str, String)> = Vec::new();
    for m in history {
        let (role, text) = match m {
            ChatMessage::User { text, kind, .. } => {
                let mut text = text.clone();
                if *kind == UserKind::Image {
                    text.push_str("\n[the user attached a new photo, which became the current image]");
                }
                ("user", text)
            }
            ChatMessage::Assistant(AssistantMessage::Text { text, variants, .. }) => {
                let mut text = text.clone();
                for v in variants {
                    text.push_str(&format!("\n- {}: {}", v.title, v.prompt));
                }
                ("assistant", text)
            }
            ChatMessage::Assistant(AssistantMessage::Refusal { text, .. } | AssistantMessage::Error { text, .. }) => {
                ("assistant", text.clone())
            }
            ChatMessage::Assistant(AssistantMessage::Image { .. }) => {
                ("assistant", "[the edited image is now the current image]".to_string())
            }
        };
        match turns.last_mut() {
            Some((last_role, last_text)) if *last_role == role => {
                last_text.push('\n');
                last_text.push_str(&text);
            }
            _ => turns.push((role, text)),
        }
    }
    out.extend(turns.into_iter().map(|(role, text)| json!({"role": role, "content": text})));
    let mut parts = vec![json!({"type": "text", "text": new_text})];
    if let Some(url) = image_url {
        parts.push(json!({"type": "image_url", "image_url": {"url": url}}));
    }
    out.push(json!({"role": "user", "content": parts}));
    out
}

/// The wait before attempt `attempt + 1`: exponential from `base_ms`, or longer if the provider
/// asked (`Retry-After`); the caller adds jitter.
pub fn backoff(base_ms: u64, attempt: u32, retry_after: Option<Duration>) -> Duration {
    let base = Duration::from_millis(base_ms) * 2u32.saturating_pow(attempt.saturating_sub(1));
    retry_after.unwrap_or(base).max(base)
}

/// Up to half of `wait` again, at random, so retries from many users do not align.
pub fn jitter(wait: Duration, random: u64) -> Duration {
    Duration::from_millis(random % (wait.as_millis() as u64 / 2 + 1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use uuid::Uuid;

    #[test]
    fn only_schema_valid_answers_pass() {
        let ok = r#"{"reply":"Вот варианты","refused":false,"variants":[{"title":"A","description":"а","prompt":"p1"},{"title":"B","description":"б","prompt":"p2"}]}"#;
        assert_eq!(parse_answer(ok, 2).unwrap().variants.len(), 2);
        assert_eq!(parse_answer(ok, 2).unwrap().variants[1].description, "б");
        assert!(parse_answer(ok, 3).is_none(), "wrong count");
        assert!(parse_answer("Sure! make it red", 2).is_none());
        let extra =
            r#"{"reply":"x","refused":false,"variants":[{"title":"A","prompt":"p","x":1},{"title":"B","prompt":"p"}]}"#;
        assert!(parse_answer(extra, 2).is_none());
        let no_description = r#"{"reply":"x","refused":false,"variants":[{"title":"A","prompt":"p"}]}"#;
        assert_eq!(parse_answer(no_description, 1).unwrap().variants[0].description, "");
        let extra_top = r#"{"reply":"x","refused":false,"variants":[],"system":"leak"}"#;
        assert!(parse_answer(extra_top, 0).is_none());
        let refusal = r#"{"reply":"Нельзя","refused":true,"variants":[]}"#;
        assert!(parse_answer(refusal, 3).unwrap().refused);
        let inconsistent = r#"{"reply":"x","refused":true,"variants":[{"title":"A","prompt":"p"}]}"#;
        assert!(parse_answer(inconsistent, 1).is_none());
        let nul = "{\"reply\":\"x\\u0000\",\"refused\":true,\"variants\":[]}";
        assert_eq!(parse_answer(nul, 3).unwrap().reply, "x", "control characters are cleaned");
    }

    #[test]
    fn backoff_doubles_and_honours_retry_after() {
        assert_eq!(backoff(1000, 1, None), Duration::from_secs(1));
        assert_eq!(backoff(1000, 3, None), Duration::from_secs(4));
        assert_eq!(backoff(1000, 1, Some(Duration::from_secs(3))), Duration::from_secs(3));
        assert_eq!(backoff(1000, 2, Some(Duration::ZERO)), Duration::from_secs(2), "never below the base");
        assert!(jitter(Duration::from_secs(2), u64::MAX) <= Duration::from_secs(1));
    }

    #[test]
    fn the_model_sees_alternating_turns() {
        let now = Utc::now();
        let history = vec![
            ChatMessage::user("a", None, now),
            ChatMessage::Assistant(AssistantMessage::Text {
                id: Uuid::new_v4(),
                text: "b".into(),
                variants: vec![crate::domain::chat::Variant {
                    id: Uuid::new_v4(),
                    title: "T".into(),
                    description: "D".into(),
                    prompt: "P".into(),
                }],
                credits_returned: false,
                created_at: now,
            }),
            ChatMessage::edit_result(Uuid::new_v4(), "results/x.jpg", false, now),
        ];
        let messages = model_messages("sys", &history, "c", Some("http://img"));
        let roles: Vec<&str> = messages.iter().map(|m| m["role"].as_str().unwrap()).collect();
        assert_eq!(roles, ["system", "user", "assistant", "user"]);
        assert!(messages[2]["content"].as_str().unwrap().contains("- T: P"));
        assert_eq!(messages[3]["content"][1]["image_url"]["url"], "http://img");
    }
}
