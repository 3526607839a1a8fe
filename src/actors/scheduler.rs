//! `Scheduler`: periodic jobs. Each job runs in its own task so the actor stays responsive,
//! and a job never overlaps with its previous run. Jobs: the idle-session sweep, the
//! expired-hold sweep, media retention, the bot's reminders (`reminders.rs`), and the payment actor's periodic work (renewals,
//! reconciling pending YooKassa payments and Stars payments), which the scheduler only triggers.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use ractor::{Actor, ActorProcessingErr, ActorRef};

use super::Services;
use super::registry::SessionRegistryHandle;

/// A periodic job.
pub struct Job {
    pub name: &'static str,
    pub every: Duration,
    /// Runs once in the cluster per period (claimed in `scheduler_claims`), not on every node.
    pub singleton: bool,
    pub run: Arc<dyn Fn() -> BoxFuture<'static, ()> + Send + Sync>,
}

pub enum SchedulerMsg {
    Run(usize),
    Done(usize),
    /// Panics the actor (tests of supervision; ignored in production).
    CrashForTest,
}

pub struct Scheduler {
    pub jobs: Arc<Vec<Job>>,
    /// In a cluster: the database and this node's id, to claim singleton jobs.
    pub claims: Option<(sqlx::PgPool, uuid::Uuid)>,
    /// `CrashForTest` panics (everywhere but production).
    pub crash_allowed: bool,
}

pub struct SchedulerState {
    running: HashSet<usize>,
}

impl Actor for Scheduler {
    type Msg = SchedulerMsg;
    type State = SchedulerState;
    type Arguments = ();

    async fn pre_start(&self, myself: ActorRef<SchedulerMsg>, _: ()) -> Result<SchedulerState, ActorProcessingErr> {
        for (i, job) in self.jobs.iter().enumerate() {
            // The timer task ends by itself when the actor stops (its sends start failing).
            drop(myself.send_interval(job.every, move || SchedulerMsg::Run(i)));
        }
        Ok(SchedulerState { running: HashSet::new() })
    }

    async fn handle(
        &self,
        myself: ActorRef<SchedulerMsg>,
        msg: SchedulerMsg,
        state: &mut SchedulerState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            SchedulerMsg::Run(i) => {
                let Some(job) = self.jobs.get(i) else {
                    return Ok(());
                };
                if !state.running.insert(i) {
                    return Ok(());
                }
                let run = job.run.clone();
                let name = job.name;
                let claim = if job.singleton { self.claims.clone().map(|c| (c, job.every)) } else { None };
                tokio::spawn(async move {
                    if let Some(((pool, node), every)) = claim {
                        match crate::db::cluster::claim_job(&pool, name, every, node).await {
                            Ok(true) => {}
                            Ok(false) => {
                                // Another node runs it this period.
                                let _ = myself.cast(SchedulerMsg::Done(i));
                                return;
                            }
                            Err(e) => {
                                tracing::debug!(job = name, error = %e, "could not claim a scheduled job");
                                let _ = myself.cast(SchedulerMsg::Done(i));
                                return;
                            }
                        }
                    }
                    let started = std::time::Instant::now();
                    // A panicking job must not leave it marked running forever.
                    let outcome = tokio::spawn(run()).await;
                    if let Err(e) = outcome {
                        tracing::error!(job = name, error = %e, "scheduled job panicked");
                    }
                    metrics::histogram!("primerka_job_duration_seconds", "job" => name)
                        .record(started.elapsed().as_secs_f64());
                    let _ = myself.cast(SchedulerMsg::Done(i));
                });
            }
            SchedulerMsg::Done(i) => {
                state.running.remove(&i);
            }
            SchedulerMsg::CrashForTest => {
                if self.crash_allowed {
                    panic!("scheduler crash requested by a test");
                }
                tracing::warn!("ignoring a test crash request in production");
            }
        }
        Ok(())
    }
}

/// The jobs of this stage.
pub fn core_jobs(
    services: Arc<Services>,
    sessions: SessionRegistryHandle,
    payments: super::payments::PaymentHandle,
    generator: super::generator::GeneratorHandle,
    notifier: super::notifier::NotifierHandle,
) -> Vec<Job> {
    let file = &services.settings.file;
    let sweep_sessions = {
        let sessions = sessions.clone();
        Job {
            name: "session_idle_sweep",
            singleton: false,
            every: Duration::from_secs(file.sessions.sweep_interval_secs.max(1)),
            run: Arc::new(move || {
                let sessions = sessions.clone();
                Box::pin(async move { sessions.sweep() })
            }),
        }
    };
    let sweep_holds = {
        let services = services.clone();
        Job {
            name: "expired_hold_sweep",
            singleton: true,
            every: Duration::from_secs(file.credits.hold_sweep_interval_secs.max(1)),
            run: Arc::new(move || {
                let services = services.clone();
                let sessions = sessions.clone();
                Box::pin(async move { release_expired_holds(&services, &sessions).await })
            }),
        }
    };
    let upload_retention = {
        let services = services.clone();
        Job {
            name: "upload_retention",
            singleton: true,
            every: Duration::from_secs(3600),
            run: Arc::new(move || {
                let services = services.clone();
                Box::pin(async move { delete_expired_uploads(&services).await })
            }),
        }
    };
    // Payment work is the PaymentActor's: the scheduler only says when.
    use super::payments::{PaymentError, PaymentHandle};
    type PaymentWork = fn(PaymentHandle) -> BoxFuture<'static, Result<(), PaymentError>>;
    let payment_job = |name: &'static str, every: u64, work: PaymentWork| {
        let payments = payments.clone();
        Job {
            name,
            singleton: true,
            every: Duration::from_secs(every.max(1)),
            run: Arc::new(move || {
                let payments = payments.clone();
                Box::pin(async move {
                    if let Err(e) = work(payments).await {
                        tracing::warn!(job = name, error = %e, "a payment job did not finish; it runs again next time");
                    }
                })
            }),
        }
    };
    let renewals = payment_job("subscription_renewals", file.credits.renewal_interval_secs, |p| {
        Box::pin(async move { p.run_renewals().await })
    });
    let reconcile = payment_job("payment_reconciliation", file.yookassa.reconcile_interval_secs, |p| {
        Box::pin(async move { p.reconcile_pending().await })
    });
    let stars = payment_job("stars_reconciliation", file.telegram.stars_reconcile_interval_secs, |p| {
        Box::pin(async move { p.reconcile_stars().await })
    });
    let mut jobs = vec![sweep_sessions, sweep_holds, upload_retention, renewals, reconcile, stars];
    if file.growth.reminders_interval_secs > 0 {
        let services = services.clone();
        jobs.push(Job {
            name: "reminders",
            singleton: true,
            every: Duration::from_secs(file.growth.reminders_interval_secs),
            run: Arc::new(move || {
                let (services, notifier) = (services.clone(), notifier.clone());
                Box::pin(async move {
                    super::reminders::run(&services, &notifier).await;
                })
            }),
        });
    }
    if file.cluster.enabled {
        let services = services.clone();
        jobs.push(Job {
            name: "cluster_frames_prune",
            singleton: true,
            every: Duration::from_secs(60),
            run: Arc::new(move || {
                let services = services.clone();
                Box::pin(async move {
                    if let Err(e) = crate::db::cluster::prune_frames(&services.pool).await {
                        tracing::debug!(error = %e, "could not prune the cluster's stored frames");
                    }
                })
            }),
        });
        // Every node tells its users their cluster-wide place in line.
        {
            let generator = generator.clone();
            jobs.push(Job {
                name: "cluster_queue_positions",
                singleton: false,
                every: Duration::from_secs(1),
                run: Arc::new(move || {
                    let generator = generator.clone();
                    Box::pin(async move { generator.publish_cluster_positions().await })
                }),
            });
        }
        // Every node keeps the leases of its own jobs and takes over those of a dead node.
        jobs.push(Job {
            name: "generation_leases",
            singleton: false,
            every: Duration::from_secs((file.cluster.lease_secs / 3).max(1)),
            run: Arc::new(move || {
                let generator = generator.clone();
                Box::pin(async move { generator.keep_leases().await })
            }),
        });
    }
    jobs
}

/// Deletes uploaded photos past `storage.upload_retention_days` and results past
/// `storage.result_retention_days` (0 keeps results until the user deletes them). Rows stay,
/// marked deleted, for the ledger and the job history; the files go.
pub async fn delete_expired_uploads(services: &Services) {
    delete_expired(services, Expired::Uploads).await;
    let days = services.settings.file.storage.result_retention_days;
    if days > 0 {
        delete_expired(services, Expired::Results { days }).await;
    }
}

#[derive(Clone, Copy, Debug)]
enum Expired {
    Uploads,
    Results { days: i64 },
}

async fn delete_expired(services: &Services, what: Expired) {
    const BATCH: i64 = 500;
    loop {
        let keys = match what {
            Expired::Uploads => crate::db::generations::expire_uploads(&services.pool, BATCH).await,
            Expired::Results { days } => crate::db::generations::expire_results(&services.pool, days, BATCH).await,
        };
        let keys = match keys {
            Ok(keys) => keys,
            Err(e) => {
                tracing::warn!(error = %e, ?what, "could not list expired media");
                return;
            }
        };
        for key in &keys {
            if let Err(e) = services.storage.delete(key).await {
                tracing::warn!(error = %e, ?what, "could not delete an expired file");
            }
        }
        if !keys.is_empty() {
            tracing::info!(count = keys.len(), ?what, "expired media deleted");
        }
        if (keys.len() as i64) < BATCH {
            return;
        }
    }
}

/// Releases holds whose operation is long gone (their expiry passed and no running
/// generation owns them), through the owner's session so an open Mini App sees the credits
/// come back.
pub async fn release_expired_holds(services: &Services, sessions: &SessionRegistryHandle) {
    let holds = match crate::db::credits::expired_open_holds(&services.pool, chrono::Utc::now(), 500).await {
        Ok(holds) => holds,
        Err(e) => {
            tracing::warn!(error = %e, "could not list expired holds");
            return;
        }
    };
    for hold in holds {
        match sessions.session(hold.user_id).release(hold.id, "expired").await {
            Ok(_) => {
                tracing::info!(user.id = %hold.user_id, hold.id = %hold.id, "released an expired hold")
            }
            Err(e) => {
                tracing::warn!(user.id = %hold.user_id, hold.id = %hold.id, error = %e, "could not release an expired hold")
            }
        }
    }
}
