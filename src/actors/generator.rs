//! `GeneratorPool` (DESIGN §3): runs generations against kie.ai for the whole process.
//!
//! - The pool actor owns the queue: one FIFO per user, served round-robin so one user's
//!   backlog never starves another; it reports queue positions (`job.queued`) and starts at
//!   most `generation.workers` jobs at once, each as a worker task it watches.
//! - A worker drives one job through the durable states in `db::generations`: submit
//!   (`createTask` within the provider budget, retried on 429/455/connection errors with
//!   backoff and jitter), poll `recordInfo` (woken early by the kie.ai callback), download,
//!   watermark when the hold says so, store, settle the hold, announce. Every state change is
//!   written before it is announced.
//! - A worker that panics is replaced and its job re-queued (the job's database state makes
//!   re-running it safe); after `max_attempts` crashes the job is failed and refunded.
//! - On (re)start the pool re-queues every unfinished job from the database and settles holds
//!   of finished jobs a crash left open. A job whose `createTask` may have been sent but whose
//!   task id was never stored is failed and refunded rather than submitted twice.
//! - [`ProviderLimits`] are sliding windows shared by all workers: kie.ai never sees more than
//!   `create_per_window` creates per window or `polls_per_second` polls per second.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dashmap::DashMap;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use serde_json::json;
use tokio::sync::{Mutex, Notify};
use uuid::Uuid;

use super::Services;
use super::chat::{self, ChatChange};
use super::events::frame;
use super::registry::SessionRegistryHandle;
use super::supervisor::ActorSlot;
use crate::clients::kie::{KieError, TaskState};
use crate::db::generations::{self as gen_db, GenerationRow};
use crate::domain::i18n::{self, Lang};
use crate::domain::ids::UserId;
use crate::domain::images::{self, ImageLimits};
use crate::domain::watermark::Watermark;
use crate::storage::{ImageFormat, Storage};

/// Results larger than this are refused.
const MAX_RESULT_BYTES: usize = 30 * 1024 * 1024;

/// Added to every window so network jitter never makes the provider count one request too
/// many at the edge of its own window.
const WINDOW_MARGIN: Duration = Duration::from_millis(50);

/// A sliding-window budget: at most `limit` acquisitions in any `window`.
pub struct SlidingWindow {
    limit: usize,
    window: Duration,
    /// (stamp, answered): a slot in flight is never dropped; an answered one is dropped a full
    /// window after its answer.
    log: Mutex<VecDeque<(Instant, bool)>>,
    /// Waiters take their turn first-come first-served (tokio's mutex is fair), so under a
    /// backlog no job waits for a slot while later ones keep taking them.
    turn: Mutex<()>,
}

impl SlidingWindow {
    pub fn new(limit: usize, window: Duration) -> Self {
        SlidingWindow { limit: limit.max(1), window, log: Mutex::new(VecDeque::new()), turn: Mutex::new(()) }
    }

    /// Waits until a slot is free, then takes it; returns the slot's stamp for [`Self::finish`].
    pub async fn acquire(&self) -> Instant {
        let _turn = self.turn.lock().await;
        loop {
            let wait = {
                let mut log = self.log.lock().await;
                let now = Instant::now();
                while log
                    .front()
                    .is_some_and(|(t, done)| *done && now.duration_since(*t) >= self.window + WINDOW_MARGIN)
                {
                    log.pop_front();
                }
                if log.len() < self.limit {
                    log.push_back((now, false));
                    return now;
                }
                // The oldest slot frees when it leaves the window (or, in flight, soon after).
                match log[0] {
                    (t, true) => (self.window + WINDOW_MARGIN).saturating_sub(now.duration_since(t)),
                    (_, false) => Duration::from_millis(20),
                }
            };
            tokio::time::sleep(wait).await;
        }
    }

    /// The request of slot `stamp` got its answer: the provider counted it at some moment up to
    /// now, so the slot is held a full window from now (a slow request can never make two
    /// windows overlap at the provider).
    pub async fn finish(&self, stamp: Instant) {
        let mut log = self.log.lock().await;
        if let Some(slot) = log.iter_mut().find(|(t, done)| *t == stamp && !*done) {
            *slot = (Instant::now(), true);
        }
        // Answered slots in answer order; in-flight ones (older stamps) stay in front.
        log.make_contiguous().sort_by_key(|(t, done)| (*done, *t));
    }

    /// Gives back slot `stamp` unused (no request was sent).
    pub async fn cancel(&self, stamp: Instant) {
        let mut log = self.log.lock().await;
        if let Some(i) = log.iter().position(|(t, done)| *t == stamp && !*done) {
            log.remove(i);
        }
    }
}

/// kie.ai's account-wide budgets, shared by every worker.
pub struct ProviderLimits {
    pub create: SlidingWindow,
    pub poll: SlidingWindow,
}

/// State shared by the pool actor (across restarts) and its workers.
pub struct GenShared {
    services: Arc<Services>,
    sessions: SessionRegistryHandle,
    limits: ProviderLimits,
    /// Jobs a worker is driving right now (a job never has two drivers).
    running: DashMap<Uuid, ()>,
    /// Wakes a polling worker early (kie.ai callback).
    wake: DashMap<Uuid, Arc<Notify>>,
    watermark: Option<Watermark>,
    /// Jobs waiting in the pool's queue (kept by the pool; read by `GeneratorHandle::is_full`).
    queued_len: std::sync::atomic::AtomicUsize,
}

pub enum GenMsg {
    /// Queue a job (its row and hold exist).
    Submit { id: Uuid, user: UserId },
    /// A worker ended; `panicked` re-queues the job.
    Done { id: Uuid, user: UserId, panicked: bool },
}

pub struct GeneratorPool {
    pub shared: Arc<GenShared>,
}

pub struct PoolState {
    queues: HashMap<UserId, VecDeque<Uuid>>,
    users: VecDeque<UserId>,
    queued: HashSet<Uuid>,
    in_flight: usize,
    crashes: HashMap<Uuid, u32>,
}

impl PoolState {
    fn push(&mut self, id: Uuid, user: UserId) -> bool {
        if !self.queued.insert(id) {
            return false;
        }
        let queue = self.queues.entry(user).or_default();
        if queue.is_empty() {
            self.users.push_back(user);
        }
        queue.push_back(id);
        true
    }

    /// The next job in fair (round-robin between users) order.
    fn pop(&mut self) -> Option<(Uuid, UserId)> {
        let user = self.users.pop_front()?;
        let queue = self.queues.get_mut(&user)?;
        let id = queue.pop_front()?;
        if queue.is_empty() {
            self.queues.remove(&user);
        } else {
            self.users.push_back(user);
        }
        self.queued.remove(&id);
        Some((id, user))
    }

    /// Every queued job with its 1-based position in dispatch order.
    fn positions(&self) -> Vec<(Uuid, UserId, usize)> {
        let mut out = Vec::new();
        let depth = self.queues.values().map(VecDeque::len).max().unwrap_or(0);
        for round in 0..depth {
            for user in &self.users {
                if let Some(id) = self.queues.get(user).and_then(|q| q.get(round)) {
                    out.push((*id, *user, out.len() + 1));
                }
            }
        }
        out
    }
}

impl Actor for GeneratorPool {
    type Msg = GenMsg;
    type State = PoolState;
    type Arguments = ();

    async fn pre_start(&self, myself: ActorRef<GenMsg>, _: ()) -> Result<PoolState, ActorProcessingErr> {
        let shared = self.shared.clone();
        // Recovery runs beside the actor so start-up is not held by the database.
        tokio::spawn(async move { recover(&shared, &myself).await });
        Ok(PoolState {
            queues: HashMap::new(),
            users: VecDeque::new(),
            queued: HashSet::new(),
            in_flight: 0,
            crashes: HashMap::new(),
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<GenMsg>,
        msg: GenMsg,
        state: &mut PoolState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            GenMsg::Submit { id, user } => {
                if self.shared.running.contains_key(&id) || !state.push(id, user) {
                    return Ok(());
                }
                let position = state.positions().iter().find(|(job, _, _)| *job == id).map_or(1, |(_, _, p)| *p);
                self.shared
                    .sessions
                    .publish(user, frame("job.queued", json!({"generation_id": id, "position": position})));
            }
            GenMsg::Done { id, user, panicked } => {
                state.in_flight = state.in_flight.saturating_sub(1);
                if panicked {
                    let crashes = state.crashes.entry(id).or_default();
                    *crashes += 1;
                    let max = self.shared.services.settings.file.generation.max_attempts;
                    if *crashes >= max {
                        state.crashes.remove(&id);
                        let shared = self.shared.clone();
                        tokio::spawn(async move {
                            if let Ok(row) = gen_db::get(&shared.services.pool, id).await {
                                fail(&shared, &row, "job_internal").await;
                            }
                        });
                    } else {
                        tracing::warn!(generation.id = %id, "a generator worker crashed; the job is queued again");
                        state.push(id, user);
                    }
                } else {
                    state.crashes.remove(&id);
                }
            }
        }
        self.dispatch(&myself, state);
        Ok(())
    }
}

impl GeneratorPool {
    fn dispatch(&self, myself: &ActorRef<GenMsg>, state: &mut PoolState) {
        let workers = self.shared.services.settings.file.generation.workers.max(1);
        let mut started = false;
        while state.in_flight < workers {
            let Some((id, user)) = state.pop() else { break };
            state.in_flight += 1;
            started = true;
            let shared = self.shared.clone();
            let pool = myself.clone();
            let worker = tokio::spawn(run_job(shared, id));
            tokio::spawn(async move {
                let panicked = worker.await.is_err();
                let _ = pool.cast(GenMsg::Done { id, user, panicked });
            });
        }
        if started {
            for (id, user, position) in state.positions() {
                self.shared
                    .sessions
                    .publish(user, frame("job.queued", json!({"generation_id": id, "position": position})));
            }
        }
        self.shared.queued_len.store(state.queued.len(), std::sync::atomic::Ordering::Relaxed);
        metrics::gauge!("primerka_generator_queued").set(state.queued.len() as f64);
        metrics::gauge!("primerka_generator_in_flight").set(state.in_flight as f64);
    }
}

/// Typed access to the pool.
#[derive(Clone)]
pub struct GeneratorHandle {
    slot: ActorSlot<GenMsg>,
    shared: Arc<GenShared>,
}

impl GeneratorHandle {
    /// Queues a job whose row and hold exist; returns its position (1 = next).
    pub fn submit(&self, id: Uuid, user: UserId) -> Result<(), ActorProcessingErr> {
        self.slot.get().cast(GenMsg::Submit { id, user }).map_err(|e| e.to_string().into())
    }

    /// The queue is at `generation.max_queue`: new work is refused ("busy, try again") before any
    /// credit is reserved, instead of the queue growing without limit.
    pub fn is_full(&self) -> bool {
        self.shared.queued_len.load(std::sync::atomic::Ordering::Relaxed)
            >= self.shared.services.settings.file.generation.max_queue
    }

    /// A provider callback arrived for `id`: poll it now rather than at the next interval.
    pub fn wake(&self, id: Uuid) {
        if let Some(notify) = self.shared.wake.get(&id) {
            notify.notify_one();
        }
    }
}

/// Builds the shared state, the pool's child spec and its handle.
pub fn build(
    services: Arc<Services>,
    sessions: SessionRegistryHandle,
) -> anyhow::Result<(Arc<GenShared>, ActorSlot<GenMsg>, GeneratorHandle)> {
    let g = &services.settings.file.generation;
    let watermark = match std::fs::read(&g.watermark_font_path) {
        Ok(font) => Some(Watermark::new(font, &g.watermark_text)?),
        Err(e) => anyhow::bail!("reading the watermark font {}: {e}", g.watermark_font_path.display()),
    };
    let limits = ProviderLimits {
        create: SlidingWindow::new(g.create_per_window, Duration::from_millis(g.create_window_ms)),
        poll: SlidingWindow::new(g.polls_per_second, Duration::from_secs(1)),
    };
    let shared = Arc::new(GenShared {
        services,
        sessions,
        limits,
        running: DashMap::new(),
        wake: DashMap::new(),
        watermark,
        queued_len: Default::default(),
    });
    let slot = ActorSlot::default();
    let handle = GeneratorHandle { slot: slot.clone(), shared: shared.clone() };
    Ok((shared, slot, handle))
}

async fn recover(shared: &Arc<GenShared>, pool: &ActorRef<GenMsg>) {
    let db = &shared.services.pool;
    match gen_db::finished_with_open_hold(db).await {
        Ok(rows) => {
            for row in rows {
                settle_hold(shared, &row).await;
            }
        }
        Err(e) => tracing::error!(error = %e, "could not list finished jobs with open holds"),
    }
    match gen_db::unfinished(db).await {
        Ok(jobs) => {
            if !jobs.is_empty() {
                tracing::info!(jobs = jobs.len(), "resuming unfinished generations");
            }
            for (id, user) in jobs {
                let _ = pool.cast(GenMsg::Submit { id, user });
            }
        }
        Err(e) => tracing::error!(error = %e, "could not list unfinished generations"),
    }
}

/// Removes the job from `running` when the worker ends, however it ends.
struct Claim<'a>(&'a GenShared, Uuid);

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        self.0.running.remove(&self.1);
        self.0.wake.remove(&self.1);
    }
}

async fn run_job(shared: Arc<GenShared>, id: Uuid) {
    if shared.running.insert(id, ()).is_some() {
        return;
    }
    let _claim = Claim(&shared, id);
    let row = match gen_db::get(&shared.services.pool, id).await {
        Ok(row) => row,
        Err(e) => {
            tracing::error!(generation.id = %id, error = %e, "could not load a generation");
            return;
        }
    };
    if row.is_finished() {
        return;
    }
    if row.hold_id.is_none() {
        // The reservation never completed (a crash between the two writes): nothing was paid.
        fail(&shared, &row, "job_internal").await;
        return;
    }
    let queued = (chrono::Utc::now() - row.created_at).to_std().unwrap_or_default();
    let span = tracing::info_span!("generation", generation.id = %id, user.id = %row.user_id);
    let started = Instant::now();
    let mut timing = Timing::default();
    let outcome = tracing::Instrument::instrument(drive(&shared, row, &mut timing), span).await;
    if outcome.is_ok() {
        // The service's own time: the worker's time minus waiting on kie.ai and its budget.
        let own = started.elapsed().saturating_sub(timing.waiting);
        metrics::histogram!("primerka_generation_own_seconds").record(own.as_secs_f64());
        metrics::histogram!("primerka_generation_provider_seconds").record(timing.waiting.as_secs_f64());
        metrics::histogram!("primerka_generation_queued_seconds").record(queued.as_secs_f64());
        tracing::info!(
            generation.id = %id,
            own_ms = own.as_secs_f64() * 1e3,
            waiting_ms = timing.waiting.as_secs_f64() * 1e3,
            queued_ms = queued.as_secs_f64() * 1e3,
            "generation timing"
        );
    }
}

/// Where a job's time went: `waiting` on kie.ai (its calls, the task itself, the result's
/// download) and on the provider budget; the rest of the worker's time is the service's own.
#[derive(Default)]
struct Timing {
    waiting: Duration,
}

impl Timing {
    async fn wait<F: std::future::Future>(&mut self, f: F) -> F::Output {
        let start = Instant::now();
        let out = f.await;
        self.waiting += start.elapsed();
        out
    }
}

/// Why a job ended without a result; the code picks the user's message.
struct Failure(&'static str);

async fn drive(shared: &Arc<GenShared>, mut row: GenerationRow, timing: &mut Timing) -> Result<(), ()> {
    let settings = &shared.services.settings.file.generation;
    let task_id = match row.provider_task_id.clone() {
        Some(task) => task,
        None if row.stage.as_deref() == Some("creating") => {
            // createTask may have reached kie.ai before a crash: never risk a second task.
            fail(shared, &row, "provider_unknown").await;
            return Err(());
        }
        None => match submit(shared, &row, timing).await {
            Ok(task) => task,
            Err(Failure(code)) => {
                fail(shared, &row, code).await;
                return Err(());
            }
        },
    };
    shared.sessions.publish(row.user_id, frame("job.progress", json!({"generation_id": row.id, "stage": "submitted"})));
    let notify = shared.wake.entry(row.id).or_insert_with(|| Arc::new(Notify::new())).clone();
    // kie.ai gets `max_wait_secs` from the task's creation (a job that waited in the queue
    // still gets its full time: the task is paid for once created).
    let submitted = row.submitted_at.unwrap_or_else(chrono::Utc::now);
    let deadline = submitted + chrono::Duration::seconds(settings.max_wait_secs as i64);
    let mut interval = Duration::from_millis(settings.poll_initial_ms);
    let mut errors = 0u32;
    loop {
        timing
            .wait(async {
                tokio::select! {
                    _ = tokio::time::sleep(interval) => {}
                    _ = notify.notified() => {}
                }
            })
            .await;
        interval = (interval.mul_f32(1.5)).min(Duration::from_millis(settings.poll_max_ms));
        if chrono::Utc::now() > deadline {
            fail(shared, &row, "provider_timeout").await;
            return Err(());
        }
        let slot = timing.wait(shared.limits.poll.acquire()).await;
        let answer = timing.wait(shared.services.kie.record_info(&task_id)).await;
        shared.limits.poll.finish(slot).await;
        match answer {
            Ok(TaskState::Queued) => {}
            Ok(TaskState::Generating) => {
                if row.status != "running" && gen_db::set_running(&shared.services.pool, row.id).await.unwrap_or(false)
                {
                    row.status = "running".into();
                    shared.sessions.publish(
                        row.user_id,
                        frame("job.progress", json!({"generation_id": row.id, "stage": "generating"})),
                    );
                }
            }
            Ok(TaskState::Success { result_urls }) => {
                let Some(url) = result_urls.first() else {
                    tracing::info!("kie.ai reported success without an image");
                    fail(shared, &row, "no_result").await;
                    return Err(());
                };
                return match store_result(shared, &row, url, timing).await {
                    Ok(()) => Ok(()),
                    Err(Failure(code)) => {
                        fail(shared, &row, code).await;
                        Err(())
                    }
                };
            }
            Ok(TaskState::Fail { code, message }) => {
                tracing::info!(fail.code = %code, fail.message = %message, "kie.ai failed the task");
                let reason = if code == "422" { "content_rejected" } else { "generation_failed" };
                fail(shared, &row, reason).await;
                return Err(());
            }
            Err(e) if e.is_retryable() && errors < 20 => {
                errors += 1;
                tracing::debug!(error = %e, "polling kie.ai failed; trying again");
            }
            Err(e) => {
                tracing::warn!(error = %e, "polling kie.ai failed for good");
                fail(shared, &row, "provider_down").await;
                return Err(());
            }
        }
    }
}

/// Sends createTask within the budget; retries only what cannot have created a task.
async fn submit(shared: &Arc<GenShared>, row: &GenerationRow, timing: &mut Timing) -> Result<String, Failure> {
    let services = &shared.services;
    let settings = &services.settings.file;
    let now = chrono::Utc::now().timestamp();
    let urls: Vec<String> = row
        .input_keys
        .iter()
        .map(|k| services.storage.signed_url(k, settings.storage.provider_url_ttl_secs, now))
        .collect();
    let callback = format!("{}/webhooks/kie/{}", services.settings.public_base_url, row.callback_token);
    let max_attempts = settings.generation.max_attempts.max(1);
    for attempt in 1..=max_attempts {
        let slot = timing.wait(shared.limits.create.acquire()).await;
        // A job that waited longer than a generation may take (a backlog after an outage, or a
        // restart long after it was queued) is refunded before a task is paid for.
        if chrono::Utc::now() - row.created_at > chrono::Duration::seconds(settings.generation.max_wait_secs as i64) {
            shared.limits.create.cancel(slot).await;
            return Err(Failure("provider_timeout"));
        }
        match gen_db::mark_creating(&services.pool, row.id).await {
            Ok(true) => {}
            Ok(false) => return Err(Failure("job_internal")),
            Err(e) => {
                tracing::error!(error = %e, "could not mark a generation as being created");
                return Err(Failure("job_internal"));
            }
        }
        let answer = timing.wait(services.kie.create_task(&row.prompt, &urls, &callback)).await;
        shared.limits.create.finish(slot).await;
        match answer {
            Ok(task) => {
                // Stored the moment it is returned.
                if let Err(e) = gen_db::set_task(&services.pool, row.id, &task).await {
                    tracing::error!(error = %e, task.id = %task, "could not store the kie.ai task id");
                    return Err(Failure("job_internal"));
                }
                tracing::info!(task.id = %task, attempt, "kie.ai task created");
                return Ok(task);
            }
            Err(e) if e.is_retryable() && attempt < max_attempts => {
                let _ = gen_db::clear_creating(&services.pool, row.id).await;
                let base = Duration::from_millis(settings.generation.backoff_base_ms) * 2u32.pow(attempt - 1);
                let jitter = Duration::from_millis(rand::random::<u64>() % (base.as_millis() as u64 / 2 + 1));
                let wait = if matches!(e, KieError::RateLimited) {
                    Duration::from_millis(settings.generation.create_window_ms).max(base) + jitter
                } else {
                    base + jitter
                };
                tracing::warn!(error = %e, attempt, wait_ms = wait.as_millis() as u64, "createTask refused; retrying");
                timing.wait(tokio::time::sleep(wait)).await;
            }
            Err(e @ KieError::NoAnswer) => {
                tracing::warn!(error = %e, "createTask got no answer; the job is failed rather than risk a second task");
                return Err(Failure("provider_unknown"));
            }
            Err(KieError::Refused { code: 422, msg }) => {
                tracing::info!(msg = %msg, "kie.ai rejected the request");
                return Err(Failure("content_rejected"));
            }
            Err(e) => {
                tracing::warn!(error = %e, "createTask failed");
                return Err(Failure("provider_down"));
            }
        }
    }
    Err(Failure("provider_down"))
}

/// Downloads, checks, watermarks when the hold used free credits, stores, settles, announces.
async fn store_result(
    shared: &Arc<GenShared>,
    row: &GenerationRow,
    url: &str,
    timing: &mut Timing,
) -> Result<(), Failure> {
    let services = &shared.services;
    let bytes = timing.wait(services.kie.download(url, MAX_RESULT_BYTES)).await.map_err(|e| {
        tracing::warn!(error = %e, "downloading the result failed");
        Failure("provider_down")
    })?;
    let storage_settings = &services.settings.file.storage;
    let limits =
        ImageLimits { max_side: storage_settings.max_image_side, max_pixels: storage_settings.max_image_pixels };
    let watermark = row.watermarked.then(|| shared.watermark.clone()).flatten();
    // A try-on must show the garment on the person: kie.ai sometimes hands the person's photo
    // back as it was, which is a failure, not a result. (Edits are not checked: a subtle edit
    // the user asked for, a blemish removed, may look unchanged at this scale.)
    let original = match row.input_keys.first().filter(|_| row.kind == "tryon") {
        Some(key) => services.storage.get(key).await.ok(),
        None => None,
    };
    // Results are photos: stored as JPEG (quality 90), a tenth of a PNG's size and several times
    // faster to encode (see BENCHMARKS.md, generator pool).
    let encoded = tokio::task::spawn_blocking(move || -> Result<Vec<u8>, Failure> {
        let unusable = |e: String| {
            tracing::warn!(error = %e, "the provider's result is not a usable image");
            Failure("generation_failed")
        };
        let format = images::sniff(&bytes).ok_or_else(|| unusable("the result is not a JPEG or PNG".into()))?;
        let image = images::decode_limited(&bytes, format, limits).map_err(|e| unusable(e.to_string()))?;
        let before = original.and_then(|b| images::sniff(&b).and_then(|f| images::decode_limited(&b, f, limits).ok()));
        if before.is_some_and(|before| images::looks_unchanged(&before, &image)) {
            tracing::info!("kie.ai returned the input unchanged");
            return Err(Failure("unchanged_result"));
        }
        let image = match &watermark {
            Some(mark) => image::DynamicImage::ImageRgba8(mark.apply(&image)),
            None => image,
        };
        images::encode(&image, ImageFormat::Jpeg).map_err(|e| unusable(e.to_string()))
    })
    .await
    .map_err(|_| Failure("job_internal"))??;
    let key = Storage::new_key("results", ImageFormat::Jpeg);
    services.storage.put(&key, &encoded).await.map_err(|e| {
        tracing::error!(error = %e, "storing the result failed");
        Failure("job_internal")
    })?;
    match gen_db::finish_success(&services.pool, row.id, &key, encoded.len() as i64).await {
        Ok(true) => {}
        Ok(false) => {
            let _ = services.storage.delete(&key).await;
            return Ok(());
        }
        Err(e) => {
            tracing::error!(error = %e, "recording the result failed");
            let _ = services.storage.delete(&key).await;
            return Err(Failure("job_internal"));
        }
    }
    let row = GenerationRow { status: "succeeded".into(), result_key: Some(key.clone()), ..row.clone() };
    settle_hold(shared, &row).await;
    if row.kind == "edit" {
        // The session stores the message (the result becomes the current image, so the next
        // edit builds on it) before it announces it.
        let change = ChatChange {
            messages: vec![chat::result_message(row.id, &key, row.watermarked)],
            current_image: Some(key.clone()),
        };
        if let Err(e) = shared.sessions.session(row.user_id).chat_apply(change).await {
            tracing::error!(error = %e, "could not add the edit to the chat");
        }
    }
    let url = services.storage.signed_path(&key, storage_settings.signed_url_ttl_secs, chrono::Utc::now().timestamp());
    shared.sessions.publish(
        row.user_id,
        frame(
            "job.succeeded",
            json!({"generation_id": row.id, "kind": row.kind, "result_url": url, "watermarked": row.watermarked}),
        ),
    );
    metrics::counter!("primerka_generations_total", "kind" => row.kind.clone(), "outcome" => "succeeded").increment(1);
    Ok(())
}

/// Settles a finished job's hold: commit for a result, release (credits back) for a failure.
/// Retried, since an open hold of a finished job would otherwise wait for the next start-up.
async fn settle_hold(shared: &Arc<GenShared>, row: &GenerationRow) {
    let Some(hold) = row.hold_id else { return };
    let session = shared.sessions.session(row.user_id);
    for attempt in 0..5u32 {
        let result = if row.status == "succeeded" {
            session.commit(hold).await.map(|_| ())
        } else {
            session.release(hold, row.error_code.as_deref().unwrap_or("generation_failed")).await.map(|_| ())
        };
        match result {
            Ok(()) => {
                session.end_job();
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, attempt, "settling a generation's hold failed; retrying");
                tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt + 1))).await;
            }
        }
    }
    tracing::error!(hold.id = %hold.0, "could not settle a generation's hold; start-up recovery will");
}

/// Fails the job (once), returns its credits and tells the user in their language.
async fn fail(shared: &Arc<GenShared>, row: &GenerationRow, code: &'static str) {
    let services = &shared.services;
    let lang = Lang::from_code(&crate::db::users::user_language(&services.pool, row.user_id).await.unwrap_or_default());
    let message = i18n::error_message(code, lang);
    match gen_db::finish_failure(&services.pool, row.id, code, message).await {
        Ok(true) => {}
        Ok(false) => return,
        Err(e) => {
            tracing::error!(error = %e, "recording a failed generation failed");
            return;
        }
    }
    let row = GenerationRow { status: "failed".into(), error_code: Some(code.to_string()), ..row.clone() };
    settle_hold(shared, &row).await;
    let credits_returned = row.hold_id.is_some();
    if row.kind == "edit" {
        let message = json!({
            "id": Uuid::new_v4(),
            "role": "assistant",
            "kind": "error",
            "code": code,
            "text": message,
            "generation_id": row.id,
            "credits_returned": credits_returned,
            "created_at": chrono::Utc::now(),
        });
        let change = ChatChange { messages: vec![message], current_image: None };
        if let Err(e) = shared.sessions.session(row.user_id).chat_apply(change).await {
            tracing::error!(error = %e, "could not add the failed edit to the chat");
        }
    }
    shared.sessions.publish(
        row.user_id,
        frame(
            "job.failed",
            json!({
                "generation_id": row.id,
                "kind": row.kind,
                "code": code,
                "message": message,
                "credits_returned": credits_returned,
                "refunded": if credits_returned { row.cost } else { 0 },
            }),
        ),
    );
    metrics::counter!("primerka_generations_total", "kind" => row.kind.clone(), "outcome" => "failed").increment(1);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_queue_is_fair_between_users() {
        let mut state = PoolState {
            queues: HashMap::new(),
            users: VecDeque::new(),
            queued: HashSet::new(),
            in_flight: 0,
            crashes: HashMap::new(),
        };
        let (a, b) = (UserId(1), UserId(2));
        let a_jobs: Vec<Uuid> = (0..3).map(|_| Uuid::new_v4()).collect();
        let b_job = Uuid::new_v4();
        for id in &a_jobs {
            assert!(state.push(*id, a));
        }
        assert!(state.push(b_job, b));
        assert!(!state.push(b_job, b), "a job is queued once");
        let positions: Vec<_> = state.positions().into_iter().map(|(id, _, p)| (id, p)).collect();
        assert_eq!(positions, vec![(a_jobs[0], 1), (b_job, 2), (a_jobs[1], 3), (a_jobs[2], 4)]);
        let order: Vec<Uuid> = std::iter::from_fn(|| state.pop().map(|(id, _)| id)).collect();
        assert_eq!(order, vec![a_jobs[0], b_job, a_jobs[1], a_jobs[2]]);
    }

    #[tokio::test]
    async fn the_sliding_window_never_exceeds_its_limit() {
        let window = Arc::new(SlidingWindow::new(5, Duration::from_millis(200)));
        let stamps = Arc::new(std::sync::Mutex::new(Vec::new()));
        let tasks: Vec<_> = (0..12)
            .map(|_| {
                let (window, stamps) = (window.clone(), stamps.clone());
                tokio::spawn(async move {
                    let slot = window.acquire().await;
                    stamps.lock().unwrap().push(Instant::now());
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    window.finish(slot).await;
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        let mut stamps = stamps.lock().unwrap().clone();
        stamps.sort();
        for (i, t) in stamps.iter().enumerate() {
            let in_window =
                stamps[i..].iter().take_while(|s| s.duration_since(*t) < Duration::from_millis(200)).count();
            assert!(in_window <= 5, "{in_window} acquisitions inside one window");
        }
    }

    #[tokio::test]
    async fn a_cancelled_slot_is_free_again_at_once() {
        let window = SlidingWindow::new(1, Duration::from_secs(60));
        let slot = window.acquire().await;
        window.cancel(slot).await;
        let again = tokio::time::timeout(Duration::from_millis(200), window.acquire()).await;
        assert!(again.is_ok(), "an unused slot does not hold the budget");
    }

    #[tokio::test]
    async fn slots_go_to_waiters_in_arrival_order() {
        let window = Arc::new(SlidingWindow::new(1, Duration::from_millis(100)));
        let first = window.acquire().await;
        let order = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut waiters = Vec::new();
        for i in 0..4 {
            let (window, order) = (window.clone(), order.clone());
            waiters.push(tokio::spawn(async move {
                let slot = window.acquire().await;
                order.lock().unwrap().push(i);
                window.finish(slot).await;
            }));
            // Arrive one after another.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        window.finish(first).await;
        for w in waiters {
            w.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), vec![0, 1, 2, 3]);
    }
}
