//! Simulated YooKassa API v3 under `/sim/yookassa` (contracts/yookassa.md §8):
//!
//! - `POST /v3/payments` (Basic auth, `Idempotence-Key` required; the same key returns the same
//!   payment) → `pending` with `confirmation.confirmation_url` pointing at the checkout page.
//! - `GET /v3/payments/{id}`.
//! - `GET /checkout/{id}`: a payment page with `<button id="pay">Оплатить</button>` and a cancel
//!   button; paying marks the payment `succeeded`, sends the `payment.succeeded` notification to
//!   the shop's webhook and redirects to `return_url`.
//! - Control: `POST /payments/{id}/succeed` and `/cancel` (load tests), `GET /_control/notifications`,
//!   `POST /_control/webhook {"url"}` (default: the return URL's origin + `/webhooks/yookassa`).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

use super::SimState;
use crate::domain::pricing::{format_rub, parse_rub};

#[derive(Default)]
pub struct YooKassaSim {
    payments: Mutex<HashMap<String, Value>>,
    by_key: Mutex<HashMap<String, String>>,
    return_urls: Mutex<HashMap<String, String>>,
    webhook: Mutex<Option<String>>,
    notifications: Mutex<Vec<Value>>,
    /// Saved methods whose charges are declined (renewal failures).
    failing_methods: Mutex<std::collections::HashSet<String>>,
    /// Whether a payment asked to save its method.
    save_method: Mutex<std::collections::HashSet<String>>,
}

pub fn router(state: SimState) -> Router {
    Router::new()
        .route("/v3/payments", post(create))
        .route("/v3/payments/{id}", get(fetch))
        .route("/v3/refunds", post(refund))
        .route("/checkout/{id}", get(checkout))
        .route("/checkout/{id}/pay", post(pay_form))
        .route("/checkout/{id}/cancel", post(cancel_form))
        .route("/payments/{id}/succeed", post(succeed_control))
        .route("/payments/{id}/cancel", post(cancel_control))
        .route("/_control/notifications", get(notifications))
        .route("/_control/webhook", post(set_webhook))
        .route("/_control/fail_method", post(fail_method))
        .with_state(state)
}

fn error(status: StatusCode, code: &str, description: &str) -> Response {
    (status, Json(json!({"type": "error", "id": uuid::Uuid::new_v4(), "code": code, "description": description})))
        .into_response()
}

fn authorised(headers: &HeaderMap) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .is_some_and(|v| !v.trim().is_empty())
}

async fn create(State(state): State<SimState>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    if !authorised(&headers) {
        return error(StatusCode::UNAUTHORIZED, "invalid_credentials", "Login or password is invalid");
    }
    let Some(key) = headers.get("idempotence-key").and_then(|v| v.to_str().ok()).map(str::to_string) else {
        return error(StatusCode::BAD_REQUEST, "invalid_request", "Idempotence-Key header is required");
    };
    let sim = state.yookassa();
    if let Some(id) = sim.by_key.lock().unwrap_or_else(PoisonError::into_inner).get(&key).cloned() {
        let payment = sim.payments.lock().unwrap_or_else(PoisonError::into_inner).get(&id).cloned();
        return Json(payment).into_response();
    }
    let Some(amount) = body["amount"]["value"].as_str().and_then(parse_rub).filter(|a| *a > 0) else {
        return error(StatusCode::BAD_REQUEST, "invalid_request", "Value of amount.value is invalid");
    };
    let saved_method = body["payment_method_id"].as_str().map(str::to_string);
    let return_url = body["confirmation"]["return_url"].as_str().map(str::to_string);
    if saved_method.is_none() && return_url.is_none() {
        return error(StatusCode::BAD_REQUEST, "invalid_request", "confirmation.return_url is required");
    }
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1").to_string();
    let id = format!(
        "{}-000f-5000-8000-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8],
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    let payment = json!({
        "id": id,
        "status": "pending",
        "paid": false,
        "amount": {"value": format_rub(amount), "currency": body["amount"]["currency"].as_str().unwrap_or("RUB")},
        "confirmation": {"type": "redirect", "confirmation_url": format!("http://{host}/sim/yookassa/checkout/{id}")},
        "created_at": chrono::Utc::now().to_rfc3339(),
        "description": body["description"],
        "metadata": body["metadata"],
        "recipient": {"account_id": "100500", "gateway_id": "100700"},
        "refundable": false,
        "test": true,
    });
    sim.payments.lock().unwrap_or_else(PoisonError::into_inner).insert(id.clone(), payment.clone());
    sim.by_key.lock().unwrap_or_else(PoisonError::into_inner).insert(key, id.clone());
    if body["save_payment_method"].as_bool() == Some(true) {
        sim.save_method.lock().unwrap_or_else(PoisonError::into_inner).insert(id.clone());
    }
    if let Some(url) = return_url {
        sim.return_urls.lock().unwrap_or_else(PoisonError::into_inner).insert(id.clone(), url);
    }
    if let Some(method) = saved_method {
        // An autopayment: no confirmation; settled at once, declined for a failing method.
        let declined = sim.failing_methods.lock().unwrap_or_else(PoisonError::into_inner).contains(&method);
        let status = if declined { "canceled" } else { "succeeded" };
        settle(&state, &id, status).await;
        if let Some(p) = sim.payments.lock().unwrap_or_else(PoisonError::into_inner).get_mut(&id) {
            p["payment_method"] = json!({"type": "bank_card", "id": method, "saved": true, "title": "Bank card *4444"});
            p.as_object_mut().map(|o| o.remove("confirmation"));
            if declined {
                p["cancellation_details"] = json!({"party": "payment_network", "reason": "insufficient_funds"});
            }
        }
        let payment = sim.payments.lock().unwrap_or_else(PoisonError::into_inner).get(&id).cloned();
        return Json(payment).into_response();
    }
    Json(payment).into_response()
}

async fn fetch(State(state): State<SimState>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if !authorised(&headers) {
        return error(StatusCode::UNAUTHORIZED, "invalid_credentials", "Login or password is invalid");
    }
    match state.yookassa().payments.lock().unwrap_or_else(PoisonError::into_inner).get(&id) {
        Some(p) => Json(p.clone()).into_response(),
        None => error(StatusCode::NOT_FOUND, "not_found", "Payment not found"),
    }
}

/// `POST /v3/refunds`: only a succeeded payment, at most its amount; the payment records it.
async fn refund(State(state): State<SimState>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    if !authorised(&headers) {
        return error(StatusCode::UNAUTHORIZED, "invalid_credentials", "Login or password is invalid");
    }
    if headers.get("idempotence-key").is_none() {
        return error(StatusCode::BAD_REQUEST, "invalid_request", "Idempotence-Key header is required");
    }
    let id = body["payment_id"].as_str().unwrap_or("").to_string();
    let amount = body["amount"]["value"].as_str().and_then(parse_rub).unwrap_or(0);
    let mut payments = state.yookassa().payments.lock().unwrap_or_else(PoisonError::into_inner);
    let Some(p) = payments.get_mut(&id) else { return error(StatusCode::NOT_FOUND, "not_found", "Payment not found") };
    let paid = p["amount"]["value"].as_str().and_then(parse_rub).unwrap_or(0);
    let already = p["refunded_amount"]["value"].as_str().and_then(parse_rub).unwrap_or(0);
    if p["status"] != "succeeded" || amount <= 0 || amount + already > paid {
        return error(StatusCode::BAD_REQUEST, "invalid_request", "This payment cannot be refunded for that amount");
    }
    p["refunded_amount"] = json!({"value": format_rub(amount + already), "currency": "RUB"});
    Json(json!({
        "id": uuid::Uuid::new_v4(),
        "payment_id": id,
        "status": "succeeded",
        "amount": {"value": format_rub(amount), "currency": "RUB"},
        "created_at": chrono::Utc::now().to_rfc3339(),
    }))
    .into_response()
}

async fn checkout(State(state): State<SimState>, Path(id): Path<String>) -> Response {
    let Some(p) = state.yookassa().payments.lock().unwrap_or_else(PoisonError::into_inner).get(&id).cloned() else {
        return (StatusCode::NOT_FOUND, Html("<h1>Платёж не найден</h1>".to_string())).into_response();
    };
    let description = html_escape(p["description"].as_str().unwrap_or(""));
    let amount = html_escape(p["amount"]["value"].as_str().unwrap_or(""));
    let status = html_escape(p["status"].as_str().unwrap_or(""));
    Html(format!(
        r#"<!doctype html><html lang="ru"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>ЮKassa (симулятор)</title></head>
<body style="font-family:system-ui,sans-serif;max-width:420px;margin:40px auto;padding:0 16px">
<p style="color:#888">Симулятор ЮKassa — деньги не списываются</p>
<h1 style="font-size:22px">{description}</h1>
<p style="font-size:28px;font-weight:600">{amount} ₽</p>
<p>Статус: <b id="status">{status}</b></p>
<form method="post" action="/sim/yookassa/checkout/{id}/pay"><button id="pay" style="width:100%;padding:14px;font-size:18px;background:#0070f0;color:#fff;border:0;border-radius:10px">Оплатить</button></form>
<form method="post" action="/sim/yookassa/checkout/{id}/cancel" style="margin-top:12px"><button id="cancel" style="width:100%;padding:12px;background:#eee;border:0;border-radius:10px">Отменить</button></form>
</body></html>"#
    ))
    .into_response()
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Moves a pending payment to `status` and notifies the shop; returns the return URL.
async fn settle(state: &SimState, id: &str, status: &str) -> Option<String> {
    let sim = state.yookassa();
    let payment = {
        let mut payments = sim.payments.lock().unwrap_or_else(PoisonError::into_inner);
        let p = payments.get_mut(id)?;
        if p["status"] == "pending" {
            p["status"] = json!(status);
            if status == "succeeded" {
                let amount = p["amount"]["value"].as_str().and_then(parse_rub).unwrap_or(0);
                p["paid"] = json!(true);
                p["captured_at"] = json!(chrono::Utc::now().to_rfc3339());
                p["income_amount"] = json!({"value": format_rub(amount - amount * 28 / 1000), "currency": "RUB"});
                let saved = sim.save_method.lock().unwrap_or_else(PoisonError::into_inner).contains(id);
                let method_id = if saved { format!("pm-{id}") } else { id.to_string() };
                p["payment_method"] =
                    json!({"type": "bank_card", "id": method_id, "saved": saved, "title": "Bank card *4444"});
                p["refundable"] = json!(true);
            } else {
                p["cancellation_details"] = json!({"party": "merchant", "reason": "canceled_by_merchant"});
            }
        }
        p.clone()
    };
    let return_url = sim.return_urls.lock().unwrap_or_else(PoisonError::into_inner).get(id).cloned();
    let webhook = sim.webhook.lock().unwrap_or_else(PoisonError::into_inner).clone().or_else(|| {
        let url = return_url.as_deref()?;
        let origin = url.split('/').take(3).collect::<Vec<_>>().join("/");
        Some(format!("{origin}/webhooks/yookassa"))
    });
    if let Some(url) = webhook {
        let event = json!({"type": "notification", "event": format!("payment.{}", payment["status"].as_str().unwrap_or("")), "object": payment});
        sim.notifications.lock().unwrap_or_else(PoisonError::into_inner).push(event.clone());
        let _ = reqwest::Client::new().post(url).json(&event).timeout(std::time::Duration::from_secs(10)).send().await;
    }
    return_url
}

async fn pay_form(State(state): State<SimState>, Path(id): Path<String>) -> Response {
    match settle(&state, &id, "succeeded").await {
        Some(url) => Redirect::to(&url).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn cancel_form(State(state): State<SimState>, Path(id): Path<String>) -> Response {
    match settle(&state, &id, "canceled").await {
        Some(url) => Redirect::to(&url).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn succeed_control(State(state): State<SimState>, Path(id): Path<String>) -> StatusCode {
    if settle(&state, &id, "succeeded").await.is_some() { StatusCode::OK } else { StatusCode::NOT_FOUND }
}

async fn cancel_control(State(state): State<SimState>, Path(id): Path<String>) -> StatusCode {
    if settle(&state, &id, "canceled").await.is_some() { StatusCode::OK } else { StatusCode::NOT_FOUND }
}

async fn notifications(State(state): State<SimState>) -> Json<Value> {
    Json(Value::Array(state.yookassa().notifications.lock().unwrap_or_else(PoisonError::into_inner).clone()))
}

async fn fail_method(State(state): State<SimState>, Json(body): Json<Value>) -> StatusCode {
    if let Some(id) = body["id"].as_str() {
        state.yookassa().failing_methods.lock().unwrap_or_else(PoisonError::into_inner).insert(id.to_string());
    }
    StatusCode::NO_CONTENT
}

async fn set_webhook(State(state): State<SimState>, Json(body): Json<Value>) -> StatusCode {
    *state.yookassa().webhook.lock().unwrap_or_else(PoisonError::into_inner) = body["url"].as_str().map(str::to_string);
    StatusCode::NO_CONTENT
}
