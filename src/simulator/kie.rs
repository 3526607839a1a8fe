//! Simulated kie.ai (contracts/kie-ai.md §10), under `/sim/kie`:
//!
//! - `POST /api/v1/jobs/createTask` → `{code:200, data:{taskId}}`; 20 per 10 s per account,
//!   beyond that HTTP 429 (rejected, not queued); code 422 without a prompt or image URLs;
//!   401 without a bearer key.
//! - `GET /api/v1/jobs/recordInfo?taskId=` walks `waiting → generating → success|fail` over a
//!   realistic time (scaled by `latency_scale`); 10 per second, beyond that HTTP 429.
//! - The result is a real picture built from the inputs (the first image with the others inset;
//!   a single image, an edit, comes back with its colours shifted), encoded as the task's
//!   `input.output_format` asks (`png`, the default, or `jpeg`/`jpg`) and served at
//!   `/sim/kie/files/<id>.png|.jpg`; on completion the simulator POSTs the callback.
//!
//! Control calls:
//! - `GET /sim/kie/_control/tasks` → `[{"model", "input": {...}}]`: the accepted createTask
//!   bodies, oldest first (the last 1000).
//! - `GET /sim/kie/_control/stats` → creates, polls, rejections, the most creates seen in any
//!   10 s window, callbacks sent.
//! - `POST /sim/kie/_control/faults {"fail_tasks"?: n, "create_errors"?: n, "create_error_code"?: 500,
//!   "unchanged_tasks"?: n, "empty_tasks"?: n, "hang_tasks"?: n}`: the next `fail_tasks` tasks
//!   end in `state: fail` (failCode 500); the next `create_errors` createTask calls answer with
//!   that body code; the next `unchanged_tasks` succeed with the first input image returned
//!   as it was; the next `empty_tasks` succeed with no `resultUrls`; the next `hang_tasks`
//!   stay `generating` for ever. `"slow_tasks": n, "slow_ms": ms`: the next `n` tasks take `ms`
//!   longer (a busy provider: the e2e test of cancelling a queued job fills the workers with them).

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use image::{DynamicImage, GenericImageView, imageops};
use serde::Deserialize;
use serde_json::{Value, json};

use super::SimState;
use crate::domain::images::ImageFormat;

/// kie.ai's published limits.
pub const CREATE_LIMIT: usize = 20;
pub const CREATE_WINDOW: Duration = Duration::from_secs(10);
pub const POLL_LIMIT: usize = 10;
pub const POLL_WINDOW: Duration = Duration::from_secs(1);

#[derive(Clone)]
struct Task {
    created: Instant,
    created_ms: i64,
    param: Value,
    /// Set once the result is built (its URLs; none for the "no image" fault) or the task failed.
    outcome: Option<Result<Vec<String>, (String, String)>>,
}

#[derive(Default)]
struct Inner {
    tasks: HashMap<String, Task>,
    /// Accepted createTask bodies (`model`, `input`), oldest first, bounded.
    received: VecDeque<Value>,
    files: HashMap<String, Vec<u8>>,
    creates: VecDeque<Instant>,
    polls: VecDeque<Instant>,
    stats: Stats,
    fail_tasks: u32,
    unchanged_tasks: u32,
    empty_tasks: u32,
    hang_tasks: u32,
    slow_tasks: u32,
    slow_ms: u64,
    create_errors: u32,
    create_error_code: i64,
}

#[derive(Default, Clone, serde::Serialize)]
struct Stats {
    creates: u64,
    polls: u64,
    rejected_creates: u64,
    rejected_polls: u64,
    max_creates_in_window: usize,
    max_polls_in_second: usize,
    callbacks_sent: u64,
    failed_tasks: u64,
    /// Unix ms of the first and the latest accepted createTask (achieved rate under a burst).
    first_create_ms: i64,
    last_create_ms: i64,
}

#[derive(Default)]
pub struct KieSim {
    inner: Mutex<Inner>,
}

/// Admits `now` into a sliding window of `limit` per `window`; returns the count inside.
fn admit(log: &mut VecDeque<Instant>, now: Instant, window: Duration, limit: usize) -> Option<usize> {
    while log.front().is_some_and(|t| now.duration_since(*t) >= window) {
        log.pop_front();
    }
    if log.len() >= limit {
        return None;
    }
    log.push_back(now);
    Some(log.len())
}

fn envelope(code: i64, msg: &str, data: Value) -> Response {
    let status = if code == 429 { StatusCode::TOO_MANY_REQUESTS } else { StatusCode::OK };
    (status, Json(json!({"code": code, "msg": msg, "data": data}))).into_response()
}

pub fn router(state: SimState) -> Router {
    Router::new()
        .route("/api/v1/jobs/createTask", post(create_task))
        .route("/api/v1/jobs/recordInfo", get(record_info))
        .route("/files/{name}", get(file))
        .route("/_control/stats", get(stats))
        .route("/_control/tasks", get(tasks))
        .route("/_control/faults", post(faults))
        .with_state(state)
}

fn authorised(headers: &HeaderMap) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|k| !k.trim().is_empty())
}

async fn create_task(State(state): State<SimState>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    if !authorised(&headers) {
        return envelope(401, "You do not have access permissions", Value::Null);
    }
    let prompt = body.pointer("/input/prompt").and_then(Value::as_str).unwrap_or("");
    let urls: Vec<String> = body
        .pointer("/input/image_urls")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|u| u.as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    if body.get("model").and_then(Value::as_str).is_none() || prompt.is_empty() || urls.is_empty() || urls.len() > 10 {
        return envelope(422, "model, input.prompt and 1-10 input.image_urls are required", Value::Null);
    }
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1").to_string();
    let sim = state.kie();
    let now = Instant::now();
    let (task_id, fault, extra) = {
        let mut inner = sim.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(in_window) = admit(&mut inner.creates, now, CREATE_WINDOW, CREATE_LIMIT) else {
            inner.stats.rejected_creates += 1;
            return envelope(429, "Rate limit exceeded", Value::Null);
        };
        inner.stats.max_creates_in_window = inner.stats.max_creates_in_window.max(in_window);
        if inner.create_errors > 0 {
            inner.create_errors -= 1;
            let code = inner.create_error_code;
            return envelope(code, "Server error", Value::Null);
        }
        inner.stats.creates += 1;
        let now_ms = chrono::Utc::now().timestamp_millis();
        if inner.stats.first_create_ms == 0 {
            inner.stats.first_create_ms = now_ms;
        }
        inner.stats.last_create_ms = now_ms;
        let fault = take_fault(&mut inner);
        let extra = if inner.slow_tasks > 0 {
            inner.slow_tasks -= 1;
            Duration::from_millis(inner.slow_ms)
        } else {
            Duration::ZERO
        };
        let task_id = format!("task_google_{}", uuid::Uuid::new_v4().simple());
        if inner.received.len() >= 1000 {
            inner.received.pop_front();
        }
        inner.received.push_back(json!({"model": body.get("model"), "input": body.get("input")}));
        inner.tasks.insert(
            task_id.clone(),
            Task {
                created: now,
                created_ms: chrono::Utc::now().timestamp_millis(),
                param: body.clone(),
                outcome: None,
            },
        );
        (task_id, fault, extra)
    };
    let callback = body.get("callBackUrl").and_then(Value::as_str).map(str::to_string);
    let jpeg = matches!(body.pointer("/input/output_format").and_then(Value::as_str), Some("jpeg" | "jpg"));
    let task = Work { urls, callback, host, fault, extra, jpeg };
    tokio::spawn(run_task(state.clone(), task_id.clone(), task));
    envelope(200, "success", json!({"taskId": task_id}))
}

async fn tasks(State(state): State<SimState>) -> Json<Value> {
    let inner = state.kie().inner.lock().unwrap_or_else(PoisonError::into_inner);
    Json(Value::Array(inner.received.iter().cloned().collect()))
}

/// How a task will end, picked from the injected faults when it is created.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Fault {
    None,
    Fail,
    Unchanged,
    Empty,
    Hang,
}

fn take_fault(inner: &mut Inner) -> Fault {
    for (counter, fault) in [
        (&mut inner.fail_tasks, Fault::Fail),
        (&mut inner.unchanged_tasks, Fault::Unchanged),
        (&mut inner.empty_tasks, Fault::Empty),
        (&mut inner.hang_tasks, Fault::Hang),
    ] {
        if *counter > 0 {
            *counter -= 1;
            return fault;
        }
    }
    Fault::None
}

/// What a created task will do.
struct Work {
    urls: Vec<String>,
    callback: Option<String>,
    host: String,
    fault: Fault,
    extra: Duration,
    /// `output_format` asked for JPEG (PNG otherwise, kie.ai's default).
    jpeg: bool,
}

/// Works the task: waits like the model would, builds the image, then calls back.
async fn run_task(state: SimState, task_id: String, work: Work) {
    let Work { urls, callback, host, fault, extra, jpeg } = work;
    let total = Duration::from_secs_f64(8.0 * state.latency_scale()) + extra;
    tokio::time::sleep(total).await;
    let built: Result<Option<Vec<u8>>, (String, String)> = match fault {
        Fault::Hang => return,
        Fault::Fail => Err(("500".to_string(), "Internal server error".to_string())),
        Fault::Empty => Ok(None),
        Fault::Unchanged => fetch(&urls[0]).await.map(Some).map_err(unreadable),
        Fault::None => compose(&urls, jpeg).await.map(Some).map_err(unreadable),
    };
    let outcome = match built {
        Err(e) => Err(e),
        Ok(None) => Ok(Vec::new()),
        Ok(Some(bytes)) => {
            // The file's name tells its format (an unchanged input keeps its own).
            let extension = if bytes.starts_with(&[0xFF, 0xD8]) { "jpg" } else { "png" };
            let name = format!("{}.{extension}", uuid::Uuid::new_v4().simple());
            state.kie().inner.lock().unwrap_or_else(PoisonError::into_inner).files.insert(name.clone(), bytes);
            Ok(vec![format!("http://{host}/sim/kie/files/{name}")])
        }
    };
    let data = {
        let mut inner = state.kie().inner.lock().unwrap_or_else(PoisonError::into_inner);
        if outcome.is_err() {
            inner.stats.failed_tasks += 1;
        }
        let Some(task) = inner.tasks.get_mut(&task_id) else { return };
        task.outcome = Some(outcome);
        task_data(&task_id, task)
    };
    if let Some(url) = callback {
        let code = if data["state"] == "success" { 200 } else { 501 };
        let body = json!({"code": code, "msg": "Playground task completed.", "data": data});
        let client = reqwest::Client::new();
        if client.post(&url).json(&body).timeout(Duration::from_secs(15)).send().await.is_ok() {
            state.kie().inner.lock().unwrap_or_else(PoisonError::into_inner).stats.callbacks_sent += 1;
        }
    }
}

fn unreadable(e: anyhow::Error) -> (String, String) {
    ("422".to_string(), format!("could not read the input images: {e}"))
}

async fn fetch(url: &str) -> anyhow::Result<Vec<u8>> {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build()?;
    let response = client.get(url).send().await?.error_for_status()?;
    Ok(response.bytes().await?.to_vec())
}

/// The first image with the others inset on its right side: a real picture from the inputs,
/// as JPEG (quality 90) or PNG.
async fn compose(urls: &[String], jpeg: bool) -> anyhow::Result<Vec<u8>> {
    let mut images = Vec::new();
    for url in urls {
        images.push(image::load_from_memory(&fetch(url).await?)?);
    }
    tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<u8>> {
        let mut base = images[0].resize(768, 1024, imageops::FilterType::Triangle);
        if images.len() == 1 {
            // An edit of one photo: shift the colours so the result visibly differs.
            base = base.huerotate(60).brighten(20);
        }
        let mut canvas = base.to_rgba8();
        let (w, h) = base.dimensions();
        let inset_w = (w / 3).max(1);
        let mut y = 8;
        for garment in &images[1..] {
            let thumb = garment.resize(inset_w, h / 3, imageops::FilterType::Triangle).to_rgba8();
            if y + thumb.height() > h {
                break;
            }
            imageops::overlay(&mut canvas, &thumb, i64::from(w - inset_w - 8), i64::from(y));
            y += thumb.height() + 8;
        }
        let format = if jpeg { ImageFormat::Jpeg } else { ImageFormat::Png };
        Ok(crate::domain::images::encode(&DynamicImage::ImageRgba8(canvas), format)?)
    })
    .await?
}

fn task_data(task_id: &str, task: &Task) -> Value {
    let elapsed = task.created.elapsed();
    let (state, result, fail_code, fail_msg) = match &task.outcome {
        Some(Ok(urls)) => ("success", Some(json!({"resultUrls": urls}).to_string()), "", ""),
        Some(Err((code, msg))) => ("fail", None, code.as_str(), msg.as_str()),
        None if elapsed < Duration::from_millis(200) => ("waiting", None, "", ""),
        None => ("generating", None, "", ""),
    };
    json!({
        "taskId": task_id,
        "model": task.param.get("model"),
        "state": state,
        "param": task.param.to_string(),
        "resultJson": result,
        "failCode": fail_code,
        "failMsg": fail_msg,
        "costTime": elapsed.as_millis() as i64,
        "createTime": task.created_ms,
        "updateTime": chrono::Utc::now().timestamp_millis(),
    })
}

#[derive(Deserialize)]
struct TaskQuery {
    #[serde(rename = "taskId")]
    task_id: Option<String>,
}

async fn record_info(State(state): State<SimState>, headers: HeaderMap, Query(q): Query<TaskQuery>) -> Response {
    if !authorised(&headers) {
        return envelope(401, "You do not have access permissions", Value::Null);
    }
    let mut inner = state.kie().inner.lock().unwrap_or_else(PoisonError::into_inner);
    let Some(in_second) = admit(&mut inner.polls, Instant::now(), POLL_WINDOW, POLL_LIMIT) else {
        inner.stats.rejected_polls += 1;
        return envelope(429, "Rate limit exceeded", Value::Null);
    };
    inner.stats.max_polls_in_second = inner.stats.max_polls_in_second.max(in_second);
    inner.stats.polls += 1;
    let Some(task_id) = q.task_id.filter(|t| !t.is_empty()) else {
        return envelope(400, "taskId parameter is required", Value::Null);
    };
    match inner.tasks.get(&task_id) {
        Some(task) => envelope(200, "success", task_data(&task_id, task)),
        None => envelope(404, "Task not found", Value::Null),
    }
}

async fn file(State(state): State<SimState>, Path(name): Path<String>) -> Response {
    match state.kie().inner.lock().unwrap_or_else(PoisonError::into_inner).files.get(&name) {
        Some(bytes) => {
            let mime = if name.ends_with(".jpg") { "image/jpeg" } else { "image/png" };
            ([(header::CONTENT_TYPE, mime)], bytes.clone()).into_response()
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn stats(State(state): State<SimState>) -> Json<Value> {
    let inner = state.kie().inner.lock().unwrap_or_else(PoisonError::into_inner);
    let mut value = serde_json::to_value(&inner.stats).unwrap_or_default();
    value["tasks"] = json!(inner.tasks.len());
    Json(value)
}

#[derive(Deserialize)]
struct Faults {
    fail_tasks: Option<u32>,
    unchanged_tasks: Option<u32>,
    empty_tasks: Option<u32>,
    hang_tasks: Option<u32>,
    slow_tasks: Option<u32>,
    slow_ms: Option<u64>,
    create_errors: Option<u32>,
    create_error_code: Option<i64>,
}

async fn faults(State(state): State<SimState>, Json(f): Json<Faults>) -> StatusCode {
    let mut inner = state.kie().inner.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(n) = f.fail_tasks {
        inner.fail_tasks = n;
    }
    if let Some(n) = f.unchanged_tasks {
        inner.unchanged_tasks = n;
    }
    if let Some(n) = f.empty_tasks {
        inner.empty_tasks = n;
    }
    if let Some(n) = f.hang_tasks {
        inner.hang_tasks = n;
    }
    if let Some(n) = f.slow_tasks {
        inner.slow_tasks = n;
        inner.slow_ms = f.slow_ms.unwrap_or(5000);
    }
    if let Some(n) = f.create_errors {
        inner.create_errors = n;
        inner.create_error_code = f.create_error_code.unwrap_or(500);
    }
    StatusCode::NO_CONTENT
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_admits_exactly_the_limit() {
        let mut log = VecDeque::new();
        let t0 = Instant::now();
        for i in 0..CREATE_LIMIT {
            assert_eq!(admit(&mut log, t0, CREATE_WINDOW, CREATE_LIMIT), Some(i + 1));
        }
        assert_eq!(admit(&mut log, t0 + Duration::from_secs(9), CREATE_WINDOW, CREATE_LIMIT), None);
        assert!(admit(&mut log, t0 + CREATE_WINDOW, CREATE_WINDOW, CREATE_LIMIT).is_some());
    }
}
