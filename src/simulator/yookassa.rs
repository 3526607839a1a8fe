//! Simulated YooKassa API v3 under `/sim/yookassa` (contracts/yookassa.md §8):
//!
//! - `POST /v3/payments` (Basic auth, `Idempotence-Key` required; the same key returns the same
//!   payment) → `pending` with `confirmation.confirmation_url` pointing at the checkout page.
//! - `GET /v3/payments/{id}`.
//! - `GET /checkout/{id}`: a payment page with `<button id="pay">Оплатить</button>` and a cancel
//!   button; paying marks the payment `succeeded`, sends the `payment.succeeded` notification to
//!   the shop's webhook and redirects to `return_url`.
//! - `confirmation: {"type": "embedded"}` answers a `confirmation_token` (the checkout widget);
//!   the token's page is the same checkout page (`/checkout/{id}`).
//! - Reusing an `Idempotence-Key` with a different body is `400 invalid_request`, as YooKassa does.
//! - Receipts, as a shop connected to receipts (self-employed «Мой налог» or 54-ФЗ) sees them: a
//!   payment without `receipt`, a receipt without `customer.email`/`customer.phone`, or items that
//!   do not add up to the amount is `400 invalid_request` with `parameter`; a refund's receipt is
//!   checked the same way.
//! - `POST /v3/refunds`, `GET /v3/refunds/{id}`; `POST /_control/refund {"payment_id", "amount"?}`
//!   is a refund made in YooKassa's dashboard: the payment records it and `refund.succeeded` is
//!   sent like any notification. `GET /_control/requests` lists the bodies of the payment and
//!   refund requests received (`{"path", "body"}`), for tests of what the shop sent.
//! - Control: `POST /payments/{id}/succeed` and `/cancel` (load tests), `GET /_control/notifications`,
//!   `POST /_control/webhook {"url"}` (default: the return URL's origin, or the origin the
//!   payment was created through, + `/webhooks/yookassa`), `POST /_control/fail_method {"id"}`
//!   (renewal charges on that saved method are declined).
//! - Notification delivery, like YooKassa's: re-sent until the shop answers 200 (`attempts`,
//!   default 3). `POST /_control/delivery {"duplicates"?: n, "delay_ms"?: ms, "hold"?: bool,
//!   "attempts"?: n}` sends every notification `n` extra times at once, late, or holds them
//!   until `POST /_control/release {"reverse"?: true}` sends the held ones (reversed: out of order).

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
    /// Idempotence key → the payment it created and the body it was created with.
    by_key: Mutex<HashMap<String, (String, Value)>>,
    /// Where each payment's notifications go when no webhook is set: the shop's origin.
    origins: Mutex<HashMap<String, String>>,
    delivery: Mutex<Delivery>,
    held: Mutex<Vec<(String, Value)>>,
    return_urls: Mutex<HashMap<String, String>>,
    webhook: Mutex<Option<String>>,
    notifications: Mutex<Vec<Value>>,
    /// Saved methods whose charges are declined (renewal failures).
    failing_methods: Mutex<std::collections::HashSet<String>>,
    /// Whether a payment asked to save its method.
    save_method: Mutex<std::collections::HashSet<String>>,
    refunds: Mutex<HashMap<String, Value>>,
    /// The bodies of the payment and refund requests received, in order.
    requests: Mutex<Vec<Value>>,
}

impl YooKassaSim {
    /// The request body a payment was created with, by its idempotence key (tests read the
    /// amount and the receipt the shop sent).
    pub fn created_with(&self, idempotence_key: &str) -> Option<Value> {
        self.by_key.lock().unwrap_or_else(PoisonError::into_inner).get(idempotence_key).map(|(_, body)| body.clone())
    }
}

pub fn router(state: SimState) -> Router {
    Router::new()
        .route("/v3/payments", post(create))
        .route("/v3/payments/{id}", get(fetch))
        .route("/v3/refunds", post(refund))
        .route("/v3/refunds/{id}", get(fetch_refund))
        .route("/_control/refund", post(dashboard_refund))
        .route("/_control/requests", get(requests))
        .route("/checkout/{id}", get(checkout))
        .route("/checkout/{id}/pay", post(pay_form))
        .route("/checkout/{id}/cancel", post(cancel_form))
        .route("/payments/{id}/succeed", post(succeed_control))
        .route("/payments/{id}/cancel", post(cancel_control))
        .route("/_control/notifications", get(notifications))
        .route("/_control/webhook", post(set_webhook))
        .route("/_control/fail_method", post(fail_method))
        .route("/_control/delivery", post(set_delivery))
        .route("/_control/release", post(release_held))
        .with_state(state)
}

fn error(status: StatusCode, code: &str, description: &str) -> Response {
    (status, Json(json!({"type": "error", "id": uuid::Uuid::new_v4(), "code": code, "description": description})))
        .into_response()
}

/// A refusal in YooKassa's error shape (small, so `Result`s stay small; rendered when answered).
struct Refusal {
    status: StatusCode,
    code: &'static str,
    parameter: Option<&'static str>,
    description: &'static str,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self.parameter {
            None => error(self.status, self.code, self.description),
            Some(parameter) => (
                self.status,
                Json(json!({"type": "error", "id": uuid::Uuid::new_v4(), "code": self.code,
                    "description": self.description, "parameter": parameter})),
            )
                .into_response(),
        }
    }
}

/// YooKassa's refusal of a malformed field: `400 invalid_request` naming the `parameter`.
fn invalid(parameter: &'static str, description: &'static str) -> Refusal {
    Refusal { status: StatusCode::BAD_REQUEST, code: "invalid_request", parameter: Some(parameter), description }
}

/// Checks a receipt as YooKassa does for a shop that sends receipts: a customer contact, items
/// whose sum is `amount` (kopecks).
fn check_receipt(receipt: &Value, amount: i64) -> Result<(), Refusal> {
    if !receipt.is_object() {
        return Err(invalid("receipt", "Receipt is missing or illegal"));
    }
    let customer = &receipt["customer"];
    let has = |k: &str| customer[k].as_str().is_some_and(|v| !v.trim().is_empty());
    if !has("email") && !has("phone") {
        return Err(invalid(
            "receipt.customer",
            "Receipt is missing or illegal: customer.email or customer.phone is required",
        ));
    }
    let Some(items) = receipt["items"].as_array().filter(|i| !i.is_empty()) else {
        return Err(invalid("receipt.items", "Receipt is missing or illegal: items are required"));
    };
    let mut sum = 0i64;
    for item in items {
        let price = item["amount"]["value"].as_str().and_then(parse_rub);
        let quantity = match &item["quantity"] {
            Value::String(q) => parse_rub(q),
            Value::Number(n) => n.as_f64().map(|q| (q * 100.0).round() as i64),
            _ => None,
        };
        let (Some(price), Some(quantity)) = (price, quantity) else {
            return Err(invalid("receipt.items", "Receipt item amount or quantity is invalid"));
        };
        if item["description"].as_str().is_none_or(|d| d.is_empty() || d.chars().count() > 128)
            || item["vat_code"].as_u64().is_none()
        {
            return Err(invalid("receipt.items", "Receipt item description or vat_code is invalid"));
        }
        sum += price * quantity / 100;
    }
    if sum != amount {
        return Err(invalid("receipt.items", "The sum of the receipt items does not match the payment amount"));
    }
    Ok(())
}

fn record(sim: &YooKassaSim, path: &str, body: &Value) {
    let mut requests = sim.requests.lock().unwrap_or_else(PoisonError::into_inner);
    if requests.len() < 10_000 {
        requests.push(json!({"path": path, "body": body}));
    }
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
    record(sim, "/v3/payments", &body);
    if let Some((id, first)) = sim.by_key.lock().unwrap_or_else(PoisonError::into_inner).get(&key).cloned() {
        if first != body {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "Idempotence key duplicated with another request body",
            );
        }
        let payment = sim.payments.lock().unwrap_or_else(PoisonError::into_inner).get(&id).cloned();
        return Json(payment).into_response();
    }
    let Some(amount) = body["amount"]["value"].as_str().and_then(parse_rub).filter(|a| *a > 0) else {
        return invalid("amount.value", "Value of amount.value is invalid").into_response();
    };
    if let Err(refused) = check_receipt(&body["receipt"], amount) {
        return refused.into_response();
    }
    let saved_method = body["payment_method_id"].as_str().map(str::to_string);
    let return_url = body["confirmation"]["return_url"].as_str().map(str::to_string);
    let embedded = body["confirmation"]["type"] == "embedded";
    if saved_method.is_none() && return_url.is_none() && !embedded {
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
        "confirmation": if embedded {
            json!({"type": "embedded", "confirmation_token": format!("ct-{id}")})
        } else {
            json!({"type": "redirect", "confirmation_url": format!("http://{host}/sim/yookassa/checkout/{id}")})
        },
        "created_at": chrono::Utc::now().to_rfc3339(),
        "description": body["description"],
        "metadata": body["metadata"],
        "recipient": {"account_id": "100500", "gateway_id": "100700"},
        "refundable": false,
        "test": true,
    });
    sim.payments.lock().unwrap_or_else(PoisonError::into_inner).insert(id.clone(), payment.clone());
    sim.by_key.lock().unwrap_or_else(PoisonError::into_inner).insert(key, (id.clone(), body.clone()));
    sim.origins.lock().unwrap_or_else(PoisonError::into_inner).insert(id.clone(), format!("http://{host}"));
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
    let sim = state.yookassa();
    record(sim, "/v3/refunds", &body);
    let id = body["payment_id"].as_str().unwrap_or("").to_string();
    let amount = body["amount"]["value"].as_str().and_then(parse_rub).unwrap_or(0);
    if !body["receipt"].is_null()
        && let Err(refused) = check_receipt(&body["receipt"], amount)
    {
        return refused.into_response();
    }
    match make_refund(sim, &id, amount) {
        Ok(refund) => Json(refund).into_response(),
        Err(refused) => refused.into_response(),
    }
}

/// Records a succeeded refund of `amount` of payment `id` (at most what is left of it).
fn make_refund(sim: &YooKassaSim, id: &str, amount: i64) -> Result<Value, Refusal> {
    let mut payments = sim.payments.lock().unwrap_or_else(PoisonError::into_inner);
    let Some(p) = payments.get_mut(id) else {
        return Err(Refusal {
            status: StatusCode::NOT_FOUND,
            code: "not_found",
            parameter: None,
            description: "Payment not found",
        });
    };
    let paid = p["amount"]["value"].as_str().and_then(parse_rub).unwrap_or(0);
    let already = p["refunded_amount"]["value"].as_str().and_then(parse_rub).unwrap_or(0);
    if p["status"] != "succeeded" || amount <= 0 || amount + already > paid {
        return Err(invalid("amount.value", "This payment cannot be refunded for that amount"));
    }
    p["refunded_amount"] = json!({"value": format_rub(amount + already), "currency": "RUB"});
    let refund = json!({
        "id": format!("{}-0015-5000-9000-{}", &uuid::Uuid::new_v4().simple().to_string()[..8],
            &uuid::Uuid::new_v4().simple().to_string()[..12]),
        "payment_id": id,
        "status": "succeeded",
        "amount": {"value": format_rub(amount), "currency": "RUB"},
        "created_at": chrono::Utc::now().to_rfc3339(),
    });
    let refund_id = refund["id"].as_str().unwrap_or_default().to_string();
    sim.refunds.lock().unwrap_or_else(PoisonError::into_inner).insert(refund_id, refund.clone());
    Ok(refund)
}

async fn fetch_refund(State(state): State<SimState>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if !authorised(&headers) {
        return error(StatusCode::UNAUTHORIZED, "invalid_credentials", "Login or password is invalid");
    }
    match state.yookassa().refunds.lock().unwrap_or_else(PoisonError::into_inner).get(&id) {
        Some(r) => Json(r.clone()).into_response(),
        None => error(StatusCode::NOT_FOUND, "not_found", "Refund not found"),
    }
}

/// A refund made in YooKassa's dashboard: `{"payment_id", "amount"?}` (the whole payment by
/// default); the shop hears `refund.succeeded` (delivered as configured, duplicates included).
async fn dashboard_refund(State(state): State<SimState>, Json(body): Json<Value>) -> Response {
    let sim = state.yookassa();
    let id = body["payment_id"].as_str().unwrap_or("").to_string();
    let amount = match body["amount"].as_str().and_then(parse_rub) {
        Some(amount) => amount,
        None => {
            let payments = sim.payments.lock().unwrap_or_else(PoisonError::into_inner);
            payments.get(&id).and_then(|p| p["amount"]["value"].as_str().and_then(parse_rub)).unwrap_or(0)
        }
    };
    let refund = match make_refund(sim, &id, amount) {
        Ok(refund) => refund,
        Err(refused) => return refused.into_response(),
    };
    let return_url = sim.return_urls.lock().unwrap_or_else(PoisonError::into_inner).get(&id).cloned();
    if let Some(url) = webhook_for(sim, &id, return_url.as_deref()) {
        let event = json!({"type": "notification", "event": "refund.succeeded", "object": refund});
        sim.notifications.lock().unwrap_or_else(PoisonError::into_inner).push(event.clone());
        deliver(&state, url, event).await;
    }
    Json(refund).into_response()
}

async fn requests(State(state): State<SimState>) -> Json<Value> {
    Json(Value::Array(state.yookassa().requests.lock().unwrap_or_else(PoisonError::into_inner).clone()))
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
    if let Some(url) = webhook_for(sim, id, return_url.as_deref()) {
        let event = json!({"type": "notification", "event": format!("payment.{}", payment["status"].as_str().unwrap_or("")), "object": payment});
        sim.notifications.lock().unwrap_or_else(PoisonError::into_inner).push(event.clone());
        deliver(state, url, event).await;
    }
    // The embedded widget has no return URL of its own; the checkout page goes back to the shop.
    return_url.or_else(|| sim.origins.lock().unwrap_or_else(PoisonError::into_inner).get(id).cloned())
}

/// Where payment `id`'s notifications go: the configured webhook, else the shop's origin (the
/// return URL's, or the one the payment was created through) + `/webhooks/yookassa`.
fn webhook_for(sim: &YooKassaSim, id: &str, return_url: Option<&str>) -> Option<String> {
    sim.webhook.lock().unwrap_or_else(PoisonError::into_inner).clone().or_else(|| {
        let origin = match return_url {
            Some(url) => url.split('/').take(3).collect::<Vec<_>>().join("/"),
            None => sim.origins.lock().unwrap_or_else(PoisonError::into_inner).get(id).cloned()?,
        };
        Some(format!("{origin}/webhooks/yookassa"))
    })
}

/// How notifications are delivered (`POST /_control/delivery`).
#[derive(Debug, Clone, Copy, serde::Deserialize)]
#[serde(default)]
struct Delivery {
    /// Extra copies of every notification, sent at the same time.
    duplicates: u32,
    /// Wait this long before sending.
    delay_ms: u64,
    /// Keep notifications until `/_control/release`.
    hold: bool,
    /// Sends per copy until the shop answers 200.
    attempts: u32,
}

impl Default for Delivery {
    fn default() -> Self {
        Delivery { duplicates: 0, delay_ms: 0, hold: false, attempts: 3 }
    }
}

/// Sends one notification as configured: held, late, or now (with duplicates and re-sends).
async fn deliver(state: &SimState, url: String, event: Value) {
    let sim = state.yookassa();
    let delivery = *sim.delivery.lock().unwrap_or_else(PoisonError::into_inner);
    if delivery.hold {
        sim.held.lock().unwrap_or_else(PoisonError::into_inner).push((url, event));
        return;
    }
    if delivery.delay_ms > 0 {
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(delivery.delay_ms)).await;
            send_copies(url, event, delivery).await;
        });
        return;
    }
    send_copies(url, event, delivery).await;
}

async fn send_copies(url: String, event: Value, delivery: Delivery) {
    let client = reqwest::Client::new();
    let copies = (0..=delivery.duplicates).map(|_| {
        let (client, url, event) = (client.clone(), url.clone(), event.clone());
        async move {
            for attempt in 0..delivery.attempts.max(1) {
                let sent = client.post(&url).json(&event).timeout(std::time::Duration::from_secs(10)).send().await;
                if sent.is_ok_and(|r| r.status() == StatusCode::OK) {
                    return;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100 * u64::from(attempt + 1))).await;
            }
        }
    });
    futures::future::join_all(copies).await;
}

async fn set_delivery(State(state): State<SimState>, Json(delivery): Json<Delivery>) -> StatusCode {
    *state.yookassa().delivery.lock().unwrap_or_else(PoisonError::into_inner) = delivery;
    StatusCode::NO_CONTENT
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct Release {
    reverse: bool,
}

/// Sends the held notifications (in reverse: out of order) with the current duplicates.
async fn release_held(State(state): State<SimState>, Json(release): Json<Release>) -> Json<Value> {
    let sim = state.yookassa();
    let mut held = std::mem::take(&mut *sim.held.lock().unwrap_or_else(PoisonError::into_inner));
    if release.reverse {
        held.reverse();
    }
    let delivery =
        Delivery { hold: false, delay_ms: 0, ..*sim.delivery.lock().unwrap_or_else(PoisonError::into_inner) };
    let count = held.len();
    for (url, event) in held {
        send_copies(url, event, delivery).await;
    }
    Json(json!({"sent": count}))
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
