//! The editor chat (DESIGN §1, §5; docs/API.md):
//!
//! - `POST /api/chat/messages {text, upload_id?}`: one user's messages are handled one at a
//!   time, in arrival order (the SessionActor's FIFO chat turn; at most `chat.max_pending`
//!   running or waiting, more get `429 chat_busy`). 1 credit is reserved, the assistant (Claude
//!   Haiku via OpenRouter) is asked with the system prompt and the last messages, its JSON is
//!   validated against the schema (one repair attempt); a valid answer commits the credit, a
//!   refusal or a failure releases it and the chat gets an explanation in the user's language.
//! - `POST /api/chat/variants/{id}/generate {prompt?}`: 1 credit, an edit of the chat's current
//!   image through the generation pipeline; the result becomes the current image (chained edits).
//! - `GET /api/chat`, `DELETE /api/chat`.
//!
//! The chat itself (last messages, current image) is owned by the user's SessionActor
//! (`actors/chat.rs`): it is stored before any `chat.message` frame is sent.

use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::auth::AuthUser;
use super::generations::{NewJob, start_generation};
use super::{ApiError, ApiJson, AppState};
use crate::actors::chat::{ChatChange, chat_view, message_view};
use crate::actors::registry::SessionHandle;
use crate::actors::session::ReserveCmd;
use crate::clients::openrouter::OpenRouterError;
use crate::db::assistant::{self as assistant_db, AssistantCall};
use crate::db::chat as chat_db;
use crate::db::generations as gen_db;
use crate::domain::i18n::Lang;
use crate::domain::ids::UserId;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/chat", get(get_chat).delete(delete_chat))
        .route("/api/chat/messages", post(post_message))
        .route("/api/chat/variants/{id}/generate", post(generate_variant))
}

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
                    "properties": {"title": {"type": "string"}, "prompt": {"type": "string"}},
                    "required": ["title", "prompt"],
                    "additionalProperties": false,
                },
            },
        },
        "required": ["reply", "refused", "variants"],
        "additionalProperties": false,
    })
}

/// A validated assistant answer.
#[derive(Debug, PartialEq)]
pub struct Answer {
    pub reply: String,
    pub refused: bool,
    pub variants: Vec<(String, String)>,
}

/// Strict validation: exactly the schema's shape, non-empty texts, sane lengths.
pub fn parse_answer(content: &str, variants: usize) -> Option<Answer> {
    let value: Value = serde_json::from_str(content.trim()).ok()?;
    let object = value.as_object()?;
    if object.keys().any(|k| !matches!(k.as_str(), "reply" | "refused" | "variants")) {
        return None;
    }
    let reply = object.get("reply")?.as_str()?.trim().to_string();
    let refused = object.get("refused")?.as_bool()?;
    let list = object.get("variants")?.as_array()?;
    if reply.is_empty() || reply.chars().count() > 1000 {
        return None;
    }
    let mut out = Vec::new();
    for item in list {
        let item = item.as_object()?;
        if item.len() != 2 {
            return None;
        }
        let title = item.get("title")?.as_str()?.trim().to_string();
        let prompt = item.get("prompt")?.as_str()?.trim().to_string();
        if title.is_empty() || prompt.is_empty() || title.chars().count() > 80 || prompt.chars().count() > 2000 {
            return None;
        }
        out.push((title, prompt));
    }
    if refused != out.is_empty() || (!refused && out.len() != variants) {
        return None;
    }
    Some(Answer { reply, refused, variants: out })
}

async fn get_chat(State(state): State<AppState>, user: AuthUser) -> Result<Json<Value>, ApiError> {
    let chat = state.actors.sessions.session(user.id).chat().await?;
    Ok(Json(chat_view(&state.services, &chat)))
}

/// Start over. Waits for a running turn so its answer cannot land in the new chat.
async fn delete_chat(State(state): State<AppState>, user: AuthUser) -> Result<StatusCode, ApiError> {
    let session = state.actors.sessions.session(user.id);
    let _turn = session.chat_turn().await?;
    session.chat_clear().await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PostMessage {
    text: String,
    upload_id: Option<Uuid>,
}

fn user_message(text: &str, image_key: Option<&str>) -> Value {
    json!({
        "id": Uuid::new_v4(),
        "role": "user",
        "kind": if image_key.is_some() { "image" } else { "text" },
        "text": text,
        "image_key": image_key,
        "created_at": Utc::now(),
    })
}

/// The message list the model sees: the system prompt, then the recent messages with
/// consecutive same-role messages merged (the API wants turns to alternate).
fn model_messages(system: &str, history: &[Value], new_text: &str, image_url: Option<&str>) -> Vec<Value> {
    let mut out = vec![json!({"role": "system", "content": system})];
    let mut turns: Vec<(String, String)> = Vec::new();
    for m in history {
        let role = if m["role"] == "user" { "user" } else { "assistant" };
        let mut text = m["text"].as_str().unwrap_or("").to_string();
        if let Some(variants) = m.get("variants").and_then(Value::as_array) {
            for v in variants {
                text.push_str(&format!(
                    "\n- {}: {}",
                    v["title"].as_str().unwrap_or(""),
                    v["prompt"].as_str().unwrap_or("")
                ));
            }
        }
        if m["kind"] == "image" && role == "assistant" {
            text = "[the edited image is now the current image]".to_string();
        }
        match turns.last_mut() {
            Some((last_role, last_text)) if last_role == role => {
                last_text.push('\n');
                last_text.push_str(&text);
            }
            _ => turns.push((role.to_string(), text)),
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

enum Outcome {
    Answer(Answer),
    Failed(&'static str),
}

/// Asks the assistant: retries transient failures with backoff and jitter (after a 503, without
/// structured output, per the contract), repairs a reply that breaks the schema once. Every
/// call is recorded in `assistant_requests` with its tokens, cost and latency.
async fn ask(state: &AppState, user: UserId, messages: Vec<Value>) -> Outcome {
    let chat = &state.settings.file.chat;
    let schema = reply_schema(chat.variants);
    let client = &state.services.openrouter;
    let mut messages = messages;
    let mut repaired = false;
    let mut structured = true;
    let mut max_tokens = chat.max_tokens;
    let mut attempt = 0u32;
    let deadline = Instant::now() + Duration::from_secs(chat.answer_deadline_secs);
    loop {
        attempt += 1;
        let started = Instant::now();
        let remaining = deadline.saturating_duration_since(started);
        let call = client.complete(&messages, "edit_variants", &schema, max_tokens, structured);
        let result = match tokio::time::timeout(remaining, call).await {
            Ok(result) => result,
            Err(_) => Err(OpenRouterError::Transient("the answer deadline passed".into(), None)),
        };
        let mut call = AssistantCall {
            model: client.model().to_string(),
            latency_ms: started.elapsed().as_millis() as i64,
            ..AssistantCall::default()
        };
        let outcome = match result {
            Ok(completion) => {
                let answer = parse_answer(&completion.content, chat.variants);
                call.outcome = if answer.is_some() { "ok" } else { "invalid" };
                call.openrouter_id = Some(completion.id.clone());
                call.provider = Some(completion.provider.clone()).filter(|p| !p.is_empty());
                call.prompt_tokens = completion.prompt_tokens;
                call.completion_tokens = completion.completion_tokens;
                call.cost_usd = completion.cost;
                metrics::counter!("primerka_assistant_tokens_total", "kind" => "prompt")
                    .increment(completion.prompt_tokens.max(0) as u64);
                metrics::counter!("primerka_assistant_tokens_total", "kind" => "completion")
                    .increment(completion.completion_tokens.max(0) as u64);
                metrics::counter!("primerka_assistant_cost_microusd_total")
                    .increment((completion.cost.max(0.0) * 1e6).round() as u64);
                tracing::info!(
                    openrouter.id = %completion.id,
                    tokens.prompt = completion.prompt_tokens,
                    tokens.completion = completion.completion_tokens,
                    cost_usd = completion.cost,
                    valid = answer.is_some(),
                    "assistant answered"
                );
                match answer {
                    Some(answer) => Some(Outcome::Answer(answer)),
                    None if repaired => Some(Outcome::Failed("assistant_bad_reply")),
                    None => {
                        repaired = true;
                        if completion.finish_reason == "length" {
                            // Cut off mid-JSON: give the repair room to finish.
                            max_tokens = max_tokens.saturating_mul(2);
                        }
                        tracing::warn!(finish_reason = %completion.finish_reason, "the assistant's reply broke the schema; asking once more");
                        messages.push(json!({"role": "assistant", "content": completion.content}));
                        messages.push(json!({"role": "user", "content": "Your previous reply did not match the required JSON schema. Reply again with only JSON that matches it exactly."}));
                        None
                    }
                }
            }
            Err(e) => {
                call.error = Some(e.to_string());
                call.outcome = match &e {
                    OpenRouterError::Moderated(_) => "moderated",
                    OpenRouterError::Refused(..) => "refused",
                    _ => "transient",
                };
                match e {
                    OpenRouterError::Moderated(reason) => {
                        tracing::info!(reason = %reason, "the assistant's provider flagged the request");
                        Some(Outcome::Failed("assistant_moderated"))
                    }
                    e if e.is_retryable()
                        && attempt < chat.max_attempts
                        && Instant::now() + backoff(chat.backoff_base_ms, attempt, e.retry_after()) < deadline =>
                    {
                        metrics::counter!("primerka_assistant_requests_total", "outcome" => "retry").increment(1);
                        if matches!(e, OpenRouterError::Unroutable(_)) {
                            structured = false;
                        }
                        let wait = backoff(chat.backoff_base_ms, attempt, e.retry_after());
                        let jitter = Duration::from_millis(rand::random::<u64>() % (wait.as_millis() as u64 / 2 + 1));
                        tracing::warn!(error = %e, attempt, "the assistant failed; retrying");
                        tokio::time::sleep((wait + jitter).min(deadline.saturating_duration_since(Instant::now())))
                            .await;
                        None
                    }
                    OpenRouterError::Refused(code @ (401 | 402 | 404), message) => {
                        tracing::error!(code, message = %message, "the assistant cannot be used: check the OpenRouter key, credits and model");
                        Some(Outcome::Failed("assistant_unavailable"))
                    }
                    e => {
                        tracing::warn!(error = %e, "the assistant is unavailable");
                        Some(Outcome::Failed("assistant_unavailable"))
                    }
                }
            }
        };
        if let Err(e) = assistant_db::record(&state.pool, user, &call).await {
            tracing::warn!(error = %e, "could not record an assistant call");
        }
        match outcome {
            Some(Outcome::Answer(answer)) => {
                metrics::counter!("primerka_assistant_requests_total", "outcome" => "ok").increment(1);
                return Outcome::Answer(answer);
            }
            Some(Outcome::Failed(code)) => {
                metrics::counter!("primerka_assistant_requests_total", "outcome" => "failed").increment(1);
                return Outcome::Failed(code);
            }
            None => {}
        }
    }
}

/// The wait before attempt `attempt + 1`: exponential from `base_ms`, or longer if the provider
/// asked (`Retry-After`); jitter is added by the caller.
fn backoff(base_ms: u64, attempt: u32, retry_after: Option<Duration>) -> Duration {
    let base = Duration::from_millis(base_ms) * 2u32.saturating_pow(attempt.saturating_sub(1));
    retry_after.unwrap_or(base).max(base)
}

fn failure_text(code: &str, lang: Lang) -> &'static str {
    match code {
        "assistant_moderated" => lang.pick(
            "Этот запрос отклонён правилами безопасности. Кредит не списан — попробуйте сформулировать иначе.",
            "This request was rejected by the safety rules. No credit was charged — try wording it differently.",
        ),
        "assistant_bad_reply" => lang.pick(
            "Ассистент ответил некорректно. Кредит не списан — попробуйте ещё раз.",
            "The assistant gave an invalid answer. No credit was charged — please try again.",
        ),
        _ => lang.pick(
            "Ассистент сейчас недоступен. Кредит не списан — попробуйте через минуту.",
            "The assistant is unavailable right now. No credit was charged — try again in a minute.",
        ),
    }
}

async fn post_message(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(body): ApiJson<PostMessage>,
) -> Result<Json<Value>, ApiError> {
    let settings = &state.settings.file.chat;
    let text = body.text.trim().to_string();
    if text.is_empty() || text.chars().count() > settings.max_text_chars {
        return Err(ApiError::validation("text"));
    }
    let mut new_image = None;
    if let Some(upload) = body.upload_id {
        let rows = gen_db::live_uploads(&state.pool, user.id, &[upload]).await?;
        let row = rows.first().ok_or(ApiError::new(StatusCode::NOT_FOUND, "upload_not_found"))?;
        new_image = Some(row.storage_key.clone());
    }
    let lang = Lang::from_code(&crate::db::users::user_language(&state.pool, user.id).await?);
    let session = state.actors.sessions.session(user.id);
    let turn = session.chat_turn().await?;
    // Once credits are reserved the turn runs to the end even if the client goes away, so the
    // hold is always settled and the answer always lands in the chat.
    tokio::spawn(async move {
        let _turn = turn;
        run_turn(&state, &session, text, new_image, lang).await
    })
    .await
    .map_err(ApiError::internal)?
}

/// One chat turn, holding the user's chat turn: reserve, ask, store, then settle.
async fn run_turn(
    state: &AppState,
    session: &SessionHandle,
    text: String,
    new_image: Option<String>,
    lang: Lang,
) -> Result<Json<Value>, ApiError> {
    let settings = &state.settings.file.chat;
    let chat = session.chat().await?;
    let hold = session
        .reserve(ReserveCmd {
            cost: state.settings.file.credits.prices.chat_message,
            purpose: "chat_message".into(),
            key: format!("chat:{}", Uuid::new_v4()),
            generation_id: None,
        })
        .await?;

    let mut current_key =
        new_image.clone().or_else(|| chat.current_image.as_ref().and_then(|c| c["key"].as_str()).map(str::to_string));
    // An image that is gone (expired upload, deleted result) is not sent: the model could not
    // fetch it and the whole request would fail.
    if let Some(key) = &current_key
        && !state.services.storage.exists(key).await.unwrap_or(false)
    {
        current_key = None;
    }
    let image_url = current_key.as_deref().map(|k| {
        state.services.storage.signed_url(k, state.settings.file.storage.provider_url_ttl_secs, Utc::now().timestamp())
    });
    let system = state.services.chat_system_prompt.replace("{variants}", &settings.variants.to_string());
    let recent = &chat.messages[chat.messages.len().saturating_sub(settings.history_size.saturating_sub(1))..];
    let messages = model_messages(&system, recent, &text, image_url.as_deref());
    let outcome = ask(state, session.user(), messages).await;

    let user_msg = user_message(&text, new_image.as_deref());
    let (assistant, charged, reason) = match outcome {
        Outcome::Answer(answer) => {
            let variants: Vec<Value> = answer
                .variants
                .iter()
                .map(|(title, prompt)| json!({"id": Uuid::new_v4(), "title": title, "prompt": prompt}))
                .collect();
            let message = json!({
                "id": Uuid::new_v4(),
                "role": "assistant",
                "kind": if answer.refused { "refusal" } else { "text" },
                "text": answer.reply,
                "variants": variants,
                "credits_returned": answer.refused,
                "created_at": Utc::now(),
            });
            (message, !answer.refused, "refused")
        }
        Outcome::Failed(code) => {
            let message = json!({
                "id": Uuid::new_v4(),
                "role": "assistant",
                "kind": "error",
                "code": code,
                "text": failure_text(code, lang),
                "variants": [],
                "credits_returned": true,
                "created_at": Utc::now(),
            });
            (message, false, code)
        }
    };
    // Stored (and announced) first: a paid answer is never lost, and a failure to store it
    // costs the user nothing.
    let stored = session
        .chat_apply(ChatChange { messages: vec![user_msg.clone(), assistant.clone()], current_image: new_image })
        .await;
    if let Err(e) = stored {
        session.release(hold.id, "chat_store_failed").await?;
        return Err(ApiError::from(e).with_message(lang.pick(
            "Не удалось сохранить ответ ассистента. Кредит не списан — попробуйте ещё раз.",
            "Could not save the assistant's answer. No credit was charged — please try again.",
        )));
    }
    if charged {
        session.commit(hold.id).await?;
    } else {
        session.release(hold.id, reason).await?;
    }
    Ok(Json(json!({
        "message": message_view(&state.services, &assistant),
        "user_message": message_view(&state.services, &user_msg),
        "variants": assistant["variants"],
        "charged": charged,
    })))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct GenerateVariant {
    prompt: Option<String>,
}

async fn generate_variant(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
    raw: axum::body::Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    // The body is optional: empty means "the variant's own prompt".
    let body: GenerateVariant = if raw.iter().all(u8::is_ascii_whitespace) {
        GenerateVariant::default()
    } else {
        serde_json::from_slice(&raw).map_err(|e| ApiError::invalid_body(e.to_string()))?
    };
    let chat = state.actors.sessions.session(user.id).chat().await?;
    let id_text = id.to_string();
    let variant = chat
        .messages
        .iter()
        .filter_map(|m| m.get("variants").and_then(Value::as_array))
        .flatten()
        .find(|v| v["id"].as_str() == Some(id_text.as_str()))
        .ok_or(ApiError::not_found())?;
    let prompt = match body.prompt.map(|p| p.trim().to_string()) {
        Some(p) if p.is_empty() || p.chars().count() > state.settings.file.chat.max_prompt_chars => {
            return Err(ApiError::validation("prompt"));
        }
        Some(p) => p,
        None => variant["prompt"].as_str().unwrap_or_default().to_string(),
    };
    let Some(key) = chat.current_image.as_ref().and_then(|c| c["key"].as_str()).map(str::to_string) else {
        return Err(ApiError::new(StatusCode::CONFLICT, "no_image"));
    };
    // The photo may be gone (uploads expire, results can be deleted): say so before charging.
    if !state.services.storage.exists(&key).await.map_err(ApiError::internal)? {
        return Err(ApiError::new(StatusCode::CONFLICT, "image_gone"));
    }
    let keys = [key];
    // A double tap (or a retried request) gets the edit already running, not a second charge:
    // one user's edit starts are serialised; the unique index is the last line of defence.
    let _gate = state.actors.sessions.session(user.id).edit_gate().await?;
    let repeated = |row: (Uuid, String, i32, bool)| {
        let (id, status, cost, watermarked) = row;
        let body =
            json!({"generation_id": id, "status": status, "cost": cost, "watermarked": watermarked, "repeated": true});
        (StatusCode::ACCEPTED, Json(body))
    };
    if let Some(row) = chat_db::unfinished_edit(&state.pool, user.id, &prompt, &keys).await? {
        return Ok(repeated(row));
    }
    let user_id = user.id;
    let started = start_generation(
        &state,
        user,
        NewJob { kind: "edit", category: None, prompt: &prompt, upload_ids: &[], keys: &keys },
        state.settings.file.credits.prices.edit_generation,
    )
    .await;
    match started {
        Ok(accepted) => Ok((StatusCode::ACCEPTED, Json(serde_json::to_value(accepted).map_err(ApiError::internal)?))),
        // Lost the race to a concurrent identical request (the index refused the row, or the
        // per-user cap counted it): answer with the edit that won.
        Err(e) if matches!(e.status, StatusCode::CONFLICT | StatusCode::TOO_MANY_REQUESTS) => {
            match chat_db::unfinished_edit(&state.pool, user_id, &prompt, &keys).await? {
                Some(row) => Ok(repeated(row)),
                None => Err(e),
            }
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_schema_valid_answers_pass() {
        let ok = r#"{"reply":"Вот варианты","refused":false,"variants":[{"title":"A","prompt":"p1"},{"title":"B","prompt":"p2"}]}"#;
        assert_eq!(parse_answer(ok, 2).unwrap().variants.len(), 2);
        assert!(parse_answer(ok, 3).is_none(), "wrong count");
        assert!(parse_answer("Sure! make it red", 2).is_none());
        let extra =
            r#"{"reply":"x","refused":false,"variants":[{"title":"A","prompt":"p","x":1},{"title":"B","prompt":"p"}]}"#;
        assert!(parse_answer(extra, 2).is_none());
        let extra_top = r#"{"reply":"x","refused":false,"variants":[],"system":"leak"}"#;
        assert!(parse_answer(extra_top, 0).is_none());
        let refusal = r#"{"reply":"Нельзя","refused":true,"variants":[]}"#;
        assert!(parse_answer(refusal, 3).unwrap().refused);
        let inconsistent = r#"{"reply":"x","refused":true,"variants":[{"title":"A","prompt":"p"}]}"#;
        assert!(parse_answer(inconsistent, 1).is_none());
    }

    #[test]
    fn backoff_doubles_and_honours_retry_after() {
        assert_eq!(backoff(1000, 1, None), Duration::from_secs(1));
        assert_eq!(backoff(1000, 3, None), Duration::from_secs(4));
        assert_eq!(backoff(1000, 1, Some(Duration::from_secs(3))), Duration::from_secs(3));
        assert_eq!(backoff(1000, 2, Some(Duration::ZERO)), Duration::from_secs(2), "never below the base");
    }

    #[test]
    fn the_model_sees_alternating_turns() {
        let history = vec![
            json!({"role": "user", "text": "a", "kind": "text"}),
            json!({"role": "assistant", "text": "b", "kind": "text", "variants": [{"title": "T", "prompt": "P"}]}),
            json!({"role": "assistant", "text": "", "kind": "image"}),
        ];
        let messages = model_messages("sys", &history, "c", Some("http://img"));
        let roles: Vec<&str> = messages.iter().map(|m| m["role"].as_str().unwrap()).collect();
        assert_eq!(roles, ["system", "user", "assistant", "user"]);
        assert!(messages[2]["content"].as_str().unwrap().contains("- T: P"));
        assert_eq!(messages[3]["content"][1]["image_url"]["url"], "http://img");
    }
}
