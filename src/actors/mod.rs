//! The actor tree (DESIGN.md §3):
//!
//! ```text
//! AppSupervisor
//! ├── SessionRegistry ── SessionActor(user) …   one per active user, started on demand
//! ├── GeneratorPool ── worker tasks             kie.ai jobs within the provider's limits
//! ├── PaymentActor                              the single writer of payment grants
//! ├── Notifier                                  Bot API sends, rate-limited
//! └── Scheduler                                 idle sweep, expired holds, …
//! ```
//!
//! Handlers and sockets only use the typed handles in [`ActorHandles`]; every call has a
//! timeout. The database is the truth; actors hold live state and serialise work.

pub mod chat;
pub mod credit_writer;
pub mod events;
pub mod generator;
pub mod notifier;
pub mod payments;
pub mod registry;
pub mod renewals;
pub mod scheduler;
pub mod session;
pub mod supervisor;

use std::sync::Arc;
use std::time::Duration;

use ractor::Actor;
use sqlx::PgPool;

use crate::clients::kie::KieClient;
use crate::clients::telegram::TelegramClient;
use crate::config::Settings;
use crate::domain::pricing::Catalogue;
use notifier::{Notifier, NotifierHandle};
use registry::{SessionRegistry, SessionRegistryHandle};
use scheduler::Scheduler;
use supervisor::{ActorSlot, AppSupervisor, Child, ChildSpec, TreeHealth};

/// What the actors share: the pool, settings and provider clients.
pub struct Services {
    pub pool: PgPool,
    pub settings: Arc<Settings>,
    pub tz: chrono_tz::Tz,
    pub catalogue: Arc<Catalogue>,
    pub telegram: TelegramClient,
    /// Executes (and batches) the sessions' reserve / commit / release statements.
    pub credits: credit_writer::CreditWriter,
    /// Uploaded photos and results, with signed links.
    pub storage: crate::storage::Storage,
    pub kie: KieClient,
    pub yookassa: crate::clients::yookassa::YooKassaClient,
    pub openrouter: crate::clients::openrouter::OpenRouterClient,
    /// The try-on prompt of every category (`generation.tryon_prompt_path` and
    /// `generation.tryon_prompts_dir`).
    pub tryon_prompts: crate::domain::tryon::TryOnPrompts,
    /// The editor assistant's system prompt (`chat.system_prompt_path`).
    pub chat_system_prompt: String,
}

/// Typed handles to the running tree.
#[derive(Clone)]
pub struct ActorHandles {
    pub sessions: SessionRegistryHandle,
    pub notifier: NotifierHandle,
    pub generator: generator::GeneratorHandle,
    pub payments: payments::PaymentHandle,
    pub health: TreeHealth,
}

/// Starts the whole tree; returns once every child runs.
pub async fn spawn_all(services: Arc<Services>) -> anyhow::Result<ActorHandles> {
    let session_map: registry::SessionMap = Default::default();
    let registry_slot = ActorSlot::default();
    let notifier_slot = ActorSlot::default();
    let scheduler_slot = ActorSlot::default();
    let timeout = Duration::from_millis(services.settings.file.sessions.call_timeout_ms);
    let sessions = SessionRegistryHandle::new(registry_slot.clone(), session_map.clone(), timeout);
    let payment_slot = ActorSlot::default();
    let jobs = Arc::new(scheduler::core_jobs(
        services.clone(),
        sessions.clone(),
        payments::PaymentHandle::new(payment_slot.clone()),
        NotifierHandle::new(notifier_slot.clone()),
    ));
    let (gen_shared, generator_slot, generator) = generator::build(services.clone(), sessions.clone())?;

    let children: Vec<Arc<dyn ChildSpec>> = vec![
        Arc::new(Child::<SessionRegistry> {
            name: "session_registry",
            slot: registry_slot,
            make: Box::new({
                let services = services.clone();
                move || (SessionRegistry { services: services.clone(), map: session_map.clone() }, ())
            }),
        }),
        Arc::new(Child::<Notifier> {
            name: "notifier",
            slot: notifier_slot.clone(),
            make: Box::new({
                let services = services.clone();
                move || (Notifier { services: services.clone() }, ())
            }),
        }),
        Arc::new(Child::<generator::GeneratorPool> {
            name: "generator_pool",
            slot: generator_slot,
            make: Box::new(move || (generator::GeneratorPool { shared: gen_shared.clone() }, ())),
        }),
        Arc::new(Child::<payments::PaymentActor> {
            name: "payments",
            slot: payment_slot.clone(),
            make: Box::new({
                let services = services.clone();
                let sessions = sessions.clone();
                let notifier = NotifierHandle::new(notifier_slot.clone());
                move || {
                    let actor = payments::PaymentActor {
                        services: services.clone(),
                        sessions: sessions.clone(),
                        notifier: notifier.clone(),
                    };
                    (actor, ())
                }
            }),
        }),
        Arc::new(Child::<Scheduler> {
            name: "scheduler",
            slot: scheduler_slot,
            make: Box::new(move || (Scheduler { jobs: jobs.clone() }, ())),
        }),
    ];
    let (supervisor, _join) = Actor::spawn(None, AppSupervisor, children.clone())
        .await
        .map_err(|e| anyhow::anyhow!("starting the actor tree: {e}"))?;
    Ok(ActorHandles {
        sessions,
        notifier: NotifierHandle::new(notifier_slot),
        generator,
        payments: payments::PaymentHandle::new(payment_slot),
        health: TreeHealth { supervisor, children },
    })
}
