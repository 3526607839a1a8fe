//! The editor chat as the session keeps it, and the queue of chat turns.
//!
//! The session is the only writer of its user's chat: every change is applied to the cached
//! copy, written (trimmed) to `chat_history`, and only then announced as `chat.message` frames.
//!
//! A chat *turn* (one user message and the assistant's answer) is slow, so it runs in a task the
//! session spawns and watches; turns run one at a time in arrival order (each sees the answers
//! before it), and at most `chat.max_pending` run or wait. A turn whose caller went away before
//! it started is dropped unpaid; once started it runs to the end (its hold is always settled and
//! its answer always lands in the chat). The task's end, however it ends (answer, failure,
//! panic), is reported back (`TurnFinished`), which starts the next turn. "Start over" waits in
//! the same queue, so an answer can never land in the new chat.

use std::collections::VecDeque;

use ractor::ActorRef;
use serde::Serialize;
use uuid::Uuid;

use super::{Reply, SessionActor, SessionError, SessionMsg, SessionState};
use crate::actors::chat::{ChatChange, apply};
use crate::actors::events::Event;
use crate::db::chat::{self as chat_db, Chat};
use crate::db::generations as gen_db;
use crate::domain::chat::ChatMessage;
use crate::domain::errors::ErrorCode;
use crate::domain::i18n::Lang;

/// A photo of the user that can become the chat's current image.
#[derive(Debug, Clone, Copy)]
pub enum ImageRef {
    /// A finished generation's result.
    Generation(Uuid),
    /// An uploaded photo.
    Upload(Uuid),
}

/// One user message to the assistant.
#[derive(Debug, Clone)]
pub struct TurnRequest {
    /// Already cleaned and length-checked by the caller.
    pub text: String,
    /// A new photo to edit (it becomes the chat's current image).
    pub upload_id: Option<Uuid>,
    pub lang: Lang,
}

/// What a turn produced: the user's message and the assistant's (an answer, a refusal or a
/// failure explained), and whether the credit was spent.
#[derive(Debug, Clone, Serialize)]
pub struct TurnOutcome {
    pub user_message: ChatMessage,
    pub message: ChatMessage,
    pub charged: bool,
}

enum Queued {
    Turn(Box<TurnRequest>, Reply<TurnOutcome>),
    Clear(Reply<()>),
}

/// Turns waiting, and the one running.
#[derive(Default)]
pub(super) struct TurnQueue {
    waiting: VecDeque<Queued>,
    running: Option<u64>,
    next_id: u64,
}

impl TurnQueue {
    pub(super) fn is_empty(&self) -> bool {
        self.waiting.is_empty() && self.running.is_none()
    }

    /// Forgets waiting turns whose callers went away (they were never charged).
    fn drop_abandoned(&mut self) {
        self.waiting.retain(|q| match q {
            Queued::Turn(_, reply) => !reply.is_closed(),
            Queued::Clear(_) => true,
        });
    }

    fn pending(&self) -> usize {
        self.waiting.len() + usize::from(self.running.is_some())
    }
}

impl SessionActor {
    /// The chat, loaded from the database on first use.
    pub(super) async fn chat<'s>(&self, state: &'s mut SessionState) -> Result<&'s Chat, SessionError> {
        if state.chat.is_none() {
            state.chat = Some(chat_db::load(&self.services().pool, state.user).await?);
        }
        Ok(state.chat.get_or_insert_with(Chat::default))
    }

    /// Writes a change of the chat: read, changed and written under the row's lock (so a change
    /// made by this user's session on another node of a cluster is never overwritten), then kept
    /// as the cache here and announced to the other nodes' sessions.
    async fn change_chat(
        &self,
        state: &mut SessionState,
        change: impl FnOnce(&mut Chat),
    ) -> Result<Chat, SessionError> {
        let keep = self.services().settings.file.chat.history_size;
        match chat_db::modify(&self.services().pool, state.user, keep, change).await {
            Ok(chat) => {
                state.chat = Some(chat.clone());
                self.deps.sessions.chat_changed(state.user);
                Ok(chat)
            }
            Err(e) => {
                state.chat = None;
                Err(e.into())
            }
        }
    }

    /// Applies `change`, writes the trimmed chat, and only then sends its `chat.message` frames.
    pub(super) async fn chat_apply(&self, state: &mut SessionState, change: &ChatChange) -> Result<(), SessionError> {
        let keep = self.services().settings.file.chat.history_size;
        self.change_chat(state, |chat| apply(chat, change, keep)).await?;
        for message in &change.messages {
            let services = self.services();
            let ttl = services.settings.file.storage.signed_url_ttl_secs;
            let view = crate::actors::chat::message_view(&services.storage, ttl, message);
            self.publish(state, Event::ChatMessage(view).frame());
        }
        Ok(())
    }

    /// Makes a photo of the user the chat's current image, so the next edit builds on it: a
    /// finished result (an edit or a try-on: "go back to this version", "edit in chat") or an
    /// upload (a photo attached before writing what to do with it). Nothing is charged.
    pub(super) async fn set_current_image(
        &self,
        state: &mut SessionState,
        image: ImageRef,
    ) -> Result<Chat, SessionError> {
        let services = self.services();
        let key = match image {
            ImageRef::Generation(id) => {
                gen_db::get_for_user(&services.pool, state.user, id).await?.result_key.ok_or(ErrorCode::NotFinished)?
            }
            ImageRef::Upload(id) => {
                let rows = gen_db::live_uploads(&services.pool, state.user, &[id]).await?;
                rows.into_iter().next().ok_or(ErrorCode::UploadNotFound)?.storage_key
            }
        };
        if !services.storage.exists(&key).await.map_err(|_| SessionError::Unavailable)? {
            return Err(ErrorCode::ImageGone.into());
        }
        self.change_chat(state, |chat| chat.current_image = Some(key)).await
    }

    pub(super) async fn enqueue_turn(
        &self,
        myself: &ActorRef<SessionMsg>,
        state: &mut SessionState,
        request: TurnRequest,
        reply: Reply<TurnOutcome>,
    ) {
        let max = self.services().settings.file.chat.max_pending as usize;
        let queue = state.turns.get_or_insert_with(Default::default);
        queue.drop_abandoned();
        if queue.pending() >= max {
            let _ = reply.send(Err(SessionError::ChatBusy));
            return;
        }
        queue.waiting.push_back(Queued::Turn(Box::new(request), reply));
        self.advance(myself, state).await;
    }

    pub(super) async fn enqueue_clear(
        &self,
        myself: &ActorRef<SessionMsg>,
        state: &mut SessionState,
        reply: Reply<()>,
    ) {
        state.turns.get_or_insert_with(Default::default).waiting.push_back(Queued::Clear(reply));
        self.advance(myself, state).await;
    }

    pub(super) async fn turn_finished(&self, myself: &ActorRef<SessionMsg>, state: &mut SessionState, id: u64) {
        if let Some(queue) = state.turns.as_mut()
            && queue.running == Some(id)
        {
            queue.running = None;
        }
        self.advance(myself, state).await;
    }

    /// Runs what waits, in order, unless a turn is running: a "start over" at once, a turn in a
    /// task (the queue then waits for its `TurnFinished`).
    async fn advance(&self, myself: &ActorRef<SessionMsg>, state: &mut SessionState) {
        loop {
            let next = {
                let Some(queue) = state.turns.as_mut() else { return };
                if queue.running.is_some() {
                    return;
                }
                queue.drop_abandoned();
                queue.waiting.pop_front()
            };
            match next {
                None => {
                    state.turns = None;
                    return;
                }
                Some(Queued::Clear(reply)) => {
                    let result = Box::pin(chat_db::clear(&self.services().pool, state.user)).await;
                    state.chat = if result.is_ok() { Some(Chat::default()) } else { None };
                    self.deps.sessions.chat_changed(state.user);
                    let _ = reply.send(result.map_err(SessionError::from));
                }
                Some(Queued::Turn(request, reply)) => {
                    let Some(queue) = state.turns.as_mut() else { return };
                    queue.next_id += 1;
                    let id = queue.next_id;
                    queue.running = Some(id);
                    let deps = self.deps.clone();
                    let user = state.user;
                    let task = tokio::spawn(async move { super::turn::run(deps, user, *request, reply).await });
                    let me = myself.clone();
                    tokio::spawn(async move {
                        if let Err(e) = task.await {
                            tracing::error!(user.id = %user, error = %e, "a chat turn task failed");
                        }
                        let _ = me.cast(SessionMsg::TurnFinished(id));
                    });
                    return;
                }
            }
        }
    }
}
