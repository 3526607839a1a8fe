//! One chat turn, run in a task the user's session spawned (`chat.rs`): check there is a photo
//! to edit (nothing is charged otherwise), reserve the credit, ask the assistant (Claude Haiku
//! through OpenRouter: retries with backoff and jitter, one repair of a reply that breaks the
//! schema, every call recorded), store the exchange through the session, then commit the credit
//! for an answer or release it for a refusal or a failure. The caller gets the outcome when it
//! is still waiting; the chat gets it either way.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use ractor::RpcReplyPort;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{ReserveCmd, SessionDeps, SessionError, TurnOutcome, TurnRequest};
use crate::actors::chat::ChatChange;
use crate::actors::registry::SessionHandle;
use crate::clients::openrouter::OpenRouterError;
use crate::db::assistant::{self as assistant_db, AssistantCall};
use crate::db::generations as gen_db;
use crate::domain::assistant::{Answer, backoff, jitter, model_messages, parse_answer, reply_schema};
use crate::domain::chat::{AssistantMessage, ChatMessage, Variant};
use crate::domain::errors::ErrorCode;
use crate::domain::ids::UserId;

pub(super) async fn run(
    deps: Arc<SessionDeps>,
    user: UserId,
    request: TurnRequest,
    reply: RpcReplyPort<Result<TurnOutcome, SessionError>>,
) {
    let session = deps.sessions.session(user);
    let outcome = turn(&deps, &session, request).await;
    if let Err(e) = &outcome {
        tracing::debug!(user.id = %user, error = %e, "a chat turn ended without an answer");
    }
    // The caller may have gone away: the chat has the answer anyway.
    let _ = reply.send(outcome);
}

async fn turn(deps: &SessionDeps, session: &SessionHandle, request: TurnRequest) -> Result<TurnOutcome, SessionError> {
    let services = &deps.services;
    let settings = &services.settings.file;
    let user = session.user();
    let new_image = match request.upload_id {
        Some(upload) => {
            let rows = gen_db::live_uploads(&services.pool, user, &[upload]).await?;
            Some(rows.into_iter().next().ok_or(ErrorCode::UploadNotFound)?.storage_key)
        }
        None => None,
    };
    let chat = session.chat().await?;
    // The assistant writes prompts for editing a photo: without one there is nothing to apply
    // its variants to, so nothing is charged.
    let key = new_image.clone().or_else(|| chat.current_image.clone()).ok_or(ErrorCode::NoImage)?;
    if !services.storage.exists(&key).await.map_err(|_| SessionError::Unavailable)? {
        return Err(ErrorCode::ImageGone.into());
    }
    let hold = session
        .reserve(ReserveCmd {
            cost: settings.credits.prices.chat_message,
            purpose: "chat_message".into(),
            key: format!("chat:{}", Uuid::new_v4()),
            generation_id: None,
        })
        .await?;

    let image_url = services.storage.signed_url(&key, settings.storage.provider_url_ttl_secs, Utc::now().timestamp());
    let system = services.chat_system_prompt.replace("{variants}", &settings.chat.variants.to_string());
    let recent = &chat.messages[chat.messages.len().saturating_sub(settings.chat.history_size.saturating_sub(1))..];
    let messages = model_messages(&system, recent, &request.text, Some(&image_url));
    let outcome = ask(deps, user, messages).await;

    let now = Utc::now();
    let user_message = ChatMessage::user(&request.text, new_image.clone(), now);
    let (message, charged, reason) = match outcome {
        Ok(Answer { reply, refused: false, variants }) => {
            let variants = variants
                .into_iter()
                .map(|v| Variant { id: Uuid::new_v4(), title: v.title, description: v.description, prompt: v.prompt })
                .collect();
            let message = AssistantMessage::Text {
                id: Uuid::new_v4(),
                text: reply,
                variants,
                credits_returned: false,
                created_at: now,
            };
            (ChatMessage::Assistant(message), true, "")
        }
        Ok(Answer { reply, .. }) => {
            let message =
                AssistantMessage::Refusal { id: Uuid::new_v4(), text: reply, credits_returned: true, created_at: now };
            (ChatMessage::Assistant(message), false, "assistant_refused")
        }
        Err(code) => (ChatMessage::error(code, code.message(request.lang), None, true, now), false, code.as_str()),
    };
    // Stored (and announced) first: a paid answer is never lost, and a failure to store it
    // costs the user nothing.
    let change = ChatChange { messages: vec![user_message.clone(), message.clone()], current_image: new_image };
    if let Err(e) = session.chat_apply(change).await {
        session.release(hold.id, "chat_store_failed").await?;
        return Err(e);
    }
    if charged {
        session.commit(hold.id).await?;
    } else {
        session.release(hold.id, reason).await?;
    }
    Ok(TurnOutcome { user_message, message, charged })
}

/// Asks the assistant: retries transient failures with backoff and jitter (after a 503, without
/// structured output, per the contract), repairs a reply that breaks the schema once. Every
/// call is recorded in `assistant_requests` with its tokens, cost and latency.
async fn ask(deps: &SessionDeps, user: UserId, messages: Vec<Value>) -> Result<Answer, ErrorCode> {
    let services = &deps.services;
    let chat = &services.settings.file.chat;
    let schema = reply_schema(chat.variants);
    let client = &services.openrouter;
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
        let mut record = AssistantCall {
            model: client.model().to_string(),
            latency_ms: started.elapsed().as_millis() as i64,
            ..AssistantCall::default()
        };
        let outcome: Option<Result<Answer, ErrorCode>> = match result {
            Ok(completion) => {
                let answer = parse_answer(&completion.content, chat.variants);
                record.outcome = if answer.is_some() { "ok" } else { "invalid" };
                record.openrouter_id = Some(completion.id.clone());
                record.provider = Some(completion.provider.clone()).filter(|p| !p.is_empty());
                record.prompt_tokens = completion.prompt_tokens;
                record.completion_tokens = completion.completion_tokens;
                record.cost_usd = completion.cost;
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
                    Some(answer) => Some(Ok(answer)),
                    None if repaired => Some(Err(ErrorCode::AssistantBadReply)),
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
                record.error = Some(e.to_string());
                record.outcome = match &e {
                    OpenRouterError::Moderated(_) => "moderated",
                    OpenRouterError::Refused(..) => "refused",
                    _ => "transient",
                };
                let wait = backoff(chat.backoff_base_ms, attempt, e.retry_after());
                match e {
                    OpenRouterError::Moderated(reason) => {
                        tracing::info!(reason = %reason, "the assistant's provider flagged the request");
                        Some(Err(ErrorCode::AssistantModerated))
                    }
                    e if e.is_retryable() && attempt < chat.max_attempts && Instant::now() + wait < deadline => {
                        metrics::counter!("primerka_assistant_requests_total", "outcome" => "retry").increment(1);
                        if matches!(e, OpenRouterError::Unroutable(_)) {
                            structured = false;
                        }
                        tracing::warn!(error = %e, attempt, "the assistant failed; retrying");
                        let pause = wait + jitter(wait, rand::random());
                        tokio::time::sleep(pause.min(deadline.saturating_duration_since(Instant::now()))).await;
                        None
                    }
                    OpenRouterError::Refused(code @ (401 | 402 | 404), message) => {
                        tracing::error!(code, message = %message, "the assistant cannot be used: check the OpenRouter key, credits and model");
                        Some(Err(ErrorCode::AssistantUnavailable))
                    }
                    e => {
                        tracing::warn!(error = %e, "the assistant is unavailable");
                        Some(Err(ErrorCode::AssistantUnavailable))
                    }
                }
            }
        };
        if let Err(e) = assistant_db::record(&services.pool, user, &record).await {
            tracing::warn!(error = %e, "could not record an assistant call");
        }
        match outcome {
            Some(Ok(answer)) => {
                metrics::counter!("primerka_assistant_requests_total", "outcome" => "ok").increment(1);
                return Ok(answer);
            }
            Some(Err(code)) => {
                metrics::counter!("primerka_assistant_requests_total", "outcome" => "failed").increment(1);
                return Err(code);
            }
            None => {}
        }
    }
}
