//! How a job ends: with a result (downloaded, checked, watermarked when the hold used free
//! credits, stored, hold committed, announced) or with a failure (recorded once, hold released,
//! the user told in their language, in the chat too for an edit). Either way the user's session
//! hears that the job ended, so its count of generations in flight stays exact.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

use super::GenShared;
use super::worker::{Failure, Timing};
use crate::actors::chat::ChatChange;
use crate::actors::events::{Event, JobStage};
use crate::db::generations::{self as gen_db, GenerationRow};
use crate::db::types::{GenerationKind, GenerationStatus};
use crate::domain::chat::ChatMessage;
use crate::domain::errors::ErrorCode;
use crate::domain::i18n::Lang;
use crate::domain::images::{self, Fingerprint, ImageFormat, ImageLimits};
use crate::storage::Storage;

/// Results larger than this are refused.
const MAX_RESULT_BYTES: usize = 30 * 1024 * 1024;

/// The fingerprint of a try-on's person photo, computed in the background (started when the job
/// starts, awaited by [`store_result`]); `None` for an edit (not checked) or an unreadable photo.
pub(super) fn fingerprint_input(
    shared: &Arc<GenShared>,
    row: &GenerationRow,
) -> Option<JoinHandle<Option<Fingerprint>>> {
    let key = row.input_keys.first().filter(|_| row.kind == GenerationKind::Tryon)?.clone();
    let storage = shared.services.storage.clone();
    let limits = image_limits(shared);
    Some(tokio::spawn(async move {
        let bytes = storage.get(&key).await.ok()?;
        tokio::task::spawn_blocking(move || {
            let format = images::sniff(&bytes)?;
            images::decode_limited(&bytes, format, limits).ok().map(|image| images::fingerprint(&image))
        })
        .await
        .ok()
        .flatten()
    }))
}

fn image_limits(shared: &GenShared) -> ImageLimits {
    let storage = &shared.services.settings.file.storage;
    ImageLimits {
        max_side: storage.max_image_side,
        max_pixels: storage.max_image_pixels,
        max_stored_side: storage.max_stored_side,
    }
}

/// A checked result's pictures still to store: the clean JPEG when the provider's was not one
/// (`None`: the downloaded bytes are it), and the watermarked copy of a free-tier result.
struct Checked {
    reencoded: Option<Vec<u8>>,
    marked: Option<Vec<u8>>,
}

/// Downloads, checks, watermarks when the hold used free credits, stores, settles, announces.
/// `before` is the person photo's fingerprint of a try-on ([`fingerprint_input`]).
pub(super) async fn store_result(
    shared: &Arc<GenShared>,
    row: &GenerationRow,
    url: &str,
    before: Option<JoinHandle<Option<Fingerprint>>>,
    timing: &mut Timing,
) -> Result<(), Failure> {
    let services = &shared.services;
    shared
        .sessions
        .publish(row.user_id, Event::JobProgress { generation_id: row.id, stage: JobStage::Finishing }.frame());
    let bytes = timing.wait(services.kie.download(url, MAX_RESULT_BYTES)).await.map_err(|e| {
        tracing::warn!(error = %e, "downloading the result failed");
        Failure(ErrorCode::ProviderDown)
    })?;
    let storage_settings = &services.settings.file.storage;
    let limits = image_limits(shared);
    let watermark = row.watermarked.then(|| shared.watermark.clone()).flatten();
    // A try-on must show the garment on the person: kie.ai sometimes hands the person's photo
    // back as it was, which is a failure, not a result. (Edits are not checked: a subtle edit
    // the user asked for, a blemish removed, may look unchanged at this scale.)
    let before = match before {
        Some(task) => task.await.ok().flatten(),
        None => None,
    };
    // Results are photos, asked from kie.ai as JPEG and stored as they come: decoding the result
    // is its check, re-encoding would only cost time and quality (a PNG, from a provider that
    // ignored the format, is encoded to JPEG once). A free-tier result is stored twice: the
    // clean master (what later edits chain on) and the watermarked copy every delivery path
    // (media link, download, send, share) hands out — its one encode is the main cost of this
    // step (BENCHMARKS.md, generator pool). A JPEG's clean bytes are final as they came, so they
    // are written while the picture is checked (and deleted if the check fails).
    let bytes = bytes::Bytes::from(bytes);
    let format = images::sniff(&bytes);
    let key = Storage::new_key("results", ImageFormat::Jpeg);
    let master_key = watermark.as_ref().map(|_| Storage::new_key("masters", ImageFormat::Jpeg));
    let clean_key = master_key.clone().unwrap_or_else(|| key.clone());
    let forget = || async {
        let _ = services.storage.delete(&key).await;
        if let Some(master_key) = &master_key {
            let _ = services.storage.delete(master_key).await;
        }
    };
    let clean_early = format == Some(ImageFormat::Jpeg);
    let early_store = async { if clean_early { services.storage.put(&clean_key, &bytes).await } else { Ok(()) } };
    let checked = tokio::task::spawn_blocking({
        let bytes = bytes.clone();
        move || -> Result<Checked, Failure> {
            let unusable = |e: String| {
                tracing::warn!(error = %e, "the provider's result is not a usable image");
                Failure(ErrorCode::GenerationFailed)
            };
            let format = format.ok_or_else(|| unusable("the result is not a JPEG or PNG".into()))?;
            let image = images::decode_limited(&bytes, format, limits).map_err(|e| unusable(e.to_string()))?;
            if before.is_some_and(|before| before.same_picture(&images::fingerprint(&image))) {
                tracing::info!("kie.ai returned the input unchanged");
                return Err(Failure(ErrorCode::UnchangedResult));
            }
            // `None`: the clean picture is the downloaded JPEG itself.
            let reencoded = if format == ImageFormat::Jpeg {
                None
            } else {
                Some(images::encode(&image, ImageFormat::Jpeg).map_err(|e| unusable(e.to_string()))?)
            };
            let marked = match &watermark {
                Some(mark) => {
                    let marked = mark.apply_owned(image);
                    Some(images::encode(&marked, ImageFormat::Jpeg).map_err(|e| unusable(e.to_string()))?)
                }
                None => None,
            };
            Ok(Checked { reencoded, marked })
        }
    });
    let (checked, early) = tokio::join!(checked, early_store);
    let Checked { reencoded, marked: delivered } =
        match checked.map_err(|_| Failure(ErrorCode::JobInternal)).and_then(|r| r) {
            Ok(done) => done,
            Err(failure) => {
                forget().await;
                return Err(failure);
            }
        };
    let master_len = reencoded.as_ref().map_or(bytes.len(), Vec::len);
    let stored = async {
        early?;
        if let Some(clean) = &reencoded {
            services.storage.put(&clean_key, clean).await?;
        }
        if let Some(marked) = &delivered {
            services.storage.put(&key, marked).await?;
        }
        Ok::<_, std::io::Error>(())
    };
    if let Err(e) = stored.await {
        tracing::error!(error = %e, "storing the result failed");
        forget().await;
        return Err(Failure(ErrorCode::JobInternal));
    }
    let result_bytes = delivered.as_ref().map_or(master_len, Vec::len) as i64;
    let master_ref = master_key.as_deref().map(|k| (k, master_len as i64));
    match gen_db::finish_success(&services.pool, row.id, &key, result_bytes, master_ref).await {
        Ok(true) => {}
        Ok(false) => {
            forget().await;
            return Ok(());
        }
        Err(e) => {
            tracing::error!(error = %e, "recording the result failed");
            forget().await;
            return Err(Failure(ErrorCode::JobInternal));
        }
    }
    let row = GenerationRow {
        status: GenerationStatus::Succeeded,
        result_key: Some(key.clone()),
        master_key: master_key.clone(),
        ..row.clone()
    };
    settle_hold(shared, &row).await;
    if row.kind == GenerationKind::Edit {
        // The session stores the message (the result becomes the current image, so the next
        // edit builds on it) before it announces it.
        let change = ChatChange {
            messages: vec![ChatMessage::edit_result(row.id, &key, row.watermarked, chrono::Utc::now())],
            current_image: Some(key.clone()),
        };
        if let Err(e) = shared.sessions.session(row.user_id).chat_apply(change).await {
            tracing::error!(error = %e, "could not add the edit to the chat");
        }
    }
    let url = services.storage.signed_path(&key, storage_settings.signed_url_ttl_secs, chrono::Utc::now().timestamp());
    shared.sessions.publish(
        row.user_id,
        Event::JobSucceeded { generation_id: row.id, kind: row.kind, result_url: url, watermarked: row.watermarked }
            .frame(),
    );
    // The Mini App is closed (no open socket): the bot brings the result to the chat.
    if let Err(e) = shared.sessions.session(row.user_id).deliver_if_offline(row.id).await {
        tracing::warn!(error = %e, "could not offer the result to the chat");
    }
    metrics::counter!("primerka_generations_total", "kind" => row.kind.as_str(), "outcome" => "succeeded").increment(1);
    Ok(())
}

/// Settles a finished job's hold: commit for a result, release (credits back) for a failure.
/// Retried, since an open hold of a finished job would otherwise wait for the next start-up.
pub(super) async fn settle_hold(shared: &Arc<GenShared>, row: &GenerationRow) {
    let Some(hold) = row.hold_id else {
        shared.sessions.job_ended(row.user_id, row.id);
        return;
    };
    let session = shared.sessions.session(row.user_id);
    for attempt in 0..5u32 {
        let result = if row.status == GenerationStatus::Succeeded {
            session.commit(hold).await.map(|_| ())
        } else {
            session.release(hold, row.error_code.unwrap_or(ErrorCode::GenerationFailed).as_str()).await.map(|_| ())
        };
        match result {
            Ok(()) => {
                shared.sessions.job_ended(row.user_id, row.id);
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, attempt, "settling a generation's hold failed; retrying");
                tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt + 1))).await;
            }
        }
    }
    tracing::error!(hold.id = %hold.0, "could not settle a generation's hold; start-up recovery will");
    // The job itself is finished (its row says so): it no longer counts as in flight.
    shared.sessions.job_ended(row.user_id, row.id);
}

/// Fails the job (once), returns its credits and tells the user in their language.
pub(super) async fn fail(shared: &Arc<GenShared>, row: &GenerationRow, code: ErrorCode) {
    let services = &shared.services;
    let lang = Lang::from_code(&crate::db::users::user_language(&services.pool, row.user_id).await.unwrap_or_default());
    let message = code.message(lang);
    match gen_db::finish_failure(&services.pool, row.id, code, message).await {
        Ok(true) => {}
        Ok(false) => return,
        Err(e) => {
            tracing::error!(error = %e, "recording a failed generation failed");
            return;
        }
    }
    let row = GenerationRow { status: GenerationStatus::Failed, error_code: Some(code), ..row.clone() };
    settle_hold(shared, &row).await;
    let credits_returned = row.hold_id.is_some();
    if row.kind == GenerationKind::Edit {
        let message = ChatMessage::error(code, message, Some(row.id), credits_returned, chrono::Utc::now());
        let change = ChatChange { messages: vec![message], current_image: None };
        if let Err(e) = shared.sessions.session(row.user_id).chat_apply(change).await {
            tracing::error!(error = %e, "could not add the failed edit to the chat");
        }
    }
    shared.sessions.publish(
        row.user_id,
        Event::JobFailed {
            generation_id: row.id,
            kind: row.kind,
            code,
            message: message.to_string(),
            credits_returned,
            refunded: if credits_returned { row.cost } else { 0 },
        }
        .frame(),
    );
    metrics::counter!("primerka_generations_total", "kind" => row.kind.as_str(), "outcome" => "failed").increment(1);
}
