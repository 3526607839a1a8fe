//! Generations as the session starts and ends them, and the user's actions on finished ones.
//!
//! Starting is the one way a generation comes to exist: the per-user cap (the session's own
//! set of unfinished ids), the pool's queue bound, the inputs (uploads of the user, or the chat's
//! variant and current image), then the generation row **and** its hold in one statement
//! (`db::credits::reserve`), then the pool. A refusal at any step leaves nothing behind.

use std::collections::HashSet;

use chrono::Utc;
use serde::Serialize;
use uuid::Uuid;

use super::{ReserveCmd, SessionActor, SessionError, SessionState};
use crate::actors::notifier::BotMessage;
use crate::db::DbError;
use crate::db::chat as chat_db;
use crate::db::generations::{self as gen_db, GenerationRow, NewGeneration};
use crate::db::types::{GenerationKind, GenerationStatus};
use crate::domain::errors::ErrorCode;
use crate::domain::i18n::{self, Lang};
use crate::domain::images::ImageFormat;
use crate::domain::text;

/// What to generate.
#[derive(Debug, Clone)]
pub enum StartJob {
    /// A try-on: the person photo first, then 1..=`generation.max_garments` items.
    TryOn { person_upload_id: Uuid, garment_upload_ids: Vec<Uuid>, category: String },
    /// An edit of the chat's current image with a variant's prompt (or the user's rewrite of it).
    Edit { variant_id: Uuid, prompt: Option<String> },
}

/// The answer to a start: the generation (new, or the same edit already running: `repeated`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
#[ts(export_to = "Accepted.ts")]
pub struct Accepted {
    pub generation_id: Uuid,
    pub status: GenerationStatus,
    pub cost: i32,
    pub watermarked: bool,
    /// A double tap (or a retried request) of an edit that is still running gets that edit, not
    /// a second charge.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    #[ts(as = "Option<bool>", optional)]
    pub repeated: bool,
}

impl Accepted {
    fn repeated(row: &GenerationRow) -> Self {
        Accepted {
            generation_id: row.id,
            status: row.status,
            cost: row.cost,
            watermarked: row.watermarked,
            repeated: true,
        }
    }
}

/// The inputs of a generation, resolved and checked.
struct Inputs {
    kind: GenerationKind,
    category: Option<String>,
    prompt: String,
    upload_ids: Vec<Uuid>,
    keys: Vec<String>,
    cost: i32,
}

impl SessionActor {
    /// The set of the user's unfinished generations, loaded on first use.
    async fn in_flight<'s>(&self, state: &'s mut SessionState) -> Result<&'s mut HashSet<Uuid>, SessionError> {
        if state.in_flight.is_none() {
            let ids = gen_db::unfinished_for_user(&self.services().pool, state.user).await?;
            state.in_flight = Some(ids.into_iter().collect());
        }
        Ok(state.in_flight.get_or_insert_with(HashSet::new))
    }

    pub(super) async fn start_generation(
        &self,
        state: &mut SessionState,
        job: StartJob,
    ) -> Result<Accepted, SessionError> {
        let services = self.services();
        // The inputs first: a request that cannot work is told so, whatever else is running.
        let inputs = match job {
            StartJob::TryOn { person_upload_id, garment_upload_ids, category } => {
                self.tryon_inputs(state, person_upload_id, garment_upload_ids, category).await?
            }
            StartJob::Edit { variant_id, prompt } => match self.edit_inputs(state, variant_id, prompt).await? {
                Ok(inputs) => inputs,
                Err(running) => return Ok(Accepted::repeated(&running)),
            },
        };
        let cap = services.settings.file.sessions.max_in_flight_generations as usize;
        if self.in_flight(state).await?.len() >= cap {
            // The database decides: an "ended" report may have been lost with a restart.
            state.in_flight = None;
            if self.in_flight(state).await?.len() >= cap {
                return Err(SessionError::InFlightLimit);
            }
        }
        if self.deps.generator.is_full() {
            return Err(SessionError::QueueFull);
        }
        let id = Uuid::new_v4();
        let callback_token = Uuid::new_v4().simple().to_string() + &Uuid::new_v4().simple().to_string();
        let cmd = ReserveCmd {
            cost: inputs.cost,
            purpose: inputs.kind.purpose().to_string(),
            key: format!("gen:{id}"),
            generation_id: Some(id),
        };
        let generation = NewGeneration {
            id,
            kind: inputs.kind,
            category: inputs.category,
            prompt: inputs.prompt.clone(),
            input_upload_ids: inputs.upload_ids,
            input_keys: inputs.keys.clone(),
            callback_token,
            max_unfinished: cap as i64,
        };
        let hold = match self.reserve(state, &cmd, Some(generation)).await {
            Ok(hold) => hold,
            // The unique index on unfinished edits: the same edit is running already.
            Err(SessionError::Db(DbError::Conflict { constraint })) if constraint.contains("one_unfinished_edit") => {
                return match chat_db::unfinished_edit(&services.pool, state.user, &inputs.prompt, &inputs.keys).await? {
                    Some(row) => Ok(Accepted::repeated(&row)),
                    None => Err(SessionError::Conflict),
                };
            }
            Err(e) => return Err(e),
        };
        self.in_flight(state).await?.insert(id);
        if let Err(e) = self.deps.generator.submit(id, state.user) {
            // The row and hold are durable: the pool's recovery picks the job up when it is back.
            tracing::error!(generation.id = %id, error = %e, "the generator pool is unavailable");
        }
        tracing::info!(generation.id = %id, kind = %inputs.kind, cost = inputs.cost, watermarked = hold.watermarked, "generation queued");
        Ok(Accepted {
            generation_id: id,
            status: GenerationStatus::Queued,
            cost: inputs.cost,
            watermarked: hold.watermarked,
            repeated: false,
        })
    }

    async fn tryon_inputs(
        &self,
        state: &SessionState,
        person: Uuid,
        garments: Vec<Uuid>,
        category: String,
    ) -> Result<Inputs, SessionError> {
        let services = self.services();
        let settings = &services.settings.file;
        let prompt = services.tryon_prompts.get(&category).ok_or(ErrorCode::InvalidCategory)?.to_string();
        if garments.is_empty() || garments.contains(&person) {
            return Err(SessionError::Invalid("garment_upload_ids"));
        }
        if garments.len() > settings.generation.max_garments {
            return Err(ErrorCode::TooManyGarments.into());
        }
        let mut ids = vec![person];
        ids.extend(garments);
        let rows = gen_db::live_uploads(&services.pool, state.user, &ids).await?;
        // In the order asked: the person first, then the garments.
        let keys = ids
            .iter()
            .map(|id| rows.iter().find(|r| r.id == *id).map(|r| r.storage_key.clone()))
            .collect::<Option<Vec<_>>>()
            .ok_or(ErrorCode::UploadNotFound)?;
        Ok(Inputs {
            kind: GenerationKind::Tryon,
            category: Some(category),
            prompt,
            upload_ids: ids,
            keys,
            cost: settings.credits.prices.tryon,
        })
    }

    /// The edit's inputs, or `Err(row)` when the very same edit is still running.
    async fn edit_inputs(
        &self,
        state: &mut SessionState,
        variant_id: Uuid,
        prompt: Option<String>,
    ) -> Result<Result<Inputs, GenerationRow>, SessionError> {
        let services = self.services();
        let settings = &services.settings.file;
        let chat = self.chat(state).await?;
        let variant =
            chat.messages.iter().flat_map(|m| m.variants()).find(|v| v.id == variant_id).ok_or(ErrorCode::NotFound)?;
        let prompt = match prompt {
            Some(p) => {
                text::require(&p, settings.chat.max_prompt_chars).map_err(|_| SessionError::Invalid("prompt"))?
            }
            None => variant.prompt.clone(),
        };
        let key = chat.current_image.clone().ok_or(ErrorCode::NoImage)?;
        // The photo may be gone (uploads expire, results can be deleted): say so before charging.
        if !services.storage.exists(&key).await.map_err(|e| {
            tracing::warn!(error = %e, "could not check the current image");
            SessionError::Unavailable
        })? {
            return Err(ErrorCode::ImageGone.into());
        }
        let keys = vec![key];
        if let Some(row) = chat_db::unfinished_edit(&services.pool, state.user, &prompt, &keys).await? {
            return Ok(Err(row));
        }
        Ok(Ok(Inputs {
            kind: GenerationKind::Edit,
            category: None,
            prompt,
            upload_ids: Vec::new(),
            keys,
            cost: settings.credits.prices.edit_generation,
        }))
    }

    pub(super) async fn delete_generation(&self, state: &mut SessionState, id: Uuid) -> Result<(), SessionError> {
        let services = self.services();
        let row = gen_db::get_for_user(&services.pool, state.user, id).await?;
        if !row.is_finished() {
            return Err(ErrorCode::NotFinished.into());
        }
        let keys = gen_db::soft_delete(&services.pool, state.user, id).await?;
        if !keys.is_empty() {
            self.delete_files(keys).await;
        }
        Ok(())
    }

    /// The bot sends the result to the user's chat, as a photo to look at and as the file itself
    /// (Telegram recompresses photos). The notifier reads the bytes when it sends.
    pub(super) async fn send_generation(
        &self,
        state: &mut SessionState,
        id: Uuid,
        lang: Lang,
    ) -> Result<(), SessionError> {
        let services = self.services();
        let row = gen_db::get_for_user(&services.pool, state.user, id).await?;
        let Some(key) = row.result_key else { return Err(ErrorCode::NotFinished.into()) };
        let format = ImageFormat::from_key(&key).unwrap_or(ImageFormat::Jpeg);
        let file_name = format!("primerka-{}.{}", row.id.simple(), format.extension());
        let caption = i18n::result_caption(lang).to_string();
        let chat = state.user.0;
        if !self.deps.notifier.send_media(chat, BotMessage::photo(&key, &file_name, Some(caption))) {
            return Err(SessionError::Rejected(ErrorCode::RateLimited));
        }
        self.deps.notifier.send_media(chat, BotMessage::document(&key, &file_name));
        Ok(())
    }

    /// Cancels a job still waiting in the pool's queue: the pool takes it out, fails it as
    /// `canceled` and releases its hold (beside the pool; the hold's release comes back to this
    /// session as a message, so it is not awaited here). A job a worker took may have a kie.ai
    /// task already: `not_cancellable`.
    pub(super) async fn cancel_generation(&self, state: &mut SessionState, id: Uuid) -> Result<(), SessionError> {
        let row = gen_db::get_for_user(&self.services().pool, state.user, id).await?;
        if row.is_finished() || row.provider_task_id.is_some() || row.status != GenerationStatus::Queued {
            return Err(ErrorCode::NotCancellable.into());
        }
        match self.deps.generator.cancel(id, state.user).await {
            Ok(true) => {
                tracing::info!(generation.id = %id, "generation cancelled while queued");
                Ok(())
            }
            Ok(false) => Err(ErrorCode::NotCancellable.into()),
            Err(e) => {
                tracing::warn!(error = %e, "the generator pool did not answer a cancel");
                Err(SessionError::Unavailable)
            }
        }
    }

    /// Stores the user's rating of a finished result (a later rating replaces it).
    pub(super) async fn rate_generation(
        &self,
        state: &mut SessionState,
        id: Uuid,
        rating: i16,
        reason: Option<String>,
    ) -> Result<(), SessionError> {
        let pool = &self.services().pool;
        if gen_db::set_rating(pool, state.user, id, rating, reason.as_deref()).await? {
            return Ok(());
        }
        // Not rated: no such generation of the user, or not a finished result.
        gen_db::get_for_user(pool, state.user, id).await?;
        Err(ErrorCode::NotFinished.into())
    }

    /// "Delete my data": the profile is cleared, photos and results hidden and their files
    /// deleted, the chat emptied. Ledger and payment rows stay (accounting).
    pub(super) async fn delete_my_data(&self, state: &mut SessionState) -> Result<(), SessionError> {
        let services = self.services();
        crate::db::users::clear_personal_data(&services.pool, state.user).await?;
        let keys = gen_db::forget_user_content(&services.pool, state.user).await?;
        state.chat = Some(Default::default());
        self.delete_files(keys).await;
        tracing::info!(user.id = %state.user, at = %Utc::now(), "user deleted their data");
        Ok(())
    }

    /// Deletes stored files before answering, so "deleted" means gone (the rows already say
    /// so; a file that cannot be deleted now is logged and its row keeps it out of every view).
    async fn delete_files(&self, keys: Vec<String>) {
        let storage = &self.services().storage;
        let deletes = keys.iter().map(|key| async move {
            if let Err(e) = storage.delete(key).await {
                tracing::warn!(error = %e, "could not delete a stored image");
            }
        });
        futures::future::join_all(deletes).await;
    }
}

/// The bot sends a finished result to a user who has no open socket: the photo with a button
/// that opens it in the Mini App (`?result=<id>`). Runs in a task the session spawns.
pub(super) async fn deliver_result(
    deps: std::sync::Arc<super::SessionDeps>,
    user: crate::domain::ids::UserId,
    id: Uuid,
) {
    let services = &deps.services;
    let Ok(row) = gen_db::get_for_user(&services.pool, user, id).await else { return };
    let Some(key) = row.result_key else { return };
    let lang = Lang::from_code(&crate::db::users::user_language(&services.pool, user).await.unwrap_or_default());
    let file_name = format!("primerka-{}.jpg", row.id.simple());
    let url = format!("{}/?result={}", services.settings.public_base_url.trim_end_matches('/'), row.id);
    let markup =
        serde_json::json!({"inline_keyboard": [[{"text": i18n::open_result_button(lang), "web_app": {"url": url}}]]});
    let message = BotMessage::Photo {
        media: crate::actors::notifier::StoredMedia { key, file_name },
        caption: Some(i18n::result_ready_caption(lang).to_string()),
        reply_markup: Some(markup),
    };
    if deps.notifier.send_media(user.0, message) {
        tracing::info!(generation.id = %id, "result sent to the chat of a user without an open app");
    }
}
