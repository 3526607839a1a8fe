//! `SessionActor`: one per active user. It owns the user's credit holds (reserve, commit,
//! release), a cached copy of their buckets, their live WebSocket subscribers, the count
//! of their generations in flight, and the editor chat (the last messages, see `chat.rs`). It handles one message at a time, so one user's credit
//! operations never race each other in this process; the database guards the rest.
//!
//! State is loaded lazily from the database on the first message (so activation is cheap and
//! a restart after a panic simply reloads); nothing here is the only copy of anything.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use tokio::sync::mpsc;
use tokio::time::Instant;
use uuid::Uuid;

use super::Services;
use super::chat::{self as chat_state, ChatChange};
use super::events::{BalanceView, Frame, frame};
use crate::db::chat::{self as chat_db, Chat};
use crate::db::credits::{self as credit_db, ReserveRequest, Settled};
use crate::db::{DbError, credits::HoldRow};
use crate::domain::credits::{self, BucketState, CreditError, Split};
use crate::domain::ids::{HoldId, UserId};

/// Errors a session returns to its callers.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Credit(#[from] CreditError),
    #[error("database: {0}")]
    Db(#[from] DbError),
    #[error("the session did not answer in time")]
    Timeout,
    #[error("the session is unavailable")]
    Unavailable,
    #[error("too many sockets for this user")]
    TooManySockets,
    #[error("too many generations in flight")]
    InFlightLimit,
    #[error("the hold belongs to another operation or user")]
    Conflict,
    #[error("balance kept changing; try again")]
    Contended,
    #[error("too many chat messages waiting for an answer")]
    ChatBusy,
}

/// What a caller asks to reserve.
#[derive(Debug, Clone)]
pub struct ReserveCmd {
    pub cost: i32,
    /// Shown in the user's history: `tryon`, `chat_message`, `edit`.
    pub purpose: String,
    /// The operation's idempotency key, e.g. `gen:<uuid>`: reserving twice returns the first hold.
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

pub enum SessionMsg {
    Balance(RpcReplyPort<Result<BalanceView, SessionError>>),
    Reserve(Box<ReserveCmd>, RpcReplyPort<Result<Hold, SessionError>>),
    Commit(HoldId, RpcReplyPort<Result<Settled, SessionError>>),
    Release(HoldId, String, RpcReplyPort<Result<Settled, SessionError>>),
    /// Count a generation as in flight (capped per user) / no longer in flight.
    BeginJob(RpcReplyPort<Result<(), SessionError>>),
    EndJob,
    /// The balance changed elsewhere (a grant): re-read it and tell the sockets.
    Reload,
    Subscribe(mpsc::Sender<Frame>, RpcReplyPort<Result<(u64, BalanceView), SessionError>>),
    Unsubscribe(u64),
    /// Send a frame to every socket of the user.
    Publish(Frame),
    /// Stop if idle for at least this long with nothing in flight (sent by the registry).
    IdleCheck(Duration),
    /// The chat (loaded from `chat_history` on first use).
    Chat(RpcReplyPort<Result<Chat, SessionError>>),
    /// The FIFO gate for one chat turn; `ChatBusy` when `chat.max_pending` turns already wait.
    ChatTurn(RpcReplyPort<Result<Arc<tokio::sync::Mutex<()>>, SessionError>>),
    /// The lock held while a chat edit is checked for a duplicate and started (short).
    EditGate(RpcReplyPort<Result<Arc<tokio::sync::Mutex<()>>, SessionError>>),
    /// A chat turn ended (its `ChatTurn` was dropped).
    ChatTurnDone,
    /// Append messages / move the current image: persisted (trimmed), then announced.
    ChatApply(Box<ChatChange>, RpcReplyPort<Result<(), SessionError>>),
    /// Start over: the chat row is deleted.
    ChatClear(RpcReplyPort<Result<(), SessionError>>),
    /// The chat row changed outside the session (delete-my-data): reload it on next use.
    ChatForget,
    /// Panics the actor (tests of supervision; ignored in production).
    CrashForTest,
}

pub struct SessionActor {
    pub services: Arc<Services>,
}

pub struct SessionState {
    user: UserId,
    buckets: Option<BucketState>,
    subscribers: Vec<(u64, mpsc::Sender<Frame>)>,
    next_subscriber: u64,
    open_holds: Vec<HoldId>,
    in_flight: u32,
    last_active: Instant,
    chat: Option<Chat>,
    /// Created on the first chat turn (idle sessions stay small).
    chat_gate: Option<Arc<tokio::sync::Mutex<()>>>,
    edit_gate: Option<Arc<tokio::sync::Mutex<()>>>,
    /// Chat turns running or waiting for the gate.
    chat_pending: u32,
}

impl Actor for SessionActor {
    type Msg = SessionMsg;
    type State = SessionState;
    type Arguments = UserId;

    async fn pre_start(&self, _myself: ActorRef<SessionMsg>, user: UserId) -> Result<SessionState, ActorProcessingErr> {
        Ok(SessionState {
            user,
            buckets: None,
            subscribers: Vec::new(),
            next_subscriber: 1,
            open_holds: Vec::new(),
            in_flight: 0,
            last_active: Instant::now(),
            chat: None,
            chat_gate: None,
            edit_gate: None,
            chat_pending: 0,
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
        match msg {
            SessionMsg::Balance(reply) => {
                state.last_active = Instant::now();
                let result = Box::pin(self.current(state)).await.map(|s| self.view(&s));
                let _ = reply.send(result);
            }
            SessionMsg::Reserve(cmd, reply) => {
                state.last_active = Instant::now();
                let _ = reply.send(Box::pin(self.reserve(state, &cmd)).await);
            }
            SessionMsg::Commit(hold, reply) => {
                state.last_active = Instant::now();
                let result = Box::pin(self.commit(state, hold)).await;
                let _ = reply.send(result);
            }
            SessionMsg::Release(hold, reason, reply) => {
                state.last_active = Instant::now();
                let result = Box::pin(self.release(state, hold, &reason)).await;
                let _ = reply.send(result);
            }
            SessionMsg::BeginJob(reply) => {
                state.last_active = Instant::now();
                let cap = self.services.settings.file.sessions.max_in_flight_generations;
                if state.in_flight >= cap {
                    let _ = reply.send(Err(SessionError::InFlightLimit));
                } else {
                    state.in_flight += 1;
                    let _ = reply.send(Ok(()));
                }
            }
            SessionMsg::EndJob => {
                state.last_active = Instant::now();
                state.in_flight = state.in_flight.saturating_sub(1);
            }
            SessionMsg::Reload => {
                state.buckets = None;
                if let Ok(s) = Box::pin(self.current(state)).await {
                    let frame = self.view(&s).frame();
                    publish(state, frame);
                }
            }
            SessionMsg::Subscribe(tx, reply) => {
                state.last_active = Instant::now();
                state.subscribers.retain(|(_, s)| !s.is_closed());
                if state.subscribers.len() >= self.services.settings.file.sessions.max_sockets_per_user {
                    let _ = reply.send(Err(SessionError::TooManySockets));
                } else {
                    match Box::pin(self.current(state)).await {
                        Ok(s) => {
                            let id = state.next_subscriber;
                            state.next_subscriber += 1;
                            state.subscribers.push((id, tx));
                            metrics::gauge!("primerka_ws_subscribers").increment(1.0);
                            let _ = reply.send(Ok((id, self.view(&s))));
                        }
                        Err(e) => {
                            let _ = reply.send(Err(e));
                        }
                    }
                }
            }
            SessionMsg::Unsubscribe(id) => {
                let before = state.subscribers.len();
                state.subscribers.retain(|(sid, _)| *sid != id);
                if state.subscribers.len() < before {
                    metrics::gauge!("primerka_ws_subscribers").decrement(1.0);
                }
                state.last_active = Instant::now();
            }
            SessionMsg::Publish(frame) => publish(state, frame),
            SessionMsg::IdleCheck(timeout) => {
                let before = state.subscribers.len();
                state.subscribers.retain(|(_, s)| !s.is_closed());
                let dropped = before - state.subscribers.len();
                if dropped > 0 {
                    metrics::gauge!("primerka_ws_subscribers").decrement(dropped as f64);
                }
                let idle = state.subscribers.is_empty()
                    && state.open_holds.is_empty()
                    && state.in_flight == 0
                    && state.chat_pending == 0;
                if idle && state.last_active.elapsed() >= timeout {
                    myself.stop(Some("idle".into()));
                }
            }
            SessionMsg::Chat(reply) => {
                state.last_active = Instant::now();
                let _ = reply.send(Box::pin(self.chat(state)).await.cloned());
            }
            SessionMsg::ChatTurn(reply) => {
                state.last_active = Instant::now();
                if state.chat_pending >= self.services.settings.file.chat.max_pending {
                    let _ = reply.send(Err(SessionError::ChatBusy));
                } else {
                    state.chat_pending += 1;
                    let gate = state.chat_gate.get_or_insert_with(Default::default).clone();
                    let _ = reply.send(Ok(gate));
                }
            }
            SessionMsg::EditGate(reply) => {
                state.last_active = Instant::now();
                let _ = reply.send(Ok(state.edit_gate.get_or_insert_with(Default::default).clone()));
            }
            SessionMsg::ChatTurnDone => {
                state.last_active = Instant::now();
                state.chat_pending = state.chat_pending.saturating_sub(1);
            }
            SessionMsg::ChatApply(change, reply) => {
                state.last_active = Instant::now();
                let _ = reply.send(Box::pin(self.chat_apply(state, &change)).await);
            }
            SessionMsg::ChatClear(reply) => {
                state.last_active = Instant::now();
                let result = Box::pin(chat_db::clear(&self.services.pool, state.user)).await;
                state.chat = if result.is_ok() { Some(Chat::default()) } else { None };
                let _ = reply.send(result.map_err(SessionError::from));
            }
            SessionMsg::ChatForget => state.chat = None,
            SessionMsg::CrashForTest => {
                if self.services.settings.env == crate::config::AppEnv::Production {
                    tracing::warn!(user.id = %state.user, "ignoring a test crash request in production");
                } else {
                    panic!("session crash requested by a test");
                }
            }
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<SessionMsg>,
        state: &mut SessionState,
    ) -> Result<(), ActorProcessingErr> {
        if !state.subscribers.is_empty() {
            metrics::gauge!("primerka_ws_subscribers").decrement(state.subscribers.len() as f64);
        }
        Ok(())
    }
}

/// Sends `frame` to every live socket; a socket that cannot keep up is dropped (it sees its
/// channel close, re-subscribes and catches up through REST).
fn publish(state: &mut SessionState, frame: Frame) {
    let before = state.subscribers.len();
    state.subscribers.retain(|(_, tx)| tx.try_send(frame.clone()).is_ok());
    let dropped = before - state.subscribers.len();
    if dropped > 0 {
        metrics::gauge!("primerka_ws_subscribers").decrement(dropped as f64);
    }
}

impl SessionActor {
    fn view(&self, state: &BucketState) -> BalanceView {
        BalanceView::from_state(state, self.services.tz)
    }

    /// The cached buckets, loaded and brought up to date (month change, ended period) first.
    async fn current(&self, state: &mut SessionState) -> Result<BucketState, SessionError> {
        let now = Utc::now();
        let services = &self.services;
        let cached = match state.buckets {
            Some(b) => b,
            None => credit_db::load_state(&services.pool, state.user).await?,
        };
        let fresh = if credits::needs_refresh(&cached, now, services.tz) {
            let mut conn = services.pool.acquire().await.map_err(DbError::from_sqlx)?;
            credit_db::refresh(&mut conn, state.user, now, services.tz, services.settings.file.credits.free_monthly)
                .await?
        } else {
            cached
        };
        state.buckets = Some(fresh);
        Ok(fresh)
    }

    /// The chat, loaded from the database on first use.
    async fn chat<'s>(&self, state: &'s mut SessionState) -> Result<&'s Chat, SessionError> {
        if state.chat.is_none() {
            state.chat = Some(chat_db::load(&self.services.pool, state.user).await?);
        }
        Ok(state.chat.get_or_insert_with(Chat::default))
    }

    /// Applies `change`, writes the trimmed chat, and only then sends its `chat.message` frames.
    async fn chat_apply(&self, state: &mut SessionState, change: &ChatChange) -> Result<(), SessionError> {
        let keep = self.services.settings.file.chat.history_size;
        let mut chat = self.chat(state).await?.clone();
        chat_state::apply(&mut chat, change, keep);
        if let Err(e) = chat_db::save(&self.services.pool, state.user, &chat, keep).await {
            state.chat = None;
            return Err(e.into());
        }
        state.chat = Some(chat);
        for message in &change.messages {
            publish(state, frame("chat.message", chat_state::message_view(&self.services, message)));
        }
        Ok(())
    }

    async fn reserve(&self, state: &mut SessionState, cmd: &ReserveCmd) -> Result<Hold, SessionError> {
        let services = &self.services;
        let ttl = chrono::Duration::seconds(services.settings.file.credits.hold_ttl_secs as i64);
        for _attempt in 0..4 {
            let snapshot = self.current(state).await?;
            let split = credits::split_cost(cmd.cost, &snapshot.buckets)?;
            let request = ReserveRequest {
                hold_id: HoldId::new(),
                user: state.user,
                key: cmd.key.clone(),
                purpose: cmd.purpose.clone(),
                split,
                expected: snapshot,
                generation_id: cmd.generation_id,
                expires_at: Utc::now() + ttl,
            };
            let hold_id = request.hold_id;
            match Box::pin(services.credits.reserve(request)).await {
                Ok(Some(buckets)) => {
                    let new_state = BucketState { buckets, ..snapshot };
                    state.buckets = Some(new_state);
                    state.open_holds.push(hold_id);
                    publish(state, self.view(&new_state).frame());
                    metrics::counter!("primerka_credit_reserves_total", "purpose" => cmd.purpose.clone()).increment(1);
                    return Ok(Hold {
                        id: hold_id,
                        amount: split.total(),
                        split,
                        watermarked: split.watermarked(),
                        existing: false,
                    });
                }
                // The row changed under us (a grant, another node): reload and try again.
                Ok(None) => state.buckets = None,
                Err(DbError::Conflict { constraint }) if constraint.contains("idempotency_key") => {
                    let existing = credit_db::find_hold_by_key(&services.pool, &cmd.key).await?;
                    if existing.user_id != state.user {
                        return Err(SessionError::Conflict);
                    }
                    return Ok(Hold::from_row(&existing, true));
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(SessionError::Contended)
    }

    async fn commit(&self, state: &mut SessionState, hold: HoldId) -> Result<Settled, SessionError> {
        let settled = self.services.credits.commit(hold).await.map_err(|e| match e {
            DbError::Conflict { .. } => SessionError::Conflict,
            other => other.into(),
        })?;
        state.open_holds.retain(|h| *h != hold);
        Ok(settled)
    }

    async fn release(&self, state: &mut SessionState, hold: HoldId, reason: &str) -> Result<Settled, SessionError> {
        let (settled, new_state) = self.services.credits.release(hold, reason).await.map_err(|e| match e {
            DbError::Conflict { .. } => SessionError::Conflict,
            other => other.into(),
        })?;
        state.open_holds.retain(|h| *h != hold);
        if let Some(new_state) = new_state {
            state.buckets = Some(new_state);
            publish(state, self.view(&new_state).frame());
            metrics::counter!("primerka_credit_releases_total").increment(1);
        }
        Ok(settled)
    }
}
