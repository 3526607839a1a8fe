//! `PaymentActor` (DESIGN §3): the only writer of credit grants from payments. It receives a
//! payment object already fetched back from the provider (never a webhook body), checks it
//! against our row (status, amount, currency, our order id), applies it exactly once (the
//! payment's status guard and the ledger's idempotency key), then tells the user's session so
//! an open Mini App updates at once, and thanks the user through the bot.

use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use serde_json::json;
use uuid::Uuid;

use super::Services;
use super::events::frame;
use super::notifier::NotifierHandle;
use super::registry::SessionRegistryHandle;
use super::supervisor::ActorSlot;
use crate::clients::yookassa::YkPayment;
use crate::config::ProductKind;
use crate::db::payments::{self as pay_db, PaymentRow};
use crate::db::users::user_language;
use crate::domain::i18n::Lang;
use crate::domain::ids::UserId;
use crate::domain::tax;

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

/// Why a payment could not be reconciled now (it stays pending; the next try settles it).
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error(transparent)]
    Provider(crate::clients::yookassa::YooKassaError),
    #[error("the payment actor: {0}")]
    Actor(String),
}

/// Looks up YooKassa payments still `pending` some minutes after creation (a lost
/// notification, a user who never came back to the return page) and settles each on what
/// the API says. Pending payments older than a day are left to YooKassa's own expiry, which
/// the next look records as `canceled`.
pub async fn reconcile_pending(services: &Services, payments: &PaymentHandle) {
    let cfg = &services.settings.file.yookassa;
    let rows = match pay_db::pending_yookassa(
        &services.pool,
        chrono::Duration::seconds(cfg.reconcile_after_secs as i64),
        chrono::Duration::hours(cfg.reconcile_max_age_hours as i64),
        200,
    )
    .await
    {
        Ok(rows) => rows,
        Err(e) => {
            tracing::warn!(error = %e, "could not list pending payments");
            return;
        }
    };
    let mut settled = 0usize;
    for row in &rows {
        match payments.reconcile(services, row).await {
            Ok(Settled::Granted | Settled::Canceled) => settled += 1,
            Ok(_) => {}
            Err(e) => tracing::warn!(payment.id = %row.id, error = %e, "could not reconcile a pending payment"),
        }
    }
    if settled > 0 {
        tracing::info!(checked = rows.len(), settled, "pending payments reconciled");
    }
}

pub enum PaymentMsg {
    Settle(Uuid, Box<YkPayment>, RpcReplyPort<Result<Settled, String>>),
    /// An operator's grant of purchased credits, once per key.
    AdminGrant {
        user: UserId,
        credits: i32,
        key: String,
        note: String,
        reply: RpcReplyPort<Result<bool, String>>,
    },
    /// Telegram's `successful_payment` (the source of truth for Stars) for our payment `id`.
    StarsPaid {
        id: Uuid,
        payer: i64,
        total: i64,
        charge_id: String,
        raw: serde_json::Value,
        reply: RpcReplyPort<Result<Settled, String>>,
    },
    /// The provider refunded the payment: take its credits back (as many as are left), once.
    Refunded(Uuid, RpcReplyPort<Result<Option<i32>, String>>),
}

pub struct PaymentActor {
    pub services: Arc<Services>,
    pub sessions: SessionRegistryHandle,
    pub notifier: NotifierHandle,
}

impl Actor for PaymentActor {
    type Msg = PaymentMsg;
    type State = ();
    type Arguments = ();

    async fn pre_start(&self, _: ActorRef<PaymentMsg>, _: ()) -> Result<(), ActorProcessingErr> {
        Ok(())
    }

    async fn handle(&self, _: ActorRef<PaymentMsg>, msg: PaymentMsg, _: &mut ()) -> Result<(), ActorProcessingErr> {
        match msg {
            PaymentMsg::Settle(id, verified, reply) => {
                let result = self.settle(id, &verified).await.map_err(|e| e.to_string());
                let _ = reply.send(result);
            }
            PaymentMsg::AdminGrant { user, credits, key, note, reply } => {
                let result = self.admin_grant(user, credits, &key, &note).await.map_err(|e| e.to_string());
                let _ = reply.send(result);
            }
            PaymentMsg::StarsPaid { id, payer, total, charge_id, raw, reply } => {
                let result = self.stars_paid(id, payer, total, &charge_id, &raw).await.map_err(|e| e.to_string());
                let _ = reply.send(result);
            }
            PaymentMsg::Refunded(id, reply) => {
                let result = self.refunded(id).await.map_err(|e| e.to_string());
                let _ = reply.send(result);
            }
        }
        Ok(())
    }
}

impl PaymentActor {
    async fn settle(&self, id: Uuid, verified: &YkPayment) -> anyhow::Result<Settled> {
        let pool = &self.services.pool;
        let payment = pay_db::get(pool, id).await?;
        if payment.status != "pending" {
            return Ok(Settled::AlreadySettled);
        }
        if !matches_our_payment(&payment, verified) {
            tracing::warn!(payment.id = %id, provider.id = %verified.id, "the provider's payment does not match ours");
            return Ok(Settled::Mismatch);
        }
        match verified.status.as_str() {
            "succeeded" if verified.paid => {}
            "canceled" => {
                pay_db::mark_canceled(pool, id, &verified.raw).await?;
                return Ok(Settled::Canceled);
            }
            _ => return Ok(Settled::StillPending),
        }
        let product = self
            .services
            .catalogue
            .get(&payment.product)
            .ok_or_else(|| anyhow::anyhow!("unknown product {}", payment.product))?;
        let t = &self.services.settings.file.tax;
        let breakdown = tax::yookassa(payment.amount_minor, t.yookassa_commission_bp, t.npd_tax_bp);
        let method = verified.raw["payment_method"]
            .as_object()
            .filter(|m| m.get("saved").and_then(serde_json::Value::as_bool) == Some(true))
            .and_then(|m| m.get("id"))
            .and_then(serde_json::Value::as_str)
            .map(str::to_string)
            .or_else(|| verified.raw["payment_method_id"].as_str().map(str::to_string));
        let grant = match product.kind {
            ProductKind::Pack => pay_db::Grant::Pack { credits: product.credits },
            ProductKind::Subscription => pay_db::Grant::Period {
                credits: product.credits,
                period_days: product.period_days.unwrap_or(30),
                payment_method_id: method.as_deref(),
            },
        };
        let mut conn = pool.acquire().await?;
        if !pay_db::settle_succeeded(&mut conn, &payment, &grant, &breakdown, &verified.raw).await? {
            return Ok(Settled::AlreadySettled);
        }
        tracing::info!(payment.id = %id, user.id = %payment.user_id, credits = product.credits, "payment granted");
        metrics::counter!("primerka_payments_total", "provider" => "yookassa", "outcome" => "succeeded").increment(1);
        self.announce(&payment, product.credits, product.title(Lang::Ru), product.title(Lang::En)).await;
        Ok(Settled::Granted)
    }
}

impl PaymentActor {
    async fn admin_grant(&self, user: UserId, credits: i32, key: &str, note: &str) -> anyhow::Result<bool> {
        let key = format!("admin:{key}");
        let entry = crate::db::credits::Entry {
            user,
            key: &key,
            kind: "grant",
            reason: "admin",
            delta: crate::domain::credits::Split { free: 0, subscription: 0, purchased: credits },
            payment_id: None,
            note: Some(note),
        };
        let applied = crate::db::credits::apply_entry(&self.services.pool, &entry).await?.is_some();
        if applied {
            self.sessions.reload(user);
            let lang = Lang::from_code(&user_language(&self.services.pool, user).await.unwrap_or_default());
            let text = match lang {
                Lang::Ru => format!("Вам начислено {credits} кредитов от команды Примерки."),
                Lang::En => format!("The Primerka team added {credits} credits to your balance."),
            };
            self.notifier.send_text(user.0, text, None);
        }
        Ok(applied)
    }

    async fn stars_paid(
        &self,
        id: Uuid,
        payer: i64,
        total: i64,
        charge_id: &str,
        raw: &serde_json::Value,
    ) -> anyhow::Result<Settled> {
        let pool = &self.services.pool;
        let mut payment = pay_db::get(pool, id).await?;
        let renewal = raw["is_recurring"].as_bool() == Some(true)
            && raw["is_first_recurring"].as_bool() != Some(true)
            && payment.status != "pending"
            && payment.provider_payment_id.as_deref() != Some(charge_id);
        if renewal {
            // Telegram renewed a Stars plan by itself: the same payload (our first payment),
            // a new charge. It becomes its own payment, keyed by the charge id, paying the
            // next period of the plan the first payment started.
            match self.stars_renewal_row(&payment, payer, total, charge_id).await? {
                Some(row) => payment = row,
                None => return Ok(Settled::AlreadySettled),
            }
        }
        if payment.status != "pending" {
            return Ok(Settled::AlreadySettled);
        }
        if payment.provider != "stars" || payment.user_id.0 != payer || payment.amount_minor != total {
            tracing::warn!(payment.id = %id, payer, total, "a Stars payment does not match ours");
            return Ok(Settled::Mismatch);
        }
        let product = self
            .services
            .catalogue
            .get(&payment.product)
            .ok_or_else(|| anyhow::anyhow!("unknown product {}", payment.product))?;
        pay_db::set_provider(pool, payment.id, charge_id, payment.confirmation_url.as_deref()).await?;
        let payment = pay_db::get(pool, payment.id).await?;
        let t = &self.services.settings.file.tax;
        let breakdown = tax::stars(total, t.stars_kopecks_per_star, t.stars_commission_bp, t.npd_tax_bp);
        let mut conn = pool.acquire().await?;
        let grant = match product.kind {
            ProductKind::Pack => pay_db::Grant::Pack { credits: product.credits },
            // The first charge's id is what cancels the plan's renewals in Telegram.
            ProductKind::Subscription => pay_db::Grant::Period {
                credits: product.credits,
                period_days: product.period_days.unwrap_or(30),
                payment_method_id: Some(charge_id),
            },
        };
        if !pay_db::settle_succeeded(&mut conn, &payment, &grant, &breakdown, raw).await? {
            return Ok(Settled::AlreadySettled);
        }
        metrics::counter!("primerka_payments_total", "provider" => "stars", "outcome" => "succeeded").increment(1);
        self.announce(&payment, product.credits, product.title(Lang::Ru), product.title(Lang::En)).await;
        Ok(Settled::Granted)
    }

    /// The pending payment row for a Stars renewal charge, created once (its id is derived from
    /// the charge id); `None` when the renewal was already applied or no plan is running.
    async fn stars_renewal_row(
        &self,
        first: &PaymentRow,
        payer: i64,
        total: i64,
        charge_id: &str,
    ) -> anyhow::Result<Option<PaymentRow>> {
        let pool = &self.services.pool;
        let Some(subscription) = first.subscription_id else {
            tracing::warn!(payment.id = %first.id, "a Stars renewal for a payment that started no plan");
            return Ok(None);
        };
        if first.user_id.0 != payer {
            tracing::warn!(payment.id = %first.id, payer, "a Stars renewal from another payer");
            return Ok(None);
        }
        let id = renewal_payment_id(charge_id);
        match pay_db::get(pool, id).await {
            Ok(row) => return Ok((row.status == "pending").then_some(row)),
            Err(crate::db::DbError::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
        let inserted = pay_db::insert_pending(
            pool,
            pay_db::Rail::Stars,
            id,
            first.user_id,
            &first.product,
            total,
            Some(subscription),
        )
        .await;
        if let Err(e) = inserted {
            // A concurrent duplicate inserted it first: use that row.
            tracing::debug!(error = %e, "the renewal row exists already");
        }
        let row = pay_db::get(pool, id).await?;
        Ok((row.status == "pending").then_some(row))
    }

    /// After a grant: fresh balance on the sockets, `payment.succeeded`, a thank-you from the bot.
    async fn announce(&self, payment: &PaymentRow, credits: i32, title_ru: &str, title_en: &str) {
        self.sessions.reload(payment.user_id);
        self.sessions.publish(
            payment.user_id,
            frame(
                "payment.succeeded",
                json!({"payment_id": payment.id, "product": payment.product, "credits": credits}),
            ),
        );
        let lang = Lang::from_code(&user_language(&self.services.pool, payment.user_id).await.unwrap_or_default());
        let text = match (lang, payment.purpose == "renewal") {
            (Lang::Ru, false) => format!("Оплата прошла: +{credits} кредитов ({title_ru}). Спасибо!"),
            (Lang::En, false) => format!("Payment received: +{credits} credits ({title_en}). Thank you!"),
            (Lang::Ru, true) => format!("Подписка «{title_ru}» продлена на месяц: +{credits} кредитов."),
            (Lang::En, true) => format!("Your {title_en} plan was renewed for a month: +{credits} credits."),
        };
        self.notifier.send_text(payment.user_id.0, text, None);
    }

    async fn refunded(&self, id: Uuid) -> anyhow::Result<Option<i32>> {
        let pool = &self.services.pool;
        let payment = pay_db::get(pool, id).await?;
        let product = self.services.catalogue.get(&payment.product);
        let subscription = product.is_some_and(|p| p.kind == ProductKind::Subscription);
        let credits = product.map_or(0, |p| p.credits);
        let mut conn = pool.acquire().await?;
        let removed = pay_db::settle_refund(&mut conn, &payment, subscription, credits).await?;
        if removed.is_some() {
            self.sessions.reload(payment.user_id);
        }
        Ok(removed)
    }
}

/// The provider's object is about our payment: our order id, the same amount in roubles.
fn matches_our_payment(ours: &PaymentRow, theirs: &YkPayment) -> bool {
    ours.provider_payment_id.as_deref() == Some(theirs.id.as_str())
        && theirs.amount_kopecks == ours.amount_minor
        && theirs.currency == ours.currency
        && theirs.metadata["order_id"].as_str() == Some(ours.id.to_string().as_str())
}

/// Our payment id for a Stars renewal charge: the same charge always maps to the same row.
pub fn renewal_payment_id(charge_id: &str) -> Uuid {
    crate::domain::ids::derived_uuid(&format!("stars-renewal:{charge_id}"))
}

#[derive(Clone)]
pub struct PaymentHandle {
    slot: ActorSlot<PaymentMsg>,
}

impl PaymentHandle {
    pub fn new(slot: ActorSlot<PaymentMsg>) -> Self {
        PaymentHandle { slot }
    }

    pub async fn admin_grant(&self, user: UserId, credits: i32, key: String, note: String) -> Result<bool, String> {
        let actor = self.slot.get();
        let call = actor.call(
            |reply| PaymentMsg::AdminGrant { user, credits, key: key.clone(), note: note.clone(), reply },
            Some(Duration::from_secs(10)),
        );
        match call.await {
            Ok(ractor::rpc::CallResult::Success(result)) => result,
            Ok(_) => Err("the payment actor did not answer".into()),
            Err(e) => Err(e.to_string()),
        }
    }

    pub async fn stars_paid(
        &self,
        id: Uuid,
        payer: i64,
        total: i64,
        charge_id: String,
        raw: serde_json::Value,
    ) -> Result<Settled, String> {
        let actor = self.slot.get();
        let call = actor.call(
            |reply| PaymentMsg::StarsPaid { id, payer, total, charge_id: charge_id.clone(), raw: raw.clone(), reply },
            Some(Duration::from_secs(10)),
        );
        match call.await {
            Ok(ractor::rpc::CallResult::Success(result)) => result,
            Ok(_) => Err("the payment actor did not answer".into()),
            Err(e) => Err(e.to_string()),
        }
    }

    pub async fn refunded(&self, id: Uuid) -> Result<Option<i32>, String> {
        let actor = self.slot.get();
        match actor.call(|reply| PaymentMsg::Refunded(id, reply), Some(Duration::from_secs(10))).await {
            Ok(ractor::rpc::CallResult::Success(result)) => result,
            Ok(_) => Err("the payment actor did not answer".into()),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Fetches a YooKassa payment of ours from the API and settles it on what the API says.
    /// The return page, the webhook and the reconciliation job all come through here.
    pub async fn reconcile(&self, services: &Services, row: &PaymentRow) -> Result<Settled, ReconcileError> {
        let Some(provider_id) = row.provider_payment_id.as_deref() else { return Ok(Settled::StillPending) };
        let verified = services.yookassa.get_payment(provider_id).await.map_err(ReconcileError::Provider)?;
        self.settle(row.id, verified).await.map_err(ReconcileError::Actor)
    }

    /// Applies a payment object fetched from the provider.
    pub async fn settle(&self, id: Uuid, verified: YkPayment) -> Result<Settled, String> {
        let actor = self.slot.get();
        match actor
            .call(|reply| PaymentMsg::Settle(id, Box::new(verified.clone()), reply), Some(Duration::from_secs(10)))
            .await
        {
            Ok(ractor::rpc::CallResult::Success(result)) => result,
            Ok(_) => Err("the payment actor did not answer".into()),
            Err(e) => Err(e.to_string()),
        }
    }
}
