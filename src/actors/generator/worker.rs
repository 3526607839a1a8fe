//! A worker: one job from its current durable state to its end. Submits the kie.ai task within
//! the provider budget (never twice: the task id is stored the moment it is returned, and a job
//! whose createTask may have been sent without an answer is refunded rather than re-sent), then
//! polls it (woken early by the callback) until it succeeds, fails or runs out of time.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use uuid::Uuid;

use super::{GenShared, result};
use crate::actors::events::{Event, JobStage};
use crate::clients::kie::{KieError, TaskState};
use crate::db::generations::{self as gen_db, GenerationRow};
use crate::db::types::GenerationStatus;
use crate::domain::errors::ErrorCode;
use crate::domain::images;

/// Drives job `id` (claimed in `running` by the pool, which releases the claim when this ends).
pub(super) async fn run_job(shared: Arc<GenShared>, id: Uuid) {
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
        result::fail(&shared, &row, ErrorCode::JobInternal).await;
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
pub(super) struct Timing {
    waiting: Duration,
}

impl Timing {
    pub(super) async fn wait<F: std::future::Future>(&mut self, f: F) -> F::Output {
        let start = Instant::now();
        let out = f.await;
        self.waiting += start.elapsed();
        out
    }
}

/// Why a job ended without a result; the code picks the user's message.
pub(super) struct Failure(pub(super) ErrorCode);

async fn drive(shared: &Arc<GenShared>, mut row: GenerationRow, timing: &mut Timing) -> Result<(), ()> {
    let settings = &shared.services.settings.file.generation;
    // The person photo's fingerprint (for the "handed back unchanged" check of the result) is
    // computed while kie.ai works, not after the result arrived. Dropping the handle (the job
    // ended otherwise) leaves the task to finish on its own: it is bounded and writes nothing.
    let before = result::fingerprint_input(shared, &row);
    let mut store_task = None;
    let task_id = match row.provider_task_id.clone() {
        Some(task) => task,
        None if row.stage.as_deref() == Some("creating") => {
            // createTask may have reached kie.ai before a crash: never risk a second task.
            result::fail(shared, &row, ErrorCode::ProviderUnknown).await;
            return Err(());
        }
        None => match submit(shared, &row, timing).await {
            Ok(task) => {
                // Stored the moment it is returned, while the first wait for kie.ai runs (the
                // write is awaited before anything that reads it; a crash before it lands
                // leaves the job in `creating`, refunded and never re-sent, as before).
                let pool = shared.services.pool.clone();
                let (id, stored_task) = (row.id, task.clone());
                store_task = Some(Box::pin(async move { gen_db::set_task(&pool, id, &stored_task).await }));
                tracing::info!(task.id = %task, "kie.ai task created");
                task
            }
            Err(Failure(code)) => {
                result::fail(shared, &row, code).await;
                return Err(());
            }
        },
    };
    shared
        .sessions
        .publish(row.user_id, Event::JobProgress { generation_id: row.id, stage: JobStage::Submitted }.frame());
    let notify = shared.wake.entry(row.id).or_insert_with(|| Arc::new(Notify::new())).clone();
    // kie.ai gets `max_wait_secs` from the task's creation (a job that waited in the queue
    // still gets its full time: the task is paid for once created).
    let submitted = row.submitted_at.unwrap_or_else(chrono::Utc::now);
    let deadline = submitted + chrono::Duration::seconds(settings.max_wait_secs as i64);
    let mut interval = Duration::from_millis(settings.poll_initial_ms);
    let mut errors = 0u32;
    loop {
        let wait = timing.wait(async {
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = notify.notified() => {}
            }
        });
        match store_task.take() {
            None => wait.await,
            Some(store) => {
                let ((), stored) = tokio::join!(wait, store);
                if let Err(e) = stored {
                    tracing::error!(error = %e, task.id = %task_id, "could not store the kie.ai task id");
                    result::fail(shared, &row, ErrorCode::JobInternal).await;
                    return Err(());
                }
                row.status = GenerationStatus::Submitted;
            }
        }
        interval = (interval.mul_f32(1.5)).min(Duration::from_millis(settings.poll_max_ms));
        if chrono::Utc::now() > deadline {
            result::fail(shared, &row, ErrorCode::ProviderTimeout).await;
            return Err(());
        }
        let slot = timing.wait(shared.limits.poll.acquire()).await;
        let answer = timing.wait(shared.services.kie.record_info(&task_id)).await;
        shared.limits.poll.finish(slot).await;
        match answer {
            Ok(TaskState::Queued) => {}
            Ok(TaskState::Generating) => {
                if row.status != GenerationStatus::Running
                    && gen_db::set_running(&shared.services.pool, row.id).await.unwrap_or(false)
                {
                    row.status = GenerationStatus::Running;
                    shared.sessions.publish(
                        row.user_id,
                        Event::JobProgress { generation_id: row.id, stage: JobStage::Generating }.frame(),
                    );
                }
            }
            Ok(TaskState::Success { result_urls }) => {
                let Some(url) = result_urls.first() else {
                    tracing::info!("kie.ai reported success without an image");
                    result::fail(shared, &row, ErrorCode::NoResult).await;
                    return Err(());
                };
                return match result::store_result(shared, &row, url, before, timing).await {
                    Ok(()) => Ok(()),
                    Err(Failure(code)) => {
                        result::fail(shared, &row, code).await;
                        Err(())
                    }
                };
            }
            Ok(TaskState::Fail { code, message }) => {
                tracing::info!(fail.code = %code, fail.message = %message, "kie.ai failed the task");
                let reason = if code == "422" { ErrorCode::ContentRejected } else { ErrorCode::GenerationFailed };
                result::fail(shared, &row, reason).await;
                return Err(());
            }
            Err(e) if e.is_retryable() && errors < 20 => {
                errors += 1;
                tracing::debug!(error = %e, "polling kie.ai failed; trying again");
            }
            Err(e) => {
                tracing::warn!(error = %e, "polling kie.ai failed for good");
                result::fail(shared, &row, ErrorCode::ProviderDown).await;
                return Err(());
            }
        }
    }
}

/// The output's aspect ratio: the listed ratio nearest to the main input (the person photo of a
/// try-on, the current image of an edit); `auto` when it cannot be read.
async fn aspect_of(shared: &Arc<GenShared>, key: Option<&str>) -> &'static str {
    let Some(key) = key else { return "auto" };
    match shared.services.storage.get(key).await {
        Ok(bytes) => match images::dimensions(&bytes) {
            Some((w, h)) => images::nearest_aspect_ratio(w, h),
            None => "auto",
        },
        Err(e) => {
            tracing::warn!(error = %e, "could not read the main input for its aspect ratio");
            "auto"
        }
    }
}

/// Sends createTask within the budget; retries only what cannot have created a task. The caller
/// stores the task id it returns.
async fn submit(shared: &Arc<GenShared>, row: &GenerationRow, timing: &mut Timing) -> Result<String, Failure> {
    let services = &shared.services;
    let settings = &services.settings.file;
    let now = chrono::Utc::now().timestamp();
    // An input that is a watermarked result of the user's is replaced by its clean master, so
    // edits chain on clean pictures (a user who pays later gets clean edits of earlier work).
    // Only results can have one (a try-on's inputs are all uploads: no query).
    let masters = if row.input_keys.iter().any(|k| k.starts_with("results/")) {
        gen_db::masters_of(&services.pool, row.user_id, &row.input_keys).await.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "could not look up clean masters; using the inputs as they are");
            Vec::new()
        })
    } else {
        Vec::new()
    };
    let keys: Vec<&str> = row
        .input_keys
        .iter()
        .map(|k| masters.iter().find(|(delivered, _)| delivered == k).map_or(k.as_str(), |(_, master)| master.as_str()))
        .collect();
    let urls: Vec<String> =
        keys.iter().map(|k| services.storage.signed_url(k, settings.storage.provider_url_ttl_secs, now)).collect();
    let image_size = aspect_of(shared, keys.first().copied()).await;
    let callback = format!("{}/webhooks/kie/{}", services.settings.public_base_url, row.callback_token);
    let max_attempts = settings.generation.max_attempts.max(1);
    for attempt in 1..=max_attempts {
        let slot = timing.wait(shared.limits.create.acquire()).await;
        // A job that waited longer than a generation may take (a backlog after an outage, or a
        // restart long after it was queued) is refunded before a task is paid for.
        if chrono::Utc::now() - row.created_at > chrono::Duration::seconds(settings.generation.max_wait_secs as i64) {
            shared.limits.create.cancel(slot).await;
            return Err(Failure(ErrorCode::ProviderTimeout));
        }
        match gen_db::mark_creating(&services.pool, row.id).await {
            Ok(true) => {}
            Ok(false) => return Err(Failure(ErrorCode::JobInternal)),
            Err(e) => {
                tracing::error!(error = %e, "could not mark a generation as being created");
                return Err(Failure(ErrorCode::JobInternal));
            }
        }
        let answer = timing.wait(services.kie.create_task(&row.prompt, &urls, image_size, &callback)).await;
        shared.limits.create.finish(slot).await;
        match answer {
            Ok(task) => {
                tracing::debug!(attempt, "createTask answered");
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
                return Err(Failure(ErrorCode::ProviderUnknown));
            }
            Err(KieError::Refused { code: 422, msg }) => {
                tracing::info!(msg = %msg, "kie.ai rejected the request");
                return Err(Failure(ErrorCode::ContentRejected));
            }
            Err(e) => {
                tracing::warn!(error = %e, "createTask failed");
                return Err(Failure(ErrorCode::ProviderDown));
            }
        }
    }
    Err(Failure(ErrorCode::ProviderDown))
}
