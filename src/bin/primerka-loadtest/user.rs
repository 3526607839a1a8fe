//! One simulated Mini App user, the flows it runs, and the end-of-run invariant checks.

use std::io::Cursor;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use futures::StreamExt;
use primerka::auth::init_data;
use rand::Rng;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::time::Instant as TokioInstant;
use tokio_tungstenite::tungstenite::Message;

use super::Options;
use super::stats::Stats;

pub const SCENARIOS: [&str; 4] = ["chat", "tryon", "buy", "idle"];

/// Shared by every virtual user.
pub struct Context {
    pub options: Options,
    pub http: reqwest::Client,
    pub stats: Arc<Stats>,
    secret: [u8; 32],
}

impl Context {
    pub fn new(options: Options, http: reqwest::Client, stats: Arc<Stats>) -> Self {
        let secret = init_data::secret_key(&options.bot_token);
        Context { options, http, stats, secret }
    }

    fn node_url(&self, node: usize, path: &str) -> String {
        let bases = &self.options.base_urls;
        format!("{}{}", bases[node % bases.len().max(1)], path)
    }

    /// The simulator's control routes (the shared simulator of a cluster, or the first node).
    fn sim_url(&self, path: &str) -> String {
        format!("{}{}", self.options.sim_url.as_deref().unwrap_or(&self.options.base_url), path)
    }

    /// The first node that answers `/readyz` (the end-of-run checks read through it).
    async fn live_node(&self) -> usize {
        for node in 0..self.options.base_urls.len() {
            if let Ok(r) = self.http.get(self.node_url(node, "/readyz")).send().await
                && r.status().is_success()
            {
                return node;
            }
        }
        0
    }

    /// Logs `telegram_id` in on `node` exactly like the Mini App inside Telegram would.
    async fn login_at(&self, node: usize, telegram_id: i64) -> anyhow::Result<String> {
        let user = json!({"id": telegram_id, "first_name": "Load", "last_name": format!("User {telegram_id}"), "language_code": "ru"});
        let init = init_data::sign_for_user(&user, chrono::Utc::now().timestamp(), &self.secret);
        let started = Instant::now();
        let response =
            self.http.post(self.node_url(node, "/api/auth/telegram")).json(&json!({"init_data": init})).send().await?;
        let body = self.json("login", started, response).await?;
        let token =
            body["token"].as_str().map(str::to_string).ok_or_else(|| anyhow!("login answered without a token"))?;
        self.accept_terms(node, &token, telegram_id).await?;
        Ok(token)
    }

    /// What a user does once before uploading or paying: accepts the documents and gives an
    /// e-mail for receipts.
    async fn accept_terms(&self, node: usize, token: &str, telegram_id: i64) -> anyhow::Result<()> {
        let started = Instant::now();
        let response = self.http.get(self.node_url(node, "/api/me/consents")).bearer_auth(token).send().await?;
        let consents = self.json("consents", started, response).await?;
        for (kind, version) in consents["versions"].as_object().cloned().unwrap_or_default() {
            let started = Instant::now();
            let body = json!({"kind": kind, "version": version});
            let response =
                self.http.post(self.node_url(node, "/api/me/consents")).bearer_auth(token).json(&body).send().await?;
            self.json("consent", started, response).await?;
        }
        let started = Instant::now();
        let contact = json!({"email": format!("load{telegram_id}@example.com")});
        let response =
            self.http.put(self.node_url(node, "/api/me/contact")).bearer_auth(token).json(&contact).send().await?;
        self.json("contact", started, response).await?;
        Ok(())
    }

    /// Reads a JSON reply, recording latency on success and the error code otherwise.
    async fn json(&self, op: &'static str, started: Instant, response: reqwest::Response) -> anyhow::Result<Value> {
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if status.is_success() {
            self.stats.ok(op, started.elapsed());
            Ok(body)
        } else {
            let code =
                body["error"]["code"].as_str().map(str::to_string).unwrap_or_else(|| status.as_u16().to_string());
            self.stats.error(op, code.clone());
            Err(ApiFailure { code }.into())
        }
    }
}

/// An API error answer (its stable code).
#[derive(Debug)]
pub struct ApiFailure {
    pub code: String,
}

impl std::fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "API error {}", self.code)
    }
}

impl std::error::Error for ApiFailure {}

fn api_code(err: &anyhow::Error) -> Option<&str> {
    err.downcast_ref::<ApiFailure>().map(|f| f.code.as_str())
}

/// What a user leaves behind for the invariant checks.
pub struct Outcome {
    pub token: String,
    pub generations: Vec<String>,
}

struct User {
    ctx: Arc<Context>,
    /// The node this user talks to (round-robin at start; the next one after a failure).
    node: usize,
    token: String,
    events: mpsc::Receiver<Value>,
    generations: Vec<String>,
    person_upload: Option<String>,
    /// The chat has a photo to edit (the assistant is asked only about a photo).
    chat_has_image: bool,
}

/// Runs one user until `deadline`.
pub async fn run(ctx: Arc<Context>, index: usize, deadline: TokioInstant) -> anyhow::Result<Outcome> {
    let telegram_id = ctx.options.first_id + index as i64;
    let nodes = ctx.options.base_urls.len().max(1);
    let mut node = index % nodes;
    // A node that is down at the start: the next one (as a proxy would).
    let mut attempt = 0;
    let (token, events) = loop {
        let opened = async {
            let token = ctx.login_at(node, telegram_id).await.context("login")?;
            let events = open_socket(&ctx, node, &token).await.context("websocket")?;
            Ok::<_, anyhow::Error>((token, events))
        }
        .await;
        match opened {
            Ok(pair) => break pair,
            Err(e) if attempt + 1 < nodes && is_transport(&e) => {
                attempt += 1;
                node = (node + 1) % nodes;
            }
            Err(e) => return Err(e),
        }
    };
    let mut user = User {
        ctx: ctx.clone(),
        node,
        token,
        events,
        generations: Vec::new(),
        person_upload: None,
        chat_has_image: false,
    };
    let weights: Vec<(String, u32)> = ctx.options.mix.iter().map(|(k, v)| (k.clone(), *v)).collect();
    let total: u32 = weights.iter().map(|(_, w)| w).sum();
    while TokioInstant::now() < deadline {
        let pick = rand::rng().random_range(0..total);
        let mut acc = 0;
        let scenario = weights.iter().find(|(_, w)| {
            acc += w;
            pick < acc
        });
        let name = scenario.map(|(n, _)| n.as_str()).unwrap_or("idle");
        let result = match name {
            "chat" => user.chat().await,
            "tryon" => user.tryon().await,
            "buy" => user.buy().await,
            _ => {
                tokio::time::sleep(Duration::from_secs(1)).await;
                Ok(())
            }
        };
        if let Err(e) = result {
            if is_transport(&e) {
                // The node stopped answering: reconnect (to the next node in a cluster), as the
                // Mini App (or a proxy) would.
                user.fail_over().await;
            } else if api_code(&e) == Some("insufficient_credits") {
                let _ = user.buy().await;
            } else if api_code(&e).is_none() {
                ctx.stats.error(scenario_op(name), format!("{e:#}"));
            }
        }
        let think = ctx.options.think.mul_f64(rand::rng().random_range(0.5..1.5));
        tokio::time::sleep(think).await;
    }
    Ok(Outcome { token: user.token, generations: user.generations })
}

/// A failure of the connection, not an answer: the node is down (or its socket went away).
fn is_transport(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause.downcast_ref::<reqwest::Error>().is_some_and(|e| e.is_connect() || e.is_timeout() || e.is_request())
            || cause.downcast_ref::<tokio_tungstenite::tungstenite::Error>().is_some()
            || cause.to_string() == "the socket closed"
    })
}

fn scenario_op(name: &str) -> &'static str {
    match name {
        "chat" => "chat_flow",
        "tryon" => "tryon_flow",
        "buy" => "buy_flow",
        _ => "idle",
    }
}

/// Opens `/ws` on `node` and forwards every JSON event to the returned channel.
async fn open_socket(ctx: &Context, node: usize, token: &str) -> anyhow::Result<mpsc::Receiver<Value>> {
    let ws_url = ctx.node_url(node, "").replacen("http", "ws", 1);
    let started = Instant::now();
    let (socket, _) = tokio_tungstenite::connect_async(format!("{ws_url}/ws?token={token}")).await?;
    ctx.stats.ok("ws_connect", started.elapsed());
    let (tx, rx) = mpsc::channel(256);
    let stats = ctx.stats.clone();
    tokio::spawn(async move {
        let (_sink, mut stream) = socket.split();
        while let Some(message) = stream.next().await {
            match message {
                Ok(Message::Text(text)) => {
                    if let Ok(event) = serde_json::from_str::<Value>(text.as_str()) {
                        // A full channel means nobody waits for events now: drop the oldest view.
                        let _ = tx.try_send(event);
                    }
                }
                Ok(Message::Close(frame)) => {
                    if let Some(frame) = frame.filter(|f| u16::from(f.code) != 1000) {
                        stats.error("ws", format!("closed {}", u16::from(frame.code)));
                    }
                    break;
                }
                Ok(_) => {}
                Err(_) => {
                    stats.error("ws", "transport");
                    break;
                }
            }
        }
    });
    Ok(rx)
}

/// A small JPEG with a pattern unique to `seed`.
fn jpeg(seed: u64, width: u32, height: u32) -> Vec<u8> {
    let image = image::RgbImage::from_fn(width, height, |x, y| {
        let r = ((x as u64 * 3).wrapping_add(seed.wrapping_mul(37)) % 256) as u8;
        let g = ((y as u64 * 2).wrapping_add(seed.wrapping_mul(11)) % 256) as u8;
        let b = (((x + y) as u64).wrapping_add(seed.wrapping_mul(5)) % 256) as u8;
        image::Rgb([r, g, b])
    });
    let mut out = Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(image)
        .write_to(&mut out, image::ImageFormat::Jpeg)
        .expect("encoding an in-memory RGB image as JPEG cannot fail");
    out.into_inner()
}

impl User {
    fn url(&self, path: &str) -> String {
        self.ctx.node_url(self.node, path)
    }

    /// Moves to the next node that takes the user's socket (the token is valid on every node:
    /// they share the signing secret; with one node, the same one once it is back); gives up
    /// after a round.
    async fn fail_over(&mut self) {
        let nodes = self.ctx.options.base_urls.len().max(1);
        for _ in 0..nodes.max(3) {
            self.node = (self.node + 1) % nodes;
            if let Ok(events) = open_socket(&self.ctx, self.node, &self.token).await {
                self.events = events;
                self.ctx.stats.ok("failover", Duration::ZERO);
                return;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        self.ctx.stats.error("failover", "no node answers");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }

    async fn post(&self, op: &'static str, path: &str, body: &Value) -> anyhow::Result<Value> {
        let started = Instant::now();
        let response = self.ctx.http.post(self.url(path)).bearer_auth(&self.token).json(body).send().await?;
        self.ctx.json(op, started, response).await
    }

    async fn get(&self, op: &'static str, path: &str) -> anyhow::Result<Value> {
        let started = Instant::now();
        let response = self.ctx.http.get(self.url(path)).bearer_auth(&self.token).send().await?;
        self.ctx.json(op, started, response).await
    }

    async fn upload(&self, seed: u64) -> anyhow::Result<String> {
        let part =
            reqwest::multipart::Part::bytes(jpeg(seed, 384, 512)).file_name("photo.jpg").mime_str("image/jpeg")?;
        let form = reqwest::multipart::Form::new().part("file", part);
        let started = Instant::now();
        let response =
            self.ctx.http.post(self.url("/api/uploads")).bearer_auth(&self.token).multipart(form).send().await?;
        let body = self.ctx.json("upload", started, response).await?;
        body["upload_id"].as_str().map(str::to_string).ok_or_else(|| anyhow!("upload answered without an id"))
    }

    async fn person(&mut self) -> anyhow::Result<String> {
        if let Some(id) = &self.person_upload {
            return Ok(id.clone());
        }
        let seed: u64 = rand::rng().random();
        let id = self.upload(seed).await?;
        self.person_upload = Some(id.clone());
        Ok(id)
    }

    /// Waits for `job.succeeded`/`job.failed` of `generation` (or polls if the socket is quiet).
    async fn wait_job(&mut self, generation: &str, op: &'static str, started: Instant) -> anyhow::Result<()> {
        let limit = TokioInstant::now() + Duration::from_secs(600);
        loop {
            let next = tokio::time::timeout(Duration::from_secs(5), self.events.recv()).await;
            let done = match next {
                Ok(Some(event)) if event["data"]["generation_id"] == generation => match event["type"].as_str() {
                    Some("job.succeeded") => Some(Ok(())),
                    Some("job.failed") => Some(Err(event["data"]["code"].as_str().unwrap_or("job_failed").to_string())),
                    _ => None,
                },
                Ok(Some(_)) => None,
                Ok(None) => bail!("the socket closed"),
                Err(_) => {
                    let g = self.get("generation_poll", &format!("/api/generations/{generation}")).await?;
                    match g["status"].as_str() {
                        Some("succeeded") => Some(Ok(())),
                        Some("failed") => Some(Err(g["error"]["code"].as_str().unwrap_or("job_failed").to_string())),
                        _ => None,
                    }
                }
            };
            match done {
                Some(Ok(())) => {
                    self.ctx.stats.ok(op, started.elapsed());
                    return Ok(());
                }
                Some(Err(code)) => {
                    self.ctx.stats.error(op, code);
                    return Ok(());
                }
                None if TokioInstant::now() > limit => bail!("generation {generation} did not finish in 10 minutes"),
                None => {}
            }
        }
    }

    async fn tryon(&mut self) -> anyhow::Result<()> {
        let person = self.person().await?;
        let seed: u64 = rand::rng().random();
        let garment = self.upload(seed).await?;
        let started = Instant::now();
        let body = json!({"person_upload_id": person, "garment_upload_ids": [garment], "category": "top"});
        let created = self.post("tryon_submit", "/api/tryon", &body).await?;
        let id = created["generation_id"]
            .as_str()
            .ok_or_else(|| anyhow!("try-on answered without a generation id"))?
            .to_string();
        self.generations.push(id.clone());
        self.wait_job(&id, "tryon_end_to_end", started).await
    }

    async fn chat(&mut self) -> anyhow::Result<()> {
        let mut body = json!({"text": "сделай фон пляжем на закате"});
        // The first message of a chat carries a photo (nothing is charged without one), later
        // ones sometimes a new one.
        let attach = !self.chat_has_image || rand::rng().random_bool(0.3);
        if attach {
            body["upload_id"] = json!(self.person().await?);
        }
        let answer = self.post("chat_message", "/api/chat/messages", &body).await?;
        self.chat_has_image = true;
        let variant =
            answer["variants"].as_array().and_then(|v| v.first()).and_then(|v| v["id"].as_str()).map(str::to_string);
        if let Some(variant) = variant {
            let started = Instant::now();
            let created =
                self.post("edit_submit", &format!("/api/chat/variants/{variant}/generate"), &json!({})).await?;
            if let Some(id) = created["generation_id"].as_str() {
                self.generations.push(id.to_string());
                let id = id.to_string();
                self.wait_job(&id, "edit_end_to_end", started).await?;
            }
        }
        Ok(())
    }

    /// Buys a pack: starts a YooKassa payment, pays on the simulated confirmation page, and
    /// waits for the credits to arrive over the WebSocket.
    async fn buy(&mut self) -> anyhow::Result<()> {
        let started = Instant::now();
        let payment =
            self.post("payment_create", "/api/payments", &json!({"product": "pack_100", "rail": "yookassa"})).await?;
        let url = payment["confirmation_url"]
            .as_str()
            .ok_or_else(|| anyhow!("payment answered without a confirmation URL"))?;
        let provider_id = url.split('?').next().unwrap_or("").rsplit('/').next().unwrap_or("").to_string();
        // The simulator that issued the page (a cluster's shared one, or the node's own).
        let sim = url.split("/sim/").next().unwrap_or("");
        let pay = self.ctx.http.post(format!("{sim}/sim/yookassa/payments/{provider_id}/succeed")).send().await?;
        if !pay.status().is_success() {
            self.ctx.stats.error("buy_flow", format!("simulator pay {}", pay.status()));
            return Ok(());
        }
        let limit = TokioInstant::now() + Duration::from_secs(60);
        while TokioInstant::now() < limit {
            match tokio::time::timeout(Duration::from_secs(5), self.events.recv()).await {
                Ok(Some(event)) if event["type"] == "payment.succeeded" => {
                    self.ctx.stats.ok("buy_end_to_end", started.elapsed());
                    return Ok(());
                }
                Ok(Some(_)) | Err(_) => {}
                Ok(None) => bail!("the socket closed"),
            }
        }
        self.ctx.stats.error("buy_end_to_end", "no payment.succeeded within 60 s");
        Ok(())
    }
}

/// kie.ai's tasks as the simulator counts them (before a run, so the check counts only the run's).
pub async fn kie_creates(ctx: &Context) -> u64 {
    match ctx.http.get(ctx.sim_url("/sim/kie/_control/stats")).send().await {
        Ok(r) if r.status().is_success() => {
            r.json::<Value>().await.ok().and_then(|v| v["creates"].as_u64()).unwrap_or(0)
        }
        _ => 0,
    }
}

/// The end-of-run checks; `{"ok": bool, …}`. `creates_before`: kie.ai's task count when the run
/// started (the simulator may have served others before).
pub async fn check_invariants(
    ctx: &Context,
    tokens: &[String],
    generations: &[(String, String)],
    creates_before: u64,
) -> Value {
    let mut problems: Vec<String> = Vec::new();

    // Read through a node that answers (in a cluster drill one may have been killed).
    let node = ctx.live_node().await;
    let url = |path: &str| ctx.node_url(node, path);
    // Every generation ends succeeded, or failed with its credits refunded.
    let settle_until = TokioInstant::now() + ctx.options.settle;
    let (mut succeeded, mut refunded) = (0u64, 0u64);
    for (token, id) in generations {
        loop {
            let g: Value = match ctx.http.get(url(&format!("/api/generations/{id}"))).bearer_auth(token).send().await {
                Ok(r) => r.json().await.unwrap_or(Value::Null),
                Err(_) => Value::Null,
            };
            match g["status"].as_str() {
                Some("succeeded") => {
                    succeeded += 1;
                    break;
                }
                Some("failed") if g["refunded"] == true => {
                    refunded += 1;
                    break;
                }
                Some("failed") => {
                    problems.push(format!("generation {id} failed without a refund"));
                    break;
                }
                _ if TokioInstant::now() > settle_until => {
                    problems.push(format!("generation {id} still {} after the settle time", g["status"]));
                    break;
                }
                _ => tokio::time::sleep(Duration::from_millis(500)).await,
            }
        }
    }

    // No negative balance.
    let mut negative = 0;
    for token in tokens {
        if let Ok(response) = ctx.http.get(url("/api/me")).bearer_auth(token).send().await {
            let me: Value = response.json().await.unwrap_or(Value::Null);
            let b = &me["balance"];
            if ["free", "subscription", "purchased"].iter().any(|k| b[*k].as_i64().unwrap_or(0) < 0) {
                negative += 1;
            }
        }
    }
    if negative > 0 {
        problems.push(format!("{negative} users with a negative balance"));
    }

    // The ledger check, as the operator runs it.
    let ledger = async {
        let token = ctx.login_at(node, ctx.options.admin_id).await?;
        let check: Value =
            ctx.http.get(url("/api/admin/ledger/check")).bearer_auth(&token).send().await?.json().await?;
        Ok::<Value, anyhow::Error>(check)
    }
    .await;
    match &ledger {
        Ok(check) if check["ok"] == true => {}
        Ok(check) => problems.push(format!("ledger check: {}", check["differences"])),
        Err(e) => problems.push(format!("ledger check unavailable (is --admin-id in ADMIN_TELEGRAM_IDS?): {e:#}")),
    }

    // kie.ai's limits as the simulator saw them.
    let kie = match ctx.http.get(ctx.sim_url("/sim/kie/_control/stats")).send().await {
        Ok(r) if r.status().is_success() => r.json::<Value>().await.unwrap_or(Value::Null),
        _ => Value::Null,
    };
    let wants_kie = !generations.is_empty();
    if wants_kie {
        let max_window = kie["max_creates_in_window"].as_u64();
        let rejected = kie["rejected_creates"].as_u64().unwrap_or(0) + kie["rejected_polls"].as_u64().unwrap_or(0);
        match max_window {
            Some(max) if max <= 20 && rejected == 0 => {}
            Some(max) => {
                problems.push(format!("kie limits exceeded: {max} creates in one window, {rejected} answered 429"))
            }
            None => problems.push("kie simulator stats unavailable".into()),
        }
        // One task per generation at most (a job resumed by another node polls its stored
        // task; it never creates a second one): the tasks created during this run.
        let creates = kie["creates"].as_u64().unwrap_or(0).saturating_sub(creates_before);
        if creates > generations.len() as u64 {
            problems.push(format!(
                "{creates} kie.ai tasks for {} generations: a job was submitted twice",
                generations.len()
            ));
        }
    }

    json!({
        "ok": problems.is_empty(),
        "problems": problems,
        "generations": {"total": generations.len(), "succeeded": succeeded, "refunded": refunded},
        "ledger_check": ledger.ok(),
        "kie": kie,
    })
}
