//! `PaymentActor` (DESIGN §3): owns every payment workflow and is the only writer of credit
//! grants from payments.
//!
//! - **Calls to the providers** (YooKassa create / fetch / refund / saved-method charges,
//!   Telegram's Stars invoices, refunds, subscription edits, pre-checkout answers) run in tasks
//!   the actor spawns and tracks (`TaskTracker`), so a slow provider never stalls the actor; a
//!   task reports back with a message when its result must change money.
//! - **Grants** happen in the actor, one at a time: a payment object fetched back from the
//!   provider (never a webhook body) is checked against our row and applied once
//!   (`db::payments::settle_succeeded`: status guard + ledger key `payment:<id>`); then the
//!   user's session reloads, `payment.succeeded` is published and the bot says thank you.
//! - **Reconciling** a pending YooKassa payment (the return page's poll, the webhook, the
//!   scheduler's job for payments pending too long) fetches it at most once per
//!   `yookassa.poll_min_interval_ms` however often the user polls; callers arriving while a
//!   fetch runs wait for that fetch (`yookassa.rs`).
//! - **Stars** (`stars.rs`): a `successful_payment` is stored in `stars_inbox` before the webhook
//!   answers (if even that fails, the webhook answers 5xx and Telegram retries), then applied
//!   from the inbox; unapplied rows and `getStarTransactions` are reconciled on a schedule.
//! - **Refunds** (`refunds.rs`) and **renewals** (`renewals.rs`) follow the same shape. A refund
//!   made in YooKassa's dashboard (`refund.succeeded`) is fetched back and applied like the
//!   operator's, once.
//! - **Law** (issue 17): a subscription needs the `autorenew` consent, a rouble payment the
//!   buyer's contact (sent in every receipt, renewals and refunds included), and in НПД mode
//!   no rouble sale may take the year's income above the cap (`npd.rs`).

mod grants;
mod growth;
pub mod npd;
mod refunds;
pub mod renewals;
mod stars;
mod yookassa;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use ractor::rpc::CallResult;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use tokio::time::Instant;
use tokio_util::task::TaskTracker;
use uuid::Uuid;

pub use self::refunds::RefundOutcome;
pub use self::stars::{PreCheckout, StarsPayment};
pub use self::yookassa::Created;
use super::Services;
use super::notifier::NotifierHandle;
use super::registry::SessionRegistryHandle;
use super::supervisor::ActorSlot;
use crate::clients::yookassa::{YkPayment, YooKassaError};
use crate::db::DbError;
use crate::db::payments::PaymentRow;
use crate::db::subscriptions::SubscriptionRow;
use crate::db::types::PaymentProvider;
use crate::domain::errors::ErrorCode;
use crate::domain::i18n::Lang;
use crate::domain::ids::UserId;

/// What settling a verified payment did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    Granted,
    AlreadySettled,
    Canceled,
    StillPending,
    /// The provider's object does not match our payment: nothing is granted.
    Mismatch,
}

/// Why a payment request was not done.
#[derive(Debug, thiserror::Error)]
pub enum PaymentError {
    /// A refusal the user can act on (`not_available`, …).
    #[error("refused: {0}")]
    Rejected(ErrorCode),
    /// The provider could not be reached or answered an error worth retrying later.
    #[error("the payment provider is unavailable: {0}")]
    Unavailable(String),
    /// The provider refused the operation for good (e.g. a refund of a refunded payment).
    #[error("the provider refused: {0}")]
    Refused(String),
    #[error("not found")]
    NotFound,
    #[error("database: {0}")]
    Db(#[from] DbError),
    #[error("the payment actor did not answer")]
    ActorUnavailable,
}

impl From<YooKassaError> for PaymentError {
    fn from(e: YooKassaError) -> Self {
        match e {
            YooKassaError::Transient(_) => PaymentError::Unavailable(e.to_string()),
            e => PaymentError::Refused(e.to_string()),
        }
    }
}

type Reply<T> = RpcReplyPort<Result<T, PaymentError>>;

/// A purchase a user starts.
#[derive(Debug, Clone)]
pub struct NewOrder {
    pub user: UserId,
    pub product: String,
    pub rail: PaymentProvider,
    /// YooKassa: answer a `confirmation_token` for the embedded widget instead of a redirect URL.
    pub embedded: bool,
    pub lang: Lang,
}

pub enum PaymentMsg {
    /// Start a purchase: our row first, then the provider (in a task).
    Create(Box<NewOrder>, Reply<Created>),
    /// How a payment is (a pending YooKassa one is fetched back and settled): for its owner
    /// (`user`), or for the holder of its signed return link (`None`).
    Status { user: Option<UserId>, id: Uuid, reply: Reply<PaymentRow> },
    /// YooKassa notified us about its payment `provider_id` (a hint: it is fetched back).
    Notified { provider_id: String, reply: Reply<()> },
    /// A fetch task's answer.
    Fetched { id: Uuid, result: Result<YkPayment, YooKassaError> },
    /// Applies a payment object fetched from the provider (renewals).
    Settle(Uuid, Box<YkPayment>, Reply<Settled>),
    /// The scheduler: fetch YooKassa payments pending too long (answered once they are settled).
    ReconcilePending(Reply<()>),
    /// The scheduler: renew plans whose period ended, lapse the ones that must (answered when done).
    RunRenewals(Reply<()>),
    /// Answers once every message sent before it was handled.
    Ack(Reply<()>),
    /// An operator's grant of purchased credits, once per key (scoped to the user).
    AdminGrant { user: UserId, credits: i32, key: String, note: String, reply: Reply<bool> },
    /// An operator refunds a payment in full (money first, then the credits).
    Refund { id: Uuid, reason: String, reply: Reply<RefundOutcome> },
    /// A refund task's answer: the provider refunded `id` (status; `refund_id`, the provider's
    /// refund, when known) or refused.
    RefundDone {
        id: Uuid,
        refund_id: Option<String>,
        result: Result<String, PaymentError>,
        reply: Reply<RefundOutcome>,
    },
    /// YooKassa notified `refund.succeeded` (a refund made in its dashboard, say): the refund is
    /// fetched back and, when it returned the whole payment, applied like the operator's.
    RefundNotified { refund_id: String, reply: Reply<()> },
    /// An operator raises the НПД cap and/or resets the year's count.
    SetNpdCap { cap_kopecks: Option<i64>, reset: bool, reply: Reply<npd::NpdCap> },
    /// Stop a plan's renewals (a Stars plan is cancelled in Telegram first).
    CancelSubscription { user: UserId, reply: Reply<SubscriptionRow> },
    /// Telegram's `successful_payment` for Stars: answered once it is stored, then applied.
    StarsPaid(Box<StarsPayment>, Reply<()>),
    /// The scheduler (and the actor's start): apply Stars payments still unapplied, and store ones
    /// whose update never arrived (answered when done).
    ReconcileStars(Option<Reply<()>>),
    /// Telegram asks whether a Stars payment may go ahead (answered within its 10 s).
    PreCheckout(Box<PreCheckout>),
    /// An invitation (`ref_<code>`) for a user: attached once, unless refused.
    AttachReferral { invitee: UserId, code: String, source: &'static str, reply: Reply<crate::db::referrals::Attached> },
    /// A user redeems a promo code (credits granted, or a discount kept for the next payment).
    RedeemPromo { user: UserId, code: String, reply: Reply<crate::db::promo::Redeemed> },
    /// Panics the actor (tests of supervision; ignored in production).
    CrashForTest,
}

pub struct PaymentActor {
    pub services: Arc<Services>,
    pub sessions: SessionRegistryHandle,
    pub notifier: NotifierHandle,
    /// Provider calls in flight (they outlive a restart of the actor and finish their work).
    pub tasks: TaskTracker,
}

/// Someone waiting for a fetch of a pending payment to finish.
enum Waiter {
    Row(Reply<PaymentRow>),
    Done(Reply<()>),
}

pub struct PaymentState {
    /// Payments being fetched back from YooKassa, with who waits for each.
    fetching: HashMap<Uuid, Vec<Waiter>>,
    /// When each payment was last fetched (polls within the interval are not fetched again).
    fetched_at: HashMap<Uuid, Instant>,
}

impl Actor for PaymentActor {
    type Msg = PaymentMsg;
    type State = PaymentState;
    type Arguments = ();

    async fn pre_start(&self, myself: ActorRef<PaymentMsg>, _: ()) -> Result<PaymentState, ActorProcessingErr> {
        // Stars payments that arrived while the actor was down (or whose apply failed) are
        // applied as soon as it is up again.
        let _ = myself.cast(PaymentMsg::ReconcileStars(None));
        Ok(PaymentState { fetching: HashMap::new(), fetched_at: HashMap::new() })
    }

    async fn handle(
        &self,
        myself: ActorRef<PaymentMsg>,
        msg: PaymentMsg,
        state: &mut PaymentState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            PaymentMsg::Create(order, reply) => self.create(*order, reply).await,
            PaymentMsg::Status { user, id, reply } => self.status(&myself, state, user, id, reply).await,
            PaymentMsg::Notified { provider_id, reply } => self.notified(&myself, state, &provider_id, reply).await,
            PaymentMsg::Fetched { id, result } => self.fetched(state, id, result).await,
            PaymentMsg::Settle(id, verified, reply) => {
                let _ = reply.send(self.settle(id, &verified).await);
            }
            PaymentMsg::ReconcilePending(reply) => self.reconcile_pending(&myself, state, reply).await,
            PaymentMsg::RunRenewals(reply) => {
                let (services, notifier, me) = (self.services.clone(), self.notifier.clone(), myself.clone());
                self.tasks.spawn(async move {
                    renewals::run(&services, &me, &notifier).await;
                    let _ = reply.send(Ok(()));
                });
            }
            PaymentMsg::Ack(reply) => {
                let _ = reply.send(Ok(()));
            }
            PaymentMsg::AdminGrant { user, credits, key, note, reply } => {
                let _ = reply.send(self.admin_grant(user, credits, &key, &note).await);
            }
            PaymentMsg::Refund { id, reason, reply } => self.refund(&myself, id, reason, reply).await,
            PaymentMsg::RefundDone { id, refund_id, result, reply } => {
                self.refund_done(id, refund_id, result, reply).await
            }
            PaymentMsg::RefundNotified { refund_id, reply } => self.refund_notified(&myself, refund_id, reply).await,
            PaymentMsg::SetNpdCap { cap_kopecks, reset, reply } => {
                let _ = reply.send(self.set_npd_cap(cap_kopecks, reset).await);
            }
            PaymentMsg::CancelSubscription { user, reply } => self.cancel_subscription(user, reply),
            PaymentMsg::StarsPaid(payment, reply) => self.stars_received(*payment, reply).await,
            PaymentMsg::ReconcileStars(reply) => self.reconcile_stars(&myself, reply).await,
            PaymentMsg::PreCheckout(query) => self.pre_checkout(*query),
            PaymentMsg::AttachReferral { invitee, code, source, reply } => {
                let _ = reply.send(self.attach_referral(invitee, &code, source).await);
            }
            PaymentMsg::RedeemPromo { user, code, reply } => {
                let _ = reply.send(self.redeem_promo(user, &code).await);
            }
            PaymentMsg::CrashForTest => {
                if self.services.settings.env == crate::config::AppEnv::Production {
                    tracing::warn!("ignoring a test crash request in production");
                } else {
                    panic!("payment actor crash requested by a test");
                }
            }
        }
        // Old fetch stamps are of no use once the poll interval passed.
        let keep = Duration::from_millis(self.services.settings.file.yookassa.poll_min_interval_ms);
        if state.fetched_at.len() > 1024 {
            state.fetched_at.retain(|_, at| at.elapsed() < keep);
        }
        Ok(())
    }
}

/// Typed access to the payment actor. Calls survive a restart of the actor: a call that found
/// it gone is retried once it is back (every message is safe to repeat: grants are once-only).
#[derive(Clone)]
pub struct PaymentHandle {
    slot: ActorSlot<PaymentMsg>,
}

impl PaymentHandle {
    pub fn new(slot: ActorSlot<PaymentMsg>) -> Self {
        PaymentHandle { slot }
    }

    async fn call<T: Send + 'static>(
        &self,
        timeout: Duration,
        build: impl Fn(Reply<T>) -> PaymentMsg,
    ) -> Result<T, PaymentError> {
        for attempt in 0..5u64 {
            match self.slot.get().call(&build, Some(timeout)).await {
                Ok(CallResult::Success(result)) => return result,
                Ok(CallResult::Timeout) => return Err(PaymentError::ActorUnavailable),
                // The actor is restarting: its supervisor puts a new one in the slot shortly.
                Ok(CallResult::SenderError) | Err(_) => {
                    tokio::time::sleep(Duration::from_millis(100 * (attempt + 1))).await;
                }
            }
        }
        Err(PaymentError::ActorUnavailable)
    }

    fn cast(&self, msg: PaymentMsg) {
        if self.slot.get().cast(msg).is_err() {
            tracing::warn!("the payment actor is unavailable; the scheduler will try again");
        }
    }

    pub async fn create(&self, order: NewOrder) -> Result<Created, PaymentError> {
        self.call(Duration::from_secs(60), |reply| PaymentMsg::Create(Box::new(order.clone()), reply)).await
    }

    pub async fn status(&self, user: UserId, id: Uuid) -> Result<PaymentRow, PaymentError> {
        self.call(Duration::from_secs(30), |reply| PaymentMsg::Status { user: Some(user), id, reply }).await
    }

    /// The payment's status for the return page (the caller checked the link's signature).
    pub async fn status_by_link(&self, id: Uuid) -> Result<PaymentRow, PaymentError> {
        self.call(Duration::from_secs(30), |reply| PaymentMsg::Status { user: None, id, reply }).await
    }

    pub async fn notified(&self, provider_id: String) -> Result<(), PaymentError> {
        self.call(Duration::from_secs(30), |reply| PaymentMsg::Notified { provider_id: provider_id.clone(), reply })
            .await
    }

    pub async fn settle(&self, id: Uuid, verified: YkPayment) -> Result<Settled, PaymentError> {
        self.call(Duration::from_secs(10), |reply| PaymentMsg::Settle(id, Box::new(verified.clone()), reply)).await
    }

    pub async fn admin_grant(
        &self,
        user: UserId,
        credits: i32,
        key: String,
        note: String,
    ) -> Result<bool, PaymentError> {
        self.call(Duration::from_secs(10), |reply| PaymentMsg::AdminGrant {
            user,
            credits,
            key: key.clone(),
            note: note.clone(),
            reply,
        })
        .await
    }

    pub async fn refund(&self, id: Uuid, reason: String) -> Result<RefundOutcome, PaymentError> {
        self.call(Duration::from_secs(45), |reply| PaymentMsg::Refund { id, reason: reason.clone(), reply }).await
    }

    /// YooKassa's `refund.succeeded` for refund `refund_id` (a hint: it is fetched back).
    pub async fn refund_notified(&self, refund_id: String) -> Result<(), PaymentError> {
        self.call(Duration::from_secs(30), |reply| PaymentMsg::RefundNotified { refund_id: refund_id.clone(), reply })
            .await
    }

    /// An operator's new НПД cap (kopecks) and/or a reset of the year's count.
    pub async fn set_npd_cap(&self, cap_kopecks: Option<i64>, reset: bool) -> Result<npd::NpdCap, PaymentError> {
        self.call(Duration::from_secs(10), |reply| PaymentMsg::SetNpdCap { cap_kopecks, reset, reply }).await
    }

    pub async fn cancel_subscription(&self, user: UserId) -> Result<SubscriptionRow, PaymentError> {
        self.call(Duration::from_secs(30), |reply| PaymentMsg::CancelSubscription { user, reply }).await
    }

    /// Stores a Stars payment Telegram reported; `Ok` once it is stored durably.
    pub async fn stars_paid(&self, payment: StarsPayment) -> Result<(), PaymentError> {
        self.call(Duration::from_secs(10), |reply| PaymentMsg::StarsPaid(Box::new(payment.clone()), reply)).await
    }

    pub fn pre_checkout(&self, query: PreCheckout) {
        self.cast(PaymentMsg::PreCheckout(Box::new(query)));
    }

    /// Fetches and settles YooKassa payments pending too long; returns when they are settled.
    pub async fn reconcile_pending(&self) -> Result<(), PaymentError> {
        self.call(Duration::from_secs(120), PaymentMsg::ReconcilePending).await
    }

    /// Renews the plans that are due (and lapses the ones that must); returns when done.
    pub async fn run_renewals(&self) -> Result<(), PaymentError> {
        self.call(Duration::from_secs(300), PaymentMsg::RunRenewals).await
    }

    /// Applies unapplied Stars payments and stores the ones whose update never came; returns
    /// when done.
    pub async fn reconcile_stars(&self) -> Result<(), PaymentError> {
        self.call(Duration::from_secs(60), |reply| PaymentMsg::ReconcileStars(Some(reply))).await
    }

    /// Attaches an invitation `ref_<code>` to `invitee` (see `growth.rs`).
    pub async fn attach_referral(
        &self,
        invitee: UserId,
        code: String,
        source: &'static str,
    ) -> Result<crate::db::referrals::Attached, PaymentError> {
        self.call(Duration::from_secs(10), |reply| PaymentMsg::AttachReferral {
            invitee,
            code: code.clone(),
            source,
            reply,
        })
        .await
    }

    /// Redeems a promo code for `user`.
    pub async fn redeem_promo(&self, user: UserId, code: String) -> Result<crate::db::promo::Redeemed, PaymentError> {
        self.call(Duration::from_secs(10), |reply| PaymentMsg::RedeemPromo { user, code: code.clone(), reply }).await
    }

    /// Test hook: makes the payment actor panic (ignored in production).
    pub fn crash_for_test(&self) {
        let _ = self.slot.get().cast(PaymentMsg::CrashForTest);
    }
}
