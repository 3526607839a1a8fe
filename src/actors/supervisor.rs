//! `AppSupervisor`: the root of the actor tree. It starts each long-lived child (session
//! registry, notifier, scheduler, …) from a [`ChildSpec`], restarts a child that fails, and
//! points the child's [`ActorSlot`] at the new actor so handles keep working.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use futures::future::BoxFuture;
use ractor::{Actor, ActorCell, ActorId, ActorProcessingErr, ActorRef, SpawnErr, SupervisionEvent};

/// The current `ActorRef` of a restartable singleton; handles read it on every use.
pub struct ActorSlot<M: ractor::Message>(Arc<RwLock<Option<ActorRef<M>>>>);

impl<M: ractor::Message> Clone for ActorSlot<M> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<M: ractor::Message> Default for ActorSlot<M> {
    fn default() -> Self {
        Self(Arc::new(RwLock::new(None)))
    }
}

impl<M: ractor::Message> ActorSlot<M> {
    /// The current actor. Panics only if used before the supervisor started it, which
    /// `spawn_all` rules out by starting every child before returning the handles.
    pub fn get(&self) -> ActorRef<M> {
        self.0
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .expect("actor slots are filled before handles are handed out")
    }

    pub fn set(&self, actor: ActorRef<M>) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = Some(actor);
    }

    pub fn is_alive(&self) -> bool {
        self.0
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .is_some_and(|a| matches!(a.get_status(), ractor::ActorStatus::Running | ractor::ActorStatus::Starting))
    }
}

/// How to (re)start one child of the supervisor.
pub trait ChildSpec: Send + Sync + 'static {
    fn name(&self) -> &'static str;
    /// Spawns the child linked to `supervisor` and fills its slot.
    fn spawn(&self, supervisor: ActorCell) -> BoxFuture<'_, Result<ActorCell, SpawnErr>>;
    /// Whether the child is running (for `/readyz`).
    fn is_alive(&self) -> bool;
}

/// A [`ChildSpec`] for an actor whose handler and arguments can be rebuilt by a closure.
pub struct Child<A: Actor> {
    pub name: &'static str,
    pub slot: ActorSlot<A::Msg>,
    pub make: Box<dyn Fn() -> (A, A::Arguments) + Send + Sync>,
}

impl<A: Actor> ChildSpec for Child<A> {
    fn name(&self) -> &'static str {
        self.name
    }

    fn spawn(&self, supervisor: ActorCell) -> BoxFuture<'_, Result<ActorCell, SpawnErr>> {
        Box::pin(async move {
            let (actor, args) = (self.make)();
            let (actor_ref, _join) = Actor::spawn_linked(None, actor, args, supervisor).await?;
            self.slot.set(actor_ref.clone());
            Ok(actor_ref.get_cell())
        })
    }

    fn is_alive(&self) -> bool {
        self.slot.is_alive()
    }
}

pub enum SupervisorMsg {}

pub struct AppSupervisor;

pub struct SupervisorState {
    children: Vec<Arc<dyn ChildSpec>>,
    by_actor: HashMap<ActorId, usize>,
}

impl Actor for AppSupervisor {
    type Msg = SupervisorMsg;
    type State = SupervisorState;
    type Arguments = Vec<Arc<dyn ChildSpec>>;

    async fn pre_start(
        &self,
        myself: ActorRef<SupervisorMsg>,
        children: Vec<Arc<dyn ChildSpec>>,
    ) -> Result<SupervisorState, ActorProcessingErr> {
        let mut by_actor = HashMap::new();
        for (i, child) in children.iter().enumerate() {
            let cell = child.spawn(myself.get_cell()).await.map_err(|e| format!("starting {}: {e}", child.name()))?;
            by_actor.insert(cell.get_id(), i);
        }
        Ok(SupervisorState { children, by_actor })
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<SupervisorMsg>,
        event: SupervisionEvent,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        let (cell, failure) = match event {
            SupervisionEvent::ActorFailed(cell, err) => (cell, Some(err.to_string())),
            SupervisionEvent::ActorTerminated(cell, _, reason) => (cell, reason),
            _ => return Ok(()),
        };
        let Some(index) = state.by_actor.remove(&cell.get_id()) else {
            return Ok(());
        };
        let child = state.children[index].clone();
        tracing::error!(
            actor = child.name(),
            reason = failure.as_deref().unwrap_or(""),
            "actor stopped; restarting it"
        );
        metrics::counter!("primerka_actor_restarts_total", "actor" => child.name()).increment(1);
        // A child that cannot be restarted leaves the app unready (/readyz), not crashed.
        match child.spawn(myself.get_cell()).await {
            Ok(new_cell) => {
                state.by_actor.insert(new_cell.get_id(), index);
            }
            Err(e) => tracing::error!(actor = child.name(), error = %e, "restart failed"),
        }
        Ok(())
    }
}

/// The running tree: lets `/readyz` ask whether every child is alive.
#[derive(Clone)]
pub struct TreeHealth {
    pub supervisor: ActorRef<SupervisorMsg>,
    pub children: Vec<Arc<dyn ChildSpec>>,
}

impl TreeHealth {
    /// Names of children that are not running (empty when healthy).
    pub fn dead_children(&self) -> Vec<&'static str> {
        let mut dead: Vec<&'static str> = self.children.iter().filter(|c| !c.is_alive()).map(|c| c.name()).collect();
        if !matches!(self.supervisor.get_status(), ractor::ActorStatus::Running) {
            dead.push("supervisor");
        }
        dead
    }
}
