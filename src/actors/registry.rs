//! `SessionRegistry`: starts a `SessionActor` per user on demand, supervises them (a session
//! that panics is restarted at once, its state reloaded from the database), and stops idle
//! ones on the sweep. Lookups go through a shared map, so the hot path never waits on the
//! registry's mailbox; only starting a session does.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use ractor::rpc::CallResult;
use ractor::{Actor, ActorId, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use tokio::time::Instant;

use uuid::Uuid;

use super::bus::{Bus, BusEvent, LocalDelivery};
use super::chat::ChatChange;
use super::events::{BalanceView, Frame};
use super::session::{
    Accepted, Hold, ImageRef, ReserveCmd, SessionActor, SessionDeps, SessionError, SessionMsg, StartJob, TurnOutcome,
    TurnRequest,
};
use super::sockets::SocketHub;
use super::supervisor::ActorSlot;
use crate::db::chat::Chat;
use crate::db::credits::Settled;
use crate::domain::i18n::Lang;
use crate::domain::ids::{HoldId, UserId};

pub type SessionMap = Arc<DashMap<UserId, ActorRef<SessionMsg>>>;

pub enum RegistryMsg {
    /// Returns the user's running session, starting it if needed.
    Start(UserId, RpcReplyPort<Result<ActorRef<SessionMsg>, SessionError>>),
    /// The user's balance changed elsewhere and they have a socket here but no running
    /// session: start one, which re-reads the balance and tells the sockets.
    Reload(UserId),
    /// Ask every session to stop if it has been idle long enough.
    Sweep,
    /// Panics the registry (tests of supervision; ignored in production).
    CrashForTest,
}

pub struct SessionRegistry {
    pub deps: Arc<SessionDeps>,
    pub map: SessionMap,
}

pub struct RegistryState {
    by_actor: HashMap<ActorId, UserId>,
    restarts: HashMap<UserId, (u32, Instant)>,
}

impl Actor for SessionRegistry {
    type Msg = RegistryMsg;
    type State = RegistryState;
    type Arguments = ();

    async fn pre_start(&self, _myself: ActorRef<RegistryMsg>, _: ()) -> Result<RegistryState, ActorProcessingErr> {
        // A restarted registry starts empty: its old sessions died with it.
        self.map.clear();
        metrics::gauge!("primerka_sessions_live").set(0.0);
        Ok(RegistryState { by_actor: HashMap::new(), restarts: HashMap::new() })
    }

    async fn handle(
        &self,
        myself: ActorRef<RegistryMsg>,
        msg: RegistryMsg,
        state: &mut RegistryState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            RegistryMsg::Start(user, reply) => {
                let result = match self.map.get(&user).map(|r| r.clone()) {
                    Some(existing) => Ok(existing),
                    None => self.start(&myself, state, user).await,
                };
                let _ = reply.send(result);
            }
            RegistryMsg::Reload(user) => {
                let session = match self.map.get(&user).map(|r| r.clone()) {
                    Some(existing) => Ok(existing),
                    None => self.start(&myself, state, user).await,
                };
                if let Ok(session) = session {
                    let _ = session.cast(SessionMsg::Reload);
                }
            }
            RegistryMsg::Sweep => {
                let timeout = Duration::from_secs(self.deps.services.settings.file.sessions.idle_timeout_secs);
                for entry in self.map.iter() {
                    let _ = entry.value().cast(SessionMsg::IdleCheck(timeout));
                }
                let now = Instant::now();
                state.restarts.retain(|_, (_, since)| now.duration_since(*since) < Duration::from_secs(60));
            }
            RegistryMsg::CrashForTest => {
                if self.deps.services.settings.env == crate::config::AppEnv::Production {
                    tracing::warn!("ignoring a test crash request in production");
                } else {
                    panic!("session registry crash requested by a test");
                }
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<RegistryMsg>,
        event: SupervisionEvent,
        state: &mut RegistryState,
    ) -> Result<(), ActorProcessingErr> {
        match event {
            SupervisionEvent::ActorTerminated(cell, _, reason) => {
                if let Some(user) = state.by_actor.remove(&cell.get_id()) {
                    self.map.remove_if(&user, |_, r| r.get_id() == cell.get_id());
                    metrics::gauge!("primerka_sessions_live").set(self.map.len() as f64);
                    tracing::debug!(user.id = %user, reason = reason.as_deref().unwrap_or(""), "session stopped");
                }
            }
            SupervisionEvent::ActorFailed(cell, err) => {
                if let Some(user) = state.by_actor.remove(&cell.get_id()) {
                    self.map.remove_if(&user, |_, r| r.get_id() == cell.get_id());
                    metrics::counter!("primerka_actor_restarts_total", "actor" => "session").increment(1);
                    let now = Instant::now();
                    let entry = state.restarts.entry(user).or_insert((0, now));
                    if now.duration_since(entry.1) > Duration::from_secs(60) {
                        *entry = (0, now);
                    }
                    entry.0 += 1;
                    let limit = self.deps.services.settings.file.sessions.max_restarts_per_minute;
                    if entry.0 <= limit {
                        tracing::warn!(user.id = %user, error = %err, "session failed; restarting it");
                        if let Err(e) = self.start(&myself, state, user).await {
                            tracing::error!(user.id = %user, error = %e, "could not restart the session");
                        }
                    } else {
                        tracing::error!(user.id = %user, error = %err, "session keeps failing; it starts again on the next request");
                    }
                    metrics::gauge!("primerka_sessions_live").set(self.map.len() as f64);
                }
            }
            _ => {}
        }
        Ok(())
    }
}

impl SessionRegistry {
    async fn start(
        &self,
        myself: &ActorRef<RegistryMsg>,
        state: &mut RegistryState,
        user: UserId,
    ) -> Result<ActorRef<SessionMsg>, SessionError> {
        let actor = SessionActor { deps: self.deps.clone() };
        let (session, _join) = Actor::spawn_linked(None, actor, user, myself.get_cell()).await.map_err(|e| {
            tracing::error!(user.id = %user, error = %e, "could not start a session");
            SessionError::Unavailable
        })?;
        state.by_actor.insert(session.get_id(), user);
        self.map.insert(user, session.clone());
        metrics::counter!("primerka_session_activations_total").increment(1);
        metrics::gauge!("primerka_sessions_live").set(self.map.len() as f64);
        Ok(session)
    }
}

/// Delivers the other nodes' news to this node: frames to the user's sockets, the rest to the
/// user's session.
pub struct LocalSessions {
    pub map: SessionMap,
    pub sockets: Arc<SocketHub>,
    pub registry: ActorSlot<RegistryMsg>,
}

impl LocalDelivery for LocalSessions {
    fn deliver(&self, event: BusEvent) {
        match event {
            BusEvent::Frame(user, frame) => self.sockets.publish(user, &frame),
            BusEvent::Reload(user) => reload_here(&self.map, &self.sockets, &self.registry, user),
            BusEvent::ChatChanged(user) => {
                if let Some(session) = self.map.get(&user) {
                    let _ = session.cast(SessionMsg::ChatForget);
                }
            }
        }
    }
}

/// The user's balance changed elsewhere: their running session re-reads it and tells the
/// sockets; with no session but a socket here, the registry starts one to do so.
fn reload_here(map: &SessionMap, sockets: &SocketHub, registry: &ActorSlot<RegistryMsg>, user: UserId) {
    if let Some(session) = map.get(&user) {
        let _ = session.cast(SessionMsg::Reload);
    } else if sockets.is_connected(user) {
        let _ = registry.get().cast(RegistryMsg::Reload(user));
    }
}

/// Cheap, cloneable access to users' sessions.
#[derive(Clone)]
pub struct SessionRegistryHandle {
    registry: ActorSlot<RegistryMsg>,
    map: SessionMap,
    /// This node's open sockets, by user.
    sockets: Arc<SocketHub>,
    /// The other nodes' sessions of the user (cluster mode; a no-op on one node).
    bus: Bus,
    /// For quick calls (credits, the chat, starting a generation).
    timeout: Duration,
    /// For a chat turn: waiting behind the user's earlier turns, then the assistant.
    turn_timeout: Duration,
}

impl SessionRegistryHandle {
    pub fn new(
        registry: ActorSlot<RegistryMsg>,
        map: SessionMap,
        sockets: Arc<SocketHub>,
        bus: Bus,
        timeout: Duration,
        turn_timeout: Duration,
    ) -> Self {
        Self { registry, map, sockets, bus, timeout, turn_timeout }
    }

    /// This node's open sockets (the WebSocket handler registers there; sessions publish there).
    pub fn sockets(&self) -> &Arc<SocketHub> {
        &self.sockets
    }

    /// A handle to `user`'s session (started on first use).
    pub fn session(&self, user: UserId) -> SessionHandle {
        SessionHandle { registry: self.clone(), user }
    }

    /// Number of running sessions.
    pub fn live(&self) -> usize {
        self.map.len()
    }

    pub fn is_running(&self, user: UserId) -> bool {
        self.map.contains_key(&user)
    }

    /// Sends `frame` to the user's sockets, on this node and on every other node of a cluster.
    pub fn publish(&self, user: UserId, frame: Frame) {
        self.sockets.publish(user, &frame);
        if self.bus.is_enabled() {
            self.bus.send(BusEvent::Frame(user, frame));
        }
    }

    /// Tells the user's sessions on the other nodes that their chat changed here.
    pub fn chat_changed(&self, user: UserId) {
        self.bus.send(BusEvent::ChatChanged(user));
    }

    /// Tells the user's running session that generation `id` ended (no session: nothing is
    /// counted, the next one loads the count from the database).
    pub fn job_ended(&self, user: UserId, id: Uuid) {
        if let Some(session) = self.map.get(&user) {
            let _ = session.cast(SessionMsg::JobEnded(id));
        }
    }

    /// Tells the user's running sessions (here and on the other nodes) that their balance changed
    /// elsewhere.
    pub fn reload(&self, user: UserId) {
        self.bus.send(BusEvent::Reload(user));
        reload_here(&self.map, &self.sockets, &self.registry, user);
    }

    pub fn sweep(&self) {
        let _ = self.registry.get().cast(RegistryMsg::Sweep);
    }

    /// Test hook: makes the registry panic (ignored in production).
    pub fn crash_registry_for_test(&self) {
        let _ = self.registry.get().cast(RegistryMsg::CrashForTest);
    }

    async fn resolve(&self, user: UserId) -> Result<ActorRef<SessionMsg>, SessionError> {
        if let Some(session) = self.map.get(&user) {
            return Ok(session.clone());
        }
        match self.registry.get().call(|reply| RegistryMsg::Start(user, reply), Some(self.timeout)).await {
            Ok(CallResult::Success(result)) => result,
            Ok(CallResult::Timeout) => Err(SessionError::Timeout),
            _ => Err(SessionError::Unavailable),
        }
    }
}

/// Typed access to one user's session; every call has a timeout and survives a session
/// restart (a call that found its actor gone is retried once on the new one; calls that
/// change state are idempotent by key or hold id).
#[derive(Clone)]
pub struct SessionHandle {
    registry: SessionRegistryHandle,
    user: UserId,
}

impl SessionHandle {
    pub fn user(&self) -> UserId {
        self.user
    }

    async fn call<T: Send + 'static>(
        &self,
        build: impl Fn(RpcReplyPort<Result<T, SessionError>>) -> SessionMsg,
    ) -> Result<T, SessionError> {
        self.call_within(self.registry.timeout, build).await
    }

    async fn call_within<T: Send + 'static>(
        &self,
        timeout: Duration,
        build: impl Fn(RpcReplyPort<Result<T, SessionError>>) -> SessionMsg,
    ) -> Result<T, SessionError> {
        for _attempt in 0..3 {
            let session = self.registry.resolve(self.user).await?;
            match session.call(&build, Some(timeout)).await {
                Ok(CallResult::Success(result)) => return result,
                Ok(CallResult::Timeout) => return Err(SessionError::Timeout),
                // The actor stopped (idle) or died before answering: forget it and retry.
                Ok(CallResult::SenderError) | Err(_) => {
                    self.registry.map.remove_if(&self.user, |_, r| r.get_id() == session.get_id());
                }
            }
        }
        Err(SessionError::Unavailable)
    }

    /// Starts the session if needed (no database work).
    pub async fn touch(&self) -> Result<(), SessionError> {
        self.call(SessionMsg::Touch).await
    }

    pub async fn balance(&self) -> Result<BalanceView, SessionError> {
        self.call(SessionMsg::Balance).await
    }

    pub async fn reserve(&self, cmd: ReserveCmd) -> Result<Hold, SessionError> {
        self.call(|reply| SessionMsg::Reserve(Box::new(cmd.clone()), reply)).await
    }

    pub async fn commit(&self, hold: HoldId) -> Result<Settled, SessionError> {
        self.call(|reply| SessionMsg::Commit(hold, reply)).await
    }

    pub async fn release(&self, hold: HoldId, reason: &str) -> Result<Settled, SessionError> {
        self.call(|reply| SessionMsg::Release(hold, reason.to_string(), reply)).await
    }

    /// Starts a try-on or an edit (the session checks, writes the row and its hold, queues it).
    pub async fn start_generation(&self, job: StartJob) -> Result<Accepted, SessionError> {
        self.call(|reply| SessionMsg::StartGeneration(Box::new(job.clone()), reply)).await
    }

    pub fn publish(&self, frame: Frame) {
        self.registry.publish(self.user, frame);
    }

    /// The user's chat (last messages and current image).
    pub async fn chat(&self) -> Result<Chat, SessionError> {
        self.call(SessionMsg::Chat).await
    }

    /// One message to the assistant, answered when its turn (after the user's earlier ones) ends.
    pub async fn chat_turn(&self, request: TurnRequest) -> Result<TurnOutcome, SessionError> {
        self.call_within(self.registry.turn_timeout, |reply| SessionMsg::ChatTurn(Box::new(request.clone()), reply))
            .await
    }

    /// Appends messages / moves the current image; returns once it is stored and announced.
    pub async fn chat_apply(&self, change: ChatChange) -> Result<(), SessionError> {
        self.call(|reply| SessionMsg::ChatApply(Box::new(change.clone()), reply)).await
    }

    /// Start over (after the turns already queued): the chat is deleted.
    pub async fn chat_clear(&self) -> Result<(), SessionError> {
        self.call_within(self.registry.turn_timeout, SessionMsg::ChatClear).await
    }

    /// Makes a photo of the user (a finished result or an upload) the chat's current image.
    pub async fn set_current_image(&self, image: ImageRef) -> Result<Chat, SessionError> {
        self.call(|reply| SessionMsg::SetCurrentImage(image, reply)).await
    }

    pub async fn delete_generation(&self, id: Uuid) -> Result<(), SessionError> {
        self.call(|reply| SessionMsg::DeleteGeneration(id, reply)).await
    }

    /// The bot sends a finished result to the user's chat.
    pub async fn send_generation(&self, id: Uuid, lang: Lang) -> Result<(), SessionError> {
        self.call(|reply| SessionMsg::SendGeneration(id, lang, reply)).await
    }

    /// Cancels a generation still waiting in the queue (`not_cancellable` otherwise).
    pub async fn cancel_generation(&self, id: Uuid) -> Result<(), SessionError> {
        self.call(|reply| SessionMsg::CancelGeneration(id, reply)).await
    }

    /// Stores the user's rating (+1 / -1, optional reason) of a finished result.
    pub async fn rate_generation(&self, id: Uuid, rating: i16, reason: Option<String>) -> Result<(), SessionError> {
        self.call(|reply| SessionMsg::RateGeneration(id, rating, reason.clone(), reply)).await
    }

    /// A result is ready: the session sends it through the bot when the user has no open
    /// socket on this node (no session is started for a user who has one).
    pub async fn deliver_if_offline(&self, id: Uuid) -> Result<(), SessionError> {
        if self.registry.sockets.is_connected(self.user) {
            return Ok(());
        }
        let session = self.registry.resolve(self.user).await?;
        session.cast(SessionMsg::DeliverIfOffline(id)).map_err(|_| SessionError::Unavailable)
    }

    /// "Delete my data".
    pub async fn delete_my_data(&self) -> Result<(), SessionError> {
        self.call(SessionMsg::DeleteMyData).await
    }

    /// The operator blocks or unblocks the user (the row, with the token version bumped, is the
    /// session's to write, like "delete my data"'s). `None` for an unknown user.
    pub async fn set_blocked(&self, blocked: bool) -> Result<Option<(bool, i32)>, SessionError> {
        self.call(|reply| SessionMsg::SetBlocked(blocked, reply)).await
    }

    /// Test hook: makes the session panic (ignored in production).
    pub async fn crash_for_test(&self) -> Result<(), SessionError> {
        let session = self.registry.resolve(self.user).await?;
        session.cast(SessionMsg::CrashForTest).map_err(|_| SessionError::Unavailable)
    }
}
