//! Simulated OpenRouter, under `/sim/openrouter`:
//!
//! - `POST /api/v1/chat/completions`: checks the bearer key, honours the requested JSON schema
//!   (`reply`, `refused`, `variants[{title, description, prompt}]`) with deterministic variants built from the
//!   last user message, in its language (Cyrillic → Russian); refuses sexualised requests;
//!   usage and cost like the real answer.
//! - Control: `GET /_control/requests` (bodies received, oldest first; `DELETE` clears);
//!   `POST /_control/faults {"status"?: 429|500|502|402|403, "count"?: n, "malformed"?: n,
//!   "error_in_body"?: n, "truncated"?: n, "unroutable"?: n, "delay_ms"?: n}`. `truncated`
//!   answers `finish_reason: "length"` with cut-off JSON; `unroutable` answers 503 (no provider
//!   meets the routing requirements) to requests that set `provider.require_parameters`, as the
//!   real router does, and lets requests without it through; `delay_ms` (sticky, 0 resets) beyond
//!   the client's timeout simulates a timeout.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::SimState;

#[derive(Default)]
struct Faults {
    status: u16,
    count: u32,
    malformed: u32,
    error_in_body: u32,
    truncated: u32,
    unroutable: u32,
    delay_ms: u64,
}

#[derive(Default)]
pub struct OpenRouterSim {
    requests: Mutex<Vec<Value>>,
    faults: Mutex<Faults>,
}

pub fn router(state: SimState) -> Router {
    Router::new()
        .route("/api/v1/chat/completions", post(complete))
        .route("/_control/requests", get(requests).delete(clear))
        .route("/_control/faults", post(faults))
        .with_state(state)
}

fn error(status: u16, message: &str) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (code, Json(json!({"error": {"code": status, "message": message}}))).into_response();
    if status == 429 {
        response.headers_mut().insert("retry-after", header::HeaderValue::from_static("0"));
    }
    response
}

/// The text of the last user message (string content or the text parts).
fn last_user_text(body: &Value) -> String {
    let Some(messages) = body.get("messages").and_then(Value::as_array) else { return String::new() };
    let Some(last) = messages.iter().rev().find(|m| m["role"] == "user") else { return String::new() };
    match &last["content"] {
        Value::String(s) => s.clone(),
        Value::Array(parts) => {
            parts.iter().filter_map(|p| p.get("text").and_then(Value::as_str)).collect::<Vec<_>>().join(" ")
        }
        _ => String::new(),
    }
}

/// Deterministic answer in the user's language: N variants from the wish.
pub fn answer(text: &str, n: usize) -> Value {
    let russian = text.chars().any(|c| matches!(c, 'а'..='я' | 'А'..='Я' | 'ё' | 'Ё'));
    let wish: String = text.trim().chars().take(200).collect();
    let lower = wish.to_lowercase();
    if ["nude", "naked", "обнаж", "раздень", "голой", "голым"].iter().any(|w| lower.contains(w)) {
        let reply = if russian {
            "Извините, я не делаю откровенные изображения реальных людей. Попробуйте другое изменение."
        } else {
            "Sorry, I don't make sexualised images of real people. Try another edit."
        };
        return json!({"reply": reply, "refused": true, "variants": []});
    }
    let styles: [(&str, &str, &str, &str, &str); 4] = [
        (
            "Как есть",
            "As asked",
            "faithfully and naturally, photorealistic",
            "Точно по вашему описанию, естественно и реалистично.",
            "Exactly as you described, natural and realistic.",
        ),
        (
            "Ярче и смелее",
            "Bolder",
            "with bolder, more saturated colours and crisp contrast",
            "То же, но с насыщенными цветами и чётким контрастом.",
            "The same with richer colours and crisp contrast.",
        ),
        (
            "Мягкий свет",
            "Soft light",
            "with soft, warm studio lighting and a gentle film look",
            "Тёплый студийный свет и мягкая плёночная атмосфера.",
            "Warm studio light and a gentle film look.",
        ),
        (
            "Вечерний образ",
            "Evening look",
            "with a cinematic evening mood and subtle highlights",
            "Кинематографичное вечернее настроение с бликами.",
            "A cinematic evening mood with subtle highlights.",
        ),
    ];
    let variants: Vec<Value> = styles
        .iter()
        .cycle()
        .take(n.max(1))
        .map(|(ru, en, style, about_ru, about_en)| {
            json!({
                "title": if russian { *ru } else { *en },
                "description": if russian { *about_ru } else { *about_en },
                "prompt": format!(
                    "Edit the provided photo: {wish}. Apply the change {style}. Keep the person's face, identity, pose and body shape unchanged; keep the background unless asked."
                ),
            })
        })
        .collect();
    let reply = if russian {
        format!("Вот {} варианта — выберите, какой сделать.", variants.len())
    } else {
        format!("Here are {} options — pick one to apply.", variants.len())
    };
    json!({"reply": reply, "refused": false, "variants": variants})
}

async fn complete(State(state): State<SimState>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    let authorised = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|k| !k.trim().is_empty());
    if !authorised {
        return error(401, "No auth credentials found");
    }
    let sim = state.openrouter();
    sim.requests.lock().unwrap_or_else(PoisonError::into_inner).push(body.clone());
    let strict_routing = body.pointer("/provider/require_parameters") == Some(&Value::Bool(true));
    let (status, malformed, body_error, truncated, delay) = {
        let mut f = sim.faults.lock().unwrap_or_else(PoisonError::into_inner);
        let unroutable = strict_routing && f.unroutable > 0;
        if unroutable {
            f.unroutable -= 1;
        }
        let status = if unroutable {
            503
        } else if f.count > 0 {
            f.count -= 1;
            f.status
        } else {
            0
        };
        let malformed = f.malformed > 0;
        if malformed {
            f.malformed -= 1;
        }
        let body_error = f.error_in_body > 0;
        if body_error {
            f.error_in_body -= 1;
        }
        let truncated = f.truncated > 0;
        if truncated {
            f.truncated -= 1;
        }
        (status, malformed, body_error, truncated, f.delay_ms)
    };
    let latency = Duration::from_secs_f64(1.2 * state.latency_scale()) + Duration::from_millis(delay);
    tokio::time::sleep(latency).await;
    if status != 0 {
        return error(status, "Provider returned error");
    }
    if body_error {
        return Json(json!({"error": {"code": 502, "message": "Upstream error mid-generation"}})).into_response();
    }
    let n = body
        .pointer("/response_format/json_schema/schema/properties/variants/minItems")
        .and_then(Value::as_u64)
        .unwrap_or(3) as usize;
    let content = if malformed {
        "Sure! Here are some ideas: make it red.".to_string()
    } else {
        let full = answer(&last_user_text(&body), n).to_string();
        if truncated { full.chars().take(full.chars().count() / 2).collect() } else { full }
    };
    Json(json!({
        "id": format!("gen-{}", uuid::Uuid::new_v4().simple()),
        "provider": "Anthropic",
        "model": body.get("model"),
        "object": "chat.completion",
        "created": chrono::Utc::now().timestamp(),
        "choices": [{
            "index": 0,
            "finish_reason": if truncated { "length" } else { "stop" },
            "native_finish_reason": if truncated { "max_tokens" } else { "end_turn" },
            "message": {"role": "assistant", "content": content, "refusal": null},
        }],
        "usage": {"prompt_tokens": 900, "completion_tokens": 180, "total_tokens": 1080, "cost": 0.0018},
    }))
    .into_response()
}

async fn requests(State(state): State<SimState>) -> Json<Value> {
    Json(Value::Array(state.openrouter().requests.lock().unwrap_or_else(PoisonError::into_inner).clone()))
}

async fn clear(State(state): State<SimState>) -> StatusCode {
    state.openrouter().requests.lock().unwrap_or_else(PoisonError::into_inner).clear();
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct FaultRequest {
    status: Option<u16>,
    count: Option<u32>,
    malformed: Option<u32>,
    error_in_body: Option<u32>,
    truncated: Option<u32>,
    unroutable: Option<u32>,
    delay_ms: Option<u64>,
}

async fn faults(State(state): State<SimState>, Json(r): Json<FaultRequest>) -> StatusCode {
    let mut f = state.openrouter().faults.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(status) = r.status {
        f.status = status;
        f.count = r.count.unwrap_or(1);
    }
    if let Some(n) = r.malformed {
        f.malformed = n;
    }
    if let Some(n) = r.error_in_body {
        f.error_in_body = n;
    }
    if let Some(n) = r.truncated {
        f.truncated = n;
    }
    if let Some(n) = r.unroutable {
        f.unroutable = n;
    }
    if let Some(ms) = r.delay_ms {
        f.delay_ms = ms;
    }
    StatusCode::NO_CONTENT
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_in_the_users_language_and_refuses_what_it_must() {
        let ru = answer("сделай куртку красной", 3);
        assert_eq!(ru["variants"].as_array().unwrap().len(), 3);
        assert_eq!(ru["variants"][0]["title"], "Как есть");
        assert!(ru["variants"][1]["prompt"].as_str().unwrap().contains("сделай куртку красной"));
        let en = answer("make the jacket red", 2);
        assert_eq!(en["variants"][0]["title"], "As asked");
        let no = answer("make her naked", 3);
        assert_eq!(no["refused"], true);
        assert!(no["variants"].as_array().unwrap().is_empty());
    }
}
