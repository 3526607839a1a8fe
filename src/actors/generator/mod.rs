//! `GeneratorPool` (DESIGN §3): runs generations against kie.ai for the whole process.
//!
//! - The pool actor owns the queue ([`queue::FairQueue`]: one FIFO per user, served
//!   round-robin), reports queue positions (`job.queued`) and starts at most
//!   `generation.workers` jobs at once, each as a worker task it watches.
//! - A worker ([`worker`]) drives one job through the durable states in `db::generations`:
//!   submit (`createTask` within the provider budget, retried on 429/455/connection errors with
//!   backoff and jitter), poll `recordInfo` (woken early by the kie.ai callback), then
//!   [`result`]: download, check, watermark when the hold says so, store, settle the hold,
//!   announce. Every state change is written before it is announced.
//! - Workers are tokio tasks, not actors: a job is one long sequence of awaits with no
//!   messages to receive, its state is in the database, and the pool watches each task's
//!   `JoinHandle` (a panicking worker's job is queued again; after `max_attempts` crashes it is
//!   failed and refunded). An actor per job would add a mailbox and nothing else.
//! - On (re)start the pool ([`recovery`]) queues every unfinished job from the database and
//!   settles holds of finished jobs a crash left open. A job whose `createTask` may have been
//!   sent but whose task id was never stored is failed and refunded, never submitted twice.
//! - [`budget::ProviderLimits`] are sliding windows shared by all workers.
//! - A job that ends (however it ends) is reported to the user's session (`job_ended`), which
//!   keeps the per-user count of generations in flight.

pub mod budget;
pub mod queue;
mod recovery;
mod result;
mod worker;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use dashmap::DashMap;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use tokio::sync::Notify;
use uuid::Uuid;

use self::budget::{Budget, ProviderLimits, SharedWindow, SlidingWindow};
use self::queue::FairQueue;
use super::Services;
use super::events::Event;
use super::registry::SessionRegistryHandle;
use super::supervisor::ActorSlot;
use crate::db::generations as gen_db;
use crate::domain::errors::ErrorCode;
use crate::domain::ids::UserId;
use crate::domain::watermark::Watermark;

/// State shared by the pool actor (across restarts) and its workers.
pub struct GenShared {
    services: Arc<Services>,
    sessions: SessionRegistryHandle,
    limits: ProviderLimits,
    /// Jobs a worker is driving right now (a job never has two drivers); its size is the number
    /// of jobs in flight, which survives a restart of the pool actor.
    running: DashMap<Uuid, ()>,
    /// Jobs this node holds (queued here or running here): in a cluster their leases are
    /// renewed ([`GeneratorHandle::keep_leases`]).
    held: DashMap<Uuid, UserId>,
    /// In a cluster: the cluster-wide place in line last told to each held job's user.
    told_positions: DashMap<Uuid, u32>,
    /// Wakes a polling worker early (kie.ai callback).
    wake: DashMap<Uuid, Arc<Notify>>,
    watermark: Option<Watermark>,
    /// Jobs waiting in the pool's queue (kept by the pool; read by `GeneratorHandle::is_full`).
    queued_len: AtomicUsize,
    /// The running pool actor: a worker reports its end there, so a job that ends after the pool
    /// was restarted still frees its place (and lets the next job start).
    slot: ActorSlot<GenMsg>,
}

pub enum GenMsg {
    /// Queue a job (its row and hold exist).
    Submit { id: Uuid, user: UserId },
    /// A worker ended; `panicked` re-queues the job.
    Done { id: Uuid, user: UserId, panicked: bool },
    /// Take a job out of the queue before a worker starts it: `true` when it was still queued
    /// (the job is then failed as `canceled` and its credits returned), `false` when it already
    /// runs (a kie.ai task may exist and is paid for).
    Cancel { id: Uuid, user: UserId, reply: RpcReplyPort<bool> },
    /// Panics the pool actor (tests of supervision; ignored in production).
    CrashForTest,
}

pub struct GeneratorPool {
    pub shared: Arc<GenShared>,
}

pub struct PoolState {
    queue: FairQueue,
    crashes: HashMap<Uuid, u32>,
}

impl Actor for GeneratorPool {
    type Msg = GenMsg;
    type State = PoolState;
    type Arguments = ();

    async fn pre_start(&self, myself: ActorRef<GenMsg>, _: ()) -> Result<PoolState, ActorProcessingErr> {
        let shared = self.shared.clone();
        // Recovery runs beside the actor so start-up is not held by the database.
        tokio::spawn(async move { recovery::recover(&shared, &myself).await });
        Ok(PoolState { queue: FairQueue::default(), crashes: HashMap::new() })
    }

    async fn handle(
        &self,
        _myself: ActorRef<GenMsg>,
        msg: GenMsg,
        state: &mut PoolState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            GenMsg::Submit { id, user } => {
                if self.shared.running.contains_key(&id) || !state.queue.push(id, user) {
                    return Ok(());
                }
                self.shared.held.insert(id, user);
                // In a cluster the place in line is the cluster's (`publish_cluster_positions`).
                if !self.shared.services.settings.file.cluster.enabled {
                    let position =
                        state.queue.positions().iter().find(|(job, _, _)| *job == id).map_or(1, |(_, _, p)| *p);
                    self.shared.sessions.publish(user, Event::JobQueued { generation_id: id, position }.frame());
                }
            }
            GenMsg::Done { id, user, panicked } => {
                if panicked {
                    let crashes = state.crashes.entry(id).or_default();
                    *crashes += 1;
                    let max = self.shared.services.settings.file.generation.max_attempts;
                    if *crashes >= max {
                        state.crashes.remove(&id);
                        let shared = self.shared.clone();
                        tokio::spawn(async move {
                            if let Ok(row) = gen_db::get(&shared.services.pool, id).await {
                                result::fail(&shared, &row, ErrorCode::JobInternal).await;
                            }
                        });
                    } else {
                        tracing::warn!(generation.id = %id, "a generator worker crashed; the job is queued again");
                        state.queue.push(id, user);
                    }
                } else {
                    state.crashes.remove(&id);
                    self.shared.held.remove(&id);
                    self.shared.told_positions.remove(&id);
                }
            }
            GenMsg::Cancel { id, user, reply } => {
                let removed = state.queue.remove(id, user) && !self.shared.running.contains_key(&id);
                if removed {
                    self.shared.held.remove(&id);
                    let shared = self.shared.clone();
                    // Failed and refunded beside the actor (database writes); nothing else can
                    // start it now that it left the queue.
                    tokio::spawn(async move {
                        if let Ok(row) = gen_db::get(&shared.services.pool, id).await {
                            result::fail(&shared, &row, ErrorCode::Canceled).await;
                        }
                    });
                }
                let _ = reply.send(removed);
                self.publish_positions(state);
            }
            GenMsg::CrashForTest => {
                if self.shared.services.settings.env == crate::config::AppEnv::Production {
                    tracing::warn!("ignoring a test crash request in production");
                } else {
                    panic!("generator pool crash requested by a test");
                }
            }
        }
        self.dispatch(state);
        Ok(())
    }
}

impl GeneratorPool {
    fn dispatch(&self, state: &mut PoolState) {
        let workers = self.shared.services.settings.file.generation.workers.max(1);
        let mut started = false;
        while self.shared.running.len() < workers {
            let Some((id, user)) = state.queue.pop() else { break };
            // Claimed here, before the task starts, so the count of jobs in flight is exact.
            if self.shared.running.insert(id, ()).is_some() {
                continue;
            }
            started = true;
            let shared = self.shared.clone();
            let worker = tokio::spawn(worker::run_job(shared.clone(), id));
            tokio::spawn(async move {
                let panicked = worker.await.is_err();
                shared.running.remove(&id);
                shared.wake.remove(&id);
                let _ = shared.slot.get().cast(GenMsg::Done { id, user, panicked });
            });
        }
        if started {
            self.publish_positions(state);
        }
        self.shared.queued_len.store(state.queue.len(), Ordering::Relaxed);
        metrics::gauge!("primerka_generator_queued").set(state.queue.len() as f64);
        metrics::gauge!("primerka_generator_in_flight").set(self.shared.running.len() as f64);
    }

    fn publish_positions(&self, state: &PoolState) {
        if self.shared.services.settings.file.cluster.enabled {
            return;
        }
        for (id, user, position) in state.queue.positions() {
            self.shared.sessions.publish(user, Event::JobQueued { generation_id: id, position }.frame());
        }
    }
}

/// Typed access to the pool.
#[derive(Clone)]
pub struct GeneratorHandle {
    slot: ActorSlot<GenMsg>,
    shared: Arc<GenShared>,
}

impl GeneratorHandle {
    /// Queues a job whose row and hold exist.
    pub fn submit(&self, id: Uuid, user: UserId) -> Result<(), ActorProcessingErr> {
        self.slot.get().cast(GenMsg::Submit { id, user }).map_err(|e| e.to_string().into())
    }

    /// The queue is at `generation.max_queue`: new work is refused ("busy, try again") before any
    /// credit is reserved, instead of the queue growing without limit.
    pub fn is_full(&self) -> bool {
        self.shared.queued_len.load(Ordering::Relaxed) >= self.shared.services.settings.file.generation.max_queue
    }

    /// Jobs waiting and running (for the operator's screen).
    pub fn load(&self) -> (usize, usize) {
        (self.shared.queued_len.load(Ordering::Relaxed), self.shared.running.len())
    }

    /// A provider callback arrived for `id`: poll it now rather than at the next interval.
    pub fn wake(&self, id: Uuid) {
        if let Some(notify) = self.shared.wake.get(&id) {
            notify.notify_one();
        }
    }

    /// Takes a still-queued job out of the queue (see [`GenMsg::Cancel`]).
    pub async fn cancel(&self, id: Uuid, user: UserId) -> Result<bool, String> {
        let pool = self.slot.get();
        match pool.call(|reply| GenMsg::Cancel { id, user, reply }, Some(Duration::from_secs(5))).await {
            Ok(ractor::rpc::CallResult::Success(removed)) => Ok(removed),
            Ok(_) => Err("the generator pool did not answer".into()),
            Err(e) => Err(e.to_string()),
        }
    }

    /// In a cluster: renews this node's leases on the jobs it holds, then takes over jobs whose
    /// node died (their lease ran out) and queues them here; each resumes from its stored state
    /// (a stored kie.ai task is polled, a task that may have been created is never created
    /// again). Run by the Scheduler on every node at a third of the lease.
    pub async fn keep_leases(&self) {
        let services = &self.shared.services;
        let ttl = Duration::from_secs(services.settings.file.cluster.lease_secs.max(3));
        let held: Vec<Uuid> = self.shared.held.iter().map(|e| *e.key()).collect();
        if !held.is_empty() {
            match crate::db::cluster::renew_leases(&services.pool, services.node, &held, ttl).await {
                Ok(kept) if kept.len() < held.len() => {
                    // Finished meanwhile, or another node took them over while this one was
                    // away: that node drives them now.
                    let kept: std::collections::HashSet<Uuid> = kept.into_iter().collect();
                    for id in held.iter().filter(|id| !kept.contains(id)) {
                        if !self.shared.running.contains_key(id) {
                            self.shared.held.remove(id);
                        }
                    }
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "could not renew the generation leases"),
            }
        }
        match crate::db::cluster::take_over_expired(&services.pool, services.node, ttl, 100).await {
            Ok(jobs) => {
                if !jobs.is_empty() {
                    tracing::warn!(jobs = jobs.len(), "taking over generations of a node that stopped");
                    metrics::counter!("primerka_generations_taken_over_total").increment(jobs.len() as u64);
                }
                for (id, user) in jobs {
                    let _ = self.submit(id, user);
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not look for generations to take over"),
        }
    }

    /// In a cluster: tells each user whose job this node holds its cluster-wide place in line
    /// (the fair order every node's pool serves; the shared createTask budget is taken
    /// first-come first-served and the per-user cap is cluster-wide, so no user takes more than
    /// their share of the line on any node). Sent when the place changes; run every second.
    pub async fn publish_cluster_positions(&self) {
        let held: Vec<Uuid> = self.shared.held.iter().map(|e| *e.key()).collect();
        if held.is_empty() {
            return;
        }
        let rows = match crate::db::cluster::queue_positions(&self.shared.services.pool, &held).await {
            Ok(rows) => rows,
            Err(e) => {
                tracing::debug!(error = %e, "could not read the cluster's queue positions");
                return;
            }
        };
        for (id, user, position) in rows {
            let position = u32::try_from(position).unwrap_or(u32::MAX);
            if self.shared.told_positions.insert(id, position) != Some(position) {
                self.shared.sessions.publish(user, Event::JobQueued { generation_id: id, position }.frame());
            }
        }
    }

    /// Test hook: makes the pool actor panic (ignored in production).
    pub fn crash_for_test(&self) {
        let _ = self.slot.get().cast(GenMsg::CrashForTest);
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
    // createTask's budget (a 10 s window) is kept in PostgreSQL always: a process that replaced a
    // crashed one (or another node) knows what was sent in the window. Polls (a 1 s window) are
    // counted in PostgreSQL only in a cluster.
    let create_window = Duration::from_millis(g.create_window_ms);
    let kie = &services.settings.file.kie;
    let stale = Duration::from_secs(kie.connect_timeout_secs + kie.request_timeout_secs);
    let pool = services.pool.clone();
    let create =
        Budget::Shared(SharedWindow::new(pool.clone(), "kie:create", g.create_per_window, create_window, stale));
    let second = Duration::from_secs(1);
    let poll = if services.settings.file.cluster.enabled {
        Budget::Shared(SharedWindow::new(pool, "kie:poll", g.polls_per_second, second, stale))
    } else {
        Budget::Local(SlidingWindow::new(g.polls_per_second, second))
    };
    let limits = ProviderLimits { create, poll };
    let slot = ActorSlot::default();
    let shared = Arc::new(GenShared {
        services,
        sessions,
        limits,
        running: DashMap::new(),
        held: DashMap::new(),
        told_positions: DashMap::new(),
        wake: DashMap::new(),
        watermark,
        queued_len: AtomicUsize::new(0),
        slot: slot.clone(),
    });
    let handle = GeneratorHandle { slot: slot.clone(), shared: shared.clone() };
    Ok((shared, slot, handle))
}
