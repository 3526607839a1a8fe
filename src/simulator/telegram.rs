//! Simulated Telegram Bot API: `POST|GET /sim/telegram/bot<token>/<method>` (parameters in the
//! query string, or a JSON, form or multipart body, as the real API takes them), answering like
//! Telegram and recording every call.
//!
//! Control calls:
//! - `GET /sim/telegram/_control/calls?method=&chat_id=` → the recorded calls, oldest first;
//!   `DELETE` clears them.
//! - `POST /sim/telegram/_control/faults {"method", "error_code", "description"?, "retry_after"?, "count"}`
//!   makes the next `count` calls of `method` fail like Telegram would (429, 403, 400, 500).
//! - `POST /sim/telegram/_control/block {"chat_id"}` → sends to that chat get 403 "bot was
//!   blocked by the user".
//! - `POST /sim/telegram/_control/star_transactions {"id", "user_id", "amount", "invoice_payload",
//!   "subscription_period"?}` records a Stars payment the bot's account received, as
//!   `getStarTransactions` then lists it (newest last), whether or not its update was delivered.

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};

use axum::extract::{FromRequest, Multipart, Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::SimState;

/// One recorded Bot API call.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecordedCall {
    pub method: String,
    pub chat_id: Option<i64>,
    /// JSON/form fields; for multipart, text fields plus `{"<field>": {"file_name", "size", "mime"}}`.
    pub params: Value,
    pub at: chrono::DateTime<Utc>,
    /// The answer the simulator gave (ok or the injected error code).
    pub ok: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Fault {
    pub method: String,
    pub error_code: u16,
    pub description: Option<String>,
    pub retry_after: Option<u64>,
    #[serde(default = "one")]
    pub count: u32,
}

fn one() -> u32 {
    1
}

pub struct TelegramSim {
    bot_token: Option<String>,
    calls: Mutex<Vec<RecordedCall>>,
    faults: Mutex<VecDeque<Fault>>,
    blocked: Mutex<HashSet<i64>>,
    next_message_id: AtomicI64,
    star_transactions: Mutex<Vec<Value>>,
}

impl TelegramSim {
    pub fn new(bot_token: Option<String>) -> Self {
        TelegramSim {
            bot_token,
            calls: Mutex::new(Vec::new()),
            faults: Mutex::new(VecDeque::new()),
            blocked: Mutex::new(HashSet::new()),
            next_message_id: AtomicI64::new(1),
            star_transactions: Mutex::new(Vec::new()),
        }
    }

    /// Calls recorded so far (optionally of one method).
    pub fn calls(&self, method: Option<&str>) -> Vec<RecordedCall> {
        let calls = self.calls.lock().unwrap_or_else(|p| p.into_inner());
        calls.iter().filter(|c| method.is_none_or(|m| c.method == m)).cloned().collect()
    }

    fn record(&self, call: RecordedCall) {
        self.calls.lock().unwrap_or_else(|p| p.into_inner()).push(call);
    }

    fn take_fault(&self, method: &str) -> Option<Fault> {
        let mut faults = self.faults.lock().unwrap_or_else(|p| p.into_inner());
        let index = faults.iter().position(|f| f.method == method)?;
        let fault = faults.get_mut(index)?;
        fault.count = fault.count.saturating_sub(1);
        let out = fault.clone();
        if fault.count == 0 {
            faults.remove(index);
        }
        Some(out)
    }
}

pub fn router(state: SimState) -> Router {
    Router::new()
        .route("/_control/calls", get(list_calls).delete(clear_calls))
        .route("/_control/faults", post(add_fault))
        .route("/_control/block", post(block_chat))
        .route("/_control/star_transactions", post(add_star_transaction))
        .route("/{bot}/{method}", post(bot_method).get(bot_method))
        .with_state(state)
}

#[derive(Deserialize)]
struct CallsQuery {
    method: Option<String>,
    chat_id: Option<i64>,
}

async fn list_calls(State(sim): State<SimState>, Query(q): Query<CallsQuery>) -> Json<Vec<RecordedCall>> {
    let calls = sim.telegram().calls(q.method.as_deref());
    Json(calls.into_iter().filter(|c| q.chat_id.is_none() || c.chat_id == q.chat_id).collect())
}

async fn clear_calls(State(sim): State<SimState>) -> StatusCode {
    sim.telegram().calls.lock().unwrap_or_else(|p| p.into_inner()).clear();
    StatusCode::NO_CONTENT
}

async fn add_fault(State(sim): State<SimState>, Json(fault): Json<Fault>) -> StatusCode {
    sim.telegram().faults.lock().unwrap_or_else(|p| p.into_inner()).push_back(fault);
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct Block {
    chat_id: i64,
}

async fn block_chat(State(sim): State<SimState>, Json(block): Json<Block>) -> StatusCode {
    sim.telegram().blocked.lock().unwrap_or_else(|p| p.into_inner()).insert(block.chat_id);
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct NewStarTransaction {
    id: String,
    user_id: i64,
    amount: i64,
    invoice_payload: String,
    subscription_period: Option<i64>,
}

/// A Stars payment received by the bot (Telegram's `StarTransaction` with a user source).
async fn add_star_transaction(State(sim): State<SimState>, Json(t): Json<NewStarTransaction>) -> StatusCode {
    let mut source = json!({"type": "user", "user": {"id": t.user_id, "is_bot": false, "first_name": "Sim"},
        "invoice_payload": t.invoice_payload});
    if let Some(period) = t.subscription_period {
        source["subscription_period"] = json!(period);
    }
    let transaction = json!({"id": t.id, "amount": t.amount, "date": Utc::now().timestamp(), "source": source});
    sim.telegram().star_transactions.lock().unwrap_or_else(|p| p.into_inner()).push(transaction);
    StatusCode::NO_CONTENT
}

fn error(code: u16, description: &str, retry_after: Option<u64>) -> Response {
    let mut body = json!({"ok": false, "error_code": code, "description": description});
    if let Some(retry) = retry_after {
        body["parameters"] = json!({"retry_after": retry});
    }
    (StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST), Json(body)).into_response()
}

async fn bot_method(
    State(sim): State<SimState>,
    Path((bot, method)): Path<(String, String)>,
    request: Request,
) -> Response {
    let tg = sim.telegram();
    let Some(token) = bot.strip_prefix("bot") else {
        return error(404, "Not Found", None);
    };
    if tg.bot_token.as_deref().is_some_and(|expected| expected != token) {
        return error(401, "Unauthorized", None);
    }
    let params = match read_params(request).await {
        Ok(p) => p,
        Err(description) => return error(400, &format!("Bad Request: {description}"), None),
    };
    let chat_id = params.get("chat_id").and_then(|v| v.as_i64().or_else(|| v.as_str().and_then(|s| s.parse().ok())));
    let now = Utc::now();
    let mut call = RecordedCall { method: method.clone(), chat_id, params: params.clone(), at: now, ok: true };

    if let Some(fault) = tg.take_fault(&method) {
        call.ok = false;
        tg.record(call);
        let description = fault.description.unwrap_or_else(|| match fault.error_code {
            429 => format!("Too Many Requests: retry after {}", fault.retry_after.unwrap_or(1)),
            403 => "Forbidden: bot was blocked by the user".into(),
            400 => "Bad Request: simulated".into(),
            _ => "Internal Server Error".into(),
        });
        let retry = if fault.error_code == 429 { Some(fault.retry_after.unwrap_or(1)) } else { None };
        return error(fault.error_code, &description, retry);
    }
    let sends = ["sendMessage", "sendPhoto", "sendDocument", "sendInvoice"];
    if sends.contains(&method.as_str()) {
        if chat_id.is_none() {
            call.ok = false;
            tg.record(call);
            return error(400, "Bad Request: chat_id is empty", None);
        }
        if chat_id.is_some_and(|id| tg.blocked.lock().unwrap_or_else(|p| p.into_inner()).contains(&id)) {
            call.ok = false;
            tg.record(call);
            return error(403, "Forbidden: bot was blocked by the user", None);
        }
    }
    let result = match method.as_str() {
        "getMe" => {
            json!({"id": 1000000001i64, "is_bot": true, "first_name": "Primerka (simulated)", "username": "primerka_sim_bot"})
        }
        "sendMessage" | "sendPhoto" | "sendDocument" | "sendInvoice" => {
            let id = tg.next_message_id.fetch_add(1, Ordering::Relaxed);
            let mut message =
                json!({"message_id": id, "date": now.timestamp(), "chat": {"id": chat_id, "type": "private"}});
            match method.as_str() {
                "sendMessage" => message["text"] = params.get("text").cloned().unwrap_or(Value::Null),
                "sendPhoto" => {
                    let size = params.pointer("/photo/size").and_then(Value::as_u64).unwrap_or(0);
                    message["photo"] = json!([{"file_id": format!("sim-photo-{id}"), "file_unique_id": format!("p{id}"), "width": 1024, "height": 1024, "file_size": size}]);
                }
                "sendDocument" => {
                    message["document"] = json!({"file_id": format!("sim-doc-{id}"), "file_unique_id": format!("d{id}"),
                        "file_name": params.pointer("/document/file_name").cloned().unwrap_or(Value::Null)});
                }
                _ => {}
            }
            message
        }
        "setWebhook"
        | "deleteWebhook"
        | "setChatMenuButton"
        | "answerPreCheckoutQuery"
        | "refundStarPayment"
        | "editUserStarSubscription"
        | "setMyCommands" => json!(true),
        "getStarTransactions" => {
            let read = |name: &str| {
                params.get(name).and_then(|v| v.as_u64().or_else(|| v.as_str().and_then(|s| s.parse().ok())))
            };
            let (offset, limit) =
                (read("offset").unwrap_or(0) as usize, read("limit").unwrap_or(100).min(100) as usize);
            let all = tg.star_transactions.lock().unwrap_or_else(|p| p.into_inner());
            json!({"transactions": all.iter().skip(offset).take(limit).cloned().collect::<Vec<_>>()})
        }
        "createInvoiceLink" => {
            let period = params.get("subscription_period");
            if params.get("currency").and_then(Value::as_str) != Some("XTR")
                || params.get("prices").and_then(Value::as_array).map(Vec::len) != Some(1)
                || period.is_some_and(|p| p.as_i64() != Some(2_592_000))
            {
                call.ok = false;
                tg.record(call);
                return error(
                    400,
                    "Bad Request: XTR invoices need currency XTR, exactly one price and a 30-day subscription_period",
                    None,
                );
            }
            json!(format!("https://t.me/$sim{}", uuid::Uuid::new_v4().simple()))
        }
        _ => {
            call.ok = false;
            tg.record(call);
            return error(404, "Not Found: method not found", None);
        }
    };
    tg.record(call);
    Json(json!({"ok": true, "result": result})).into_response()
}

/// Reads JSON, form or multipart parameters into one JSON object.
/// A method's parameters, read every way the Bot API takes them: the query string (some bot
/// libraries send everything there), then a JSON, form or multipart body (a body parameter
/// wins over a query one of the same name).
async fn read_params(request: Request) -> Result<Value, String> {
    let mut params: serde_json::Map<String, Value> = request
        .uri()
        .query()
        .map(|q| {
            form_urlencoded::parse(q.as_bytes()).map(|(k, v)| (k.into_owned(), text_param(v.into_owned()))).collect()
        })
        .unwrap_or_default();
    match read_body_params(request).await? {
        Value::Object(body) => params.extend(body),
        other if params.is_empty() => return Ok(other),
        _ => return Err("can't parse JSON: expected an object".into()),
    }
    Ok(Value::Object(params))
}

/// A text parameter as Telegram reads it: JSON-serialised objects and arrays (reply_markup,
/// media) are parsed; anything else stays a string.
fn text_param(text: String) -> Value {
    serde_json::from_str::<Value>(&text).ok().filter(|v| v.is_object() || v.is_array()).unwrap_or(Value::String(text))
}

async fn read_body_params(request: Request) -> Result<Value, String> {
    let content_type =
        request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    if content_type.starts_with("multipart/form-data") {
        let mut multipart = Multipart::from_request(request, &()).await.map_err(|e| e.body_text())?;
        let mut out = serde_json::Map::new();
        while let Some(field) = multipart.next_field().await.map_err(|e| e.body_text())? {
            let name = field.name().unwrap_or("").to_string();
            let file_name = field.file_name().map(str::to_string);
            let mime = field.content_type().map(str::to_string);
            let data = field.bytes().await.map_err(|e| e.body_text())?;
            let value = match file_name {
                Some(file_name) => {
                    json!({"file_name": file_name, "size": data.len(), "mime": mime})
                }
                None => text_param(String::from_utf8_lossy(&data).to_string()),
            };
            out.insert(name, value);
        }
        return Ok(Value::Object(out));
    }
    let bytes = axum::body::to_bytes(request.into_body(), 25 * 1024 * 1024).await.map_err(|e| e.to_string())?;
    if bytes.is_empty() {
        return Ok(json!({}));
    }
    if content_type.starts_with("application/x-www-form-urlencoded") {
        let map: serde_json::Map<String, Value> =
            form_urlencoded::parse(&bytes).map(|(k, v)| (k.into_owned(), text_param(v.into_owned()))).collect();
        return Ok(Value::Object(map));
    }
    serde_json::from_slice(&bytes).map_err(|e| format!("can't parse JSON: {e}"))
}
