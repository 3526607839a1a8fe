//! `SessionActor`: one per active user (DESIGN §3). It owns everything that is the user's and
//! changes: the credit holds (reserve, commit, release, through the credit writer), a cached copy
//! of the buckets, the generations in flight (the per-user cap), the editor chat (the last
//! messages and the current image) and the queue of chat turns. The user's open WebSockets are
//! not here: they register in the node's `SocketHub` (`actors/sockets.rs`), where the session
//! publishes, so a user who only listens keeps no session alive.
//! Every workflow that starts something paid for the user starts here:
//!
//! - `StartGeneration` (a try-on or a chat edit): checks, then writes the generation row and its
//!   hold in one statement, then hands the job to the `GeneratorPool` (`jobs.rs`).
//! - `ChatTurn`: one user message to the assistant; turns run one at a time, in order, each in a
//!   task this actor spawns and watches (`chat.rs`, `turn.rs`).
//!
//! It handles one message at a time, so one user's credit operations never race each other
//! here; the database guards the rest. Per-user limits are the actor's alone: the generations in
//! flight are a set of ids (loaded from the database when first needed, so a restart cannot leak
//! or forget one; an id leaves when the pool reports the job ended), and the chat turns are its
//! own queue (a turn leaves it when its task ends, however it ends).
//!
//! State is loaded lazily on the first message that needs it (activation is cheap and a restart
//! after a panic simply reloads); nothing here is the only copy of anything.

mod chat;
mod credits;
mod jobs;
pub mod turn;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use tokio::time::Instant;
use uuid::Uuid;

pub use self::chat::{ImageRef, TurnOutcome, TurnRequest};
pub use self::jobs::{Accepted, StartJob};
use super::Services;
use super::chat::ChatChange;
use super::events::{BalanceView, Frame};
use super::generator::GeneratorHandle;
use super::notifier::NotifierHandle;
use crate::db::DbError;
use crate::db::chat::Chat;
use crate::db::credits::{HoldRow, Settled};
use crate::domain::credits::{BucketState, CreditError, Split};
use crate::domain::errors::ErrorCode;
use crate::domain::i18n::Lang;
use crate::domain::ids::{HoldId, UserId};

/// Errors a session returns to its callers.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Credit(#[from] CreditError),
    #[error("database: {0}")]
    Db(#[from] DbError),
    /// A refusal the user can act on (`invalid_category`, `no_image`, `image_gone`, …).
    #[error("refused: {0}")]
    Rejected(ErrorCode),
    /// A request field is invalid.
    #[error("invalid {0}")]
    Invalid(&'static str),
    #[error("the session did not answer in time")]
    Timeout,
    #[error("the session is unavailable")]
    Unavailable,
    #[error("too many sockets for this user")]
    TooManySockets,
    #[error("too many generations in flight")]
    InFlightLimit,
    #[error("the generation queue is full")]
    QueueFull,
    #[error("the hold belongs to another operation or user")]
    Conflict,
    #[error("balance kept changing; try again")]
    Contended,
    #[error("too many chat messages waiting for an answer")]
    ChatBusy,
}

impl From<ErrorCode> for SessionError {
    fn from(code: ErrorCode) -> Self {
        SessionError::Rejected(code)
    }
}

/// What a caller asks to reserve.
#[derive(Debug, Clone)]
pub struct ReserveCmd {
    pub cost: i32,
    /// Shown in the user's history: `tryon`, `chat_message`, `edit`.
    pub purpose: String,
    /// The operation's idempotency key, e.g. `chat:<uuid>`: reserving twice returns the first hold.
    pub key: String,
    pub generation_id: Option<Uuid>,
}

/// A reserved amount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    pub id: HoldId,
    pub amount: i32,
    pub split: Split,
    /// Part of the cost came from the free allowance: the result gets a watermark.
    pub watermarked: bool,
    /// The hold existed already (the same key was reserved before).
    pub existing: bool,
}

impl Hold {
    fn from_row(row: &HoldRow, existing: bool) -> Self {
        let split = row.split();
        Hold { id: row.id, amount: row.amount, split, watermarked: split.watermarked(), existing }
    }
}

type Reply<T> = RpcReplyPort<Result<T, SessionError>>;

pub enum SessionMsg {
    /// Starts the session if needed and answers at once (no database): activation, keep-alive.
    Touch(Reply<()>),
    Balance(Reply<BalanceView>),
    Reserve(Box<ReserveCmd>, Reply<Hold>),
    Commit(HoldId, Reply<Settled>),
    Release(HoldId, String, Reply<Settled>),
    /// Start a try-on or an edit: checks, row and hold in one statement, then the pool.
    StartGeneration(Box<StartJob>, Reply<Accepted>),
    /// The pool finished (or failed and refunded) one of the user's generations.
    JobEnded(Uuid),
    /// The balance changed elsewhere (a grant): re-read it and tell the sockets.
    Reload,
    /// Stop if idle for at least this long with nothing in flight (sent by the registry).
    IdleCheck(Duration),
    /// The chat (loaded from `chat_history` on first use).
    Chat(Reply<Chat>),
    /// One message to the assistant; answered when the turn ends (turns run in order).
    ChatTurn(Box<TurnRequest>, Reply<TurnOutcome>),
    /// The task of turn `id` ended (however it ended): start the next one.
    TurnFinished(u64),
    /// Append messages / move the current image: persisted (trimmed), then announced.
    ChatApply(Box<ChatChange>, Reply<()>),
    /// Start over, after the turns already queued.
    ChatClear(Reply<()>),
    /// The chat changed on another node: reload it on next use.
    ChatForget,
    /// Make a photo of the user (a finished result or an upload) the chat's current image.
    SetCurrentImage(ImageRef, Reply<Chat>),
    /// Hide a finished generation from the gallery and delete its result.
    DeleteGeneration(Uuid, Reply<()>),
    /// The bot sends a finished result to the user's chat.
    SendGeneration(Uuid, Lang, Reply<()>),
    /// Cancel a generation still waiting in the pool's queue (its hold is released);
    /// `not_cancellable` once a worker took it (a kie.ai task may exist).
    CancelGeneration(Uuid, Reply<()>),
    /// The user's 👍/👎 (+1 / -1) with an optional reason, stored with the generation.
    RateGeneration(Uuid, i16, Option<String>, Reply<()>),
    /// A result is ready: the bot sends it to the chat when the user has no open socket here.
    DeliverIfOffline(Uuid),
    /// "Delete my data": photos, results and the chat go; ledger and payments stay.
    DeleteMyData(Reply<()>),
    /// The operator blocks (`true`) or unblocks the user; either way every session token issued
    /// before is revoked. The new `(blocked, token_version)`, `None` for an unknown user.
    SetBlocked(bool, Reply<Option<(bool, i32)>>),
    /// Panics the actor (tests of supervision; ignored in production).
    CrashForTest,
}

/// What every session shares: the services and the handles of the actors it talks to.
pub struct SessionDeps {
    pub services: Arc<Services>,
    pub generator: GeneratorHandle,
    pub notifier: NotifierHandle,
    /// The registry, for the session's own tasks (a chat turn talks to its session through it).
    pub sessions: super::registry::SessionRegistryHandle,
}

pub struct SessionActor {
    pub deps: Arc<SessionDeps>,
}

pub struct SessionState {
    user: UserId,
    buckets: Option<BucketState>,
    open_holds: Vec<HoldId>,
    /// The user's unfinished generations; `None` until first needed (then loaded from the
    /// database, which also makes a restarted session count correctly).
    in_flight: Option<HashSet<Uuid>>,
    last_active: Instant,
    chat: Option<Chat>,
    /// Chat turns (and "start over") waiting, in arrival order; boxed so an idle session stays small.
    turns: Option<Box<chat::TurnQueue>>,
}

impl Actor for SessionActor {
    type Msg = SessionMsg;
    type State = SessionState;
    type Arguments = UserId;

    async fn pre_start(&self, _myself: ActorRef<SessionMsg>, user: UserId) -> Result<SessionState, ActorProcessingErr> {
        Ok(SessionState {
            user,
            buckets: None,
            open_holds: Vec::new(),
            in_flight: None,
            last_active: Instant::now(),
            chat: None,
            turns: None,
        })
    }

    /// Every database call below is boxed (`Box::pin`): this future's size is paid by every
    /// idle session for as long as it lives, so it must stay small (see benches/sessions.rs).
    async fn handle(
        &self,
        myself: ActorRef<SessionMsg>,
        msg: SessionMsg,
        state: &mut SessionState,
    ) -> Result<(), ActorProcessingErr> {
        if !matches!(msg, SessionMsg::IdleCheck(_) | SessionMsg::Reload) {
            state.last_active = Instant::now();
        }
        match msg {
            SessionMsg::Touch(reply) => {
                let _ = reply.send(Ok(()));
            }
            SessionMsg::Balance(reply) => {
                let result = Box::pin(self.current(state)).await.map(|s| self.view(&s));
                let _ = reply.send(result);
            }
            SessionMsg::Reserve(cmd, reply) => {
                let _ = reply.send(Box::pin(self.reserve(state, &cmd, None)).await);
            }
            SessionMsg::Commit(hold, reply) => {
                let _ = reply.send(Box::pin(self.commit(state, hold)).await);
            }
            SessionMsg::Release(hold, reason, reply) => {
                let _ = reply.send(Box::pin(self.release(state, hold, &reason)).await);
            }
            SessionMsg::StartGeneration(job, reply) => {
                let _ = reply.send(Box::pin(self.start_generation(state, *job)).await);
            }
            SessionMsg::JobEnded(id) => {
                if let Some(set) = state.in_flight.as_mut() {
                    set.remove(&id);
                }
            }
            SessionMsg::Reload => {
                state.buckets = None;
                if let Ok(s) = Box::pin(self.current(state)).await {
                    let frame = self.view(&s).frame();
                    self.publish(state, frame);
                }
            }
            SessionMsg::IdleCheck(timeout) => {
                // Open sockets do not keep a session: they live in the socket hub, and a
                // session started again later reloads its state from the database.
                let idle = state.open_holds.is_empty()
                    && state.in_flight.as_ref().is_none_or(HashSet::is_empty)
                    && state.turns.as_ref().is_none_or(|t| t.is_empty());
                if idle && state.last_active.elapsed() >= timeout {
                    myself.stop(Some("idle".into()));
                }
            }
            SessionMsg::Chat(reply) => {
                let _ = reply.send(Box::pin(self.chat(state)).await.cloned());
            }
            SessionMsg::ChatTurn(request, reply) => self.enqueue_turn(&myself, state, *request, reply).await,
            SessionMsg::TurnFinished(id) => self.turn_finished(&myself, state, id).await,
            SessionMsg::ChatApply(change, reply) => {
                let _ = reply.send(Box::pin(self.chat_apply(state, &change)).await);
            }
            SessionMsg::ChatClear(reply) => self.enqueue_clear(&myself, state, reply).await,
            SessionMsg::ChatForget => state.chat = None,
            SessionMsg::SetCurrentImage(image, reply) => {
                let _ = reply.send(Box::pin(self.set_current_image(state, image)).await);
            }
            SessionMsg::DeleteGeneration(id, reply) => {
                let _ = reply.send(Box::pin(self.delete_generation(state, id)).await);
            }
            SessionMsg::SendGeneration(id, lang, reply) => {
                let _ = reply.send(Box::pin(self.send_generation(state, id, lang)).await);
            }
            SessionMsg::CancelGeneration(id, reply) => {
                let _ = reply.send(Box::pin(self.cancel_generation(state, id)).await);
            }
            SessionMsg::RateGeneration(id, rating, reason, reply) => {
                let _ = reply.send(Box::pin(self.rate_generation(state, id, rating, reason)).await);
            }
            SessionMsg::DeliverIfOffline(id) => {
                if !self.deps.sessions.sockets().is_connected(state.user) {
                    // Reads and the send run beside the actor: a burst of finished jobs must not
                    // hold the session's mailbox.
                    tokio::spawn(jobs::deliver_result(self.deps.clone(), state.user, id));
                }
            }
            SessionMsg::DeleteMyData(reply) => {
                let _ = reply.send(Box::pin(self.delete_my_data(state)).await);
            }
            SessionMsg::SetBlocked(blocked, reply) => {
                let result = Box::pin(crate::db::users::set_blocked(&self.services().pool, state.user, blocked))
                    .await
                    .map_err(SessionError::from);
                if let Ok(Some((blocked, _))) = &result {
                    tracing::info!(user.id = %state.user, blocked, "operator block changed");
                }
                let _ = reply.send(result);
            }
            SessionMsg::CrashForTest => {
                if self.services().settings.env == crate::config::AppEnv::Production {
                    tracing::warn!(user.id = %state.user, "ignoring a test crash request in production");
                } else {
                    panic!("session crash requested by a test");
                }
            }
        }
        Ok(())
    }
}

impl SessionActor {
    fn services(&self) -> &Services {
        &self.deps.services
    }

    /// Sends `frame` to the user's sockets on this node (through the socket hub).
    fn publish(&self, state: &SessionState, frame: Frame) {
        self.deps.sessions.sockets().publish(state.user, &frame);
    }

    fn view(&self, state: &BucketState) -> BalanceView {
        BalanceView::from_state(state, self.services().tz)
    }
}
