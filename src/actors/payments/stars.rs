//! Telegram Stars: invoices, the pre-checkout answer, and `successful_payment` — stored in the
//! `stars_inbox` before the webhook answers, then applied from there exactly once.
//!
//! Telegram sends an update once it got a 2xx. So the webhook's answer waits only for the
//! durable insert (a failure → 5xx → Telegram retries), and the grant is applied after it, from
//! the inbox: right away, again at the actor's start, and on the scheduler's `ReconcileStars`
//! (which also lists recent `getStarTransactions` and stores any payment whose update never
//! arrived). A row is marked applied only once its grant is done (or found already done).

use ractor::ActorRef;
use serde_json::{Value, json};
use uuid::Uuid;

use super::yookassa::Created;
use super::{NewOrder, PaymentActor, PaymentError, PaymentMsg, Reply, Settled};
use crate::db::DbError;
use crate::db::payments::{self as pay_db, PaymentRow, StarsInboxRow};
use crate::db::types::{PaymentProvider, PaymentStatus};
use crate::domain::i18n::{self, Lang};
use crate::domain::pricing::{Product, ProductKind, STARS_PERIOD_DAYS};
use crate::domain::tax;

/// A `successful_payment` in XTR, as Telegram reported it.
#[derive(Debug, Clone)]
pub struct StarsPayment {
    /// Our payment id: the invoice payload.
    pub payment_id: Uuid,
    pub payer: i64,
    pub total: i64,
    pub charge_id: String,
    /// The `successful_payment` object (kept with the payment).
    pub raw: Value,
}

/// Telegram's `pre_checkout_query`, the parts that are checked.
#[derive(Debug, Clone)]
pub struct PreCheckout {
    pub query_id: String,
    pub payer: i64,
    pub payload: Option<Uuid>,
    pub total: Option<i64>,
    pub currency: String,
    pub lang: Lang,
}

/// Unapplied inbox rows taken per reconciliation run, and Stars transactions looked at.
const INBOX_BATCH: i64 = 200;
const TRANSACTIONS_LOOKED_AT: u32 = 100;

impl PaymentActor {
    /// A Stars invoice for a pack or a 30-day plan: the Mini App opens `invoice_link` with
    /// `WebApp.openInvoice`; the credits arrive with Telegram's `successful_payment` (for a
    /// plan, again with every monthly renewal Telegram charges by itself).
    pub(super) async fn stars_invoice(&self, order: NewOrder, product: Product, reply: Reply<Created>) {
        let id = Uuid::new_v4();
        let pool = self.services.pool.clone();
        if let Err(e) = pay_db::insert_pending(
            &pool,
            PaymentProvider::Stars,
            id,
            order.user,
            &product.id,
            product.price_stars,
            None,
        )
        .await
        {
            let _ = reply.send(Err(e.into()));
            return;
        }
        let services = self.services.clone();
        self.tasks.spawn(async move {
            let lang = order.lang;
            let subscription = product.kind == ProductKind::Subscription;
            let description = i18n::stars_invoice_description(lang, subscription);
            let period = subscription.then_some((STARS_PERIOD_DAYS * 86_400) as u32);
            let link = match services
                .telegram
                .create_stars_invoice_link(
                    product.title(lang),
                    description,
                    &id.to_string(),
                    product.price_stars,
                    period,
                )
                .await
            {
                Ok(link) => link,
                Err(e) => {
                    let _ = pay_db::mark_canceled(&pool, id, &json!({"error": e.to_string()})).await;
                    let _ = reply.send(Err(PaymentError::Unavailable(e.to_string())));
                    return;
                }
            };
            let result = async {
                pay_db::set_provider_link(&pool, id, &link).await?;
                pay_db::get(&pool, id).await
            }
            .await;
            let _ = reply.send(
                result
                    .map(|row| Created { row, confirmation_token: None, return_url: None, invoice_link: Some(link) })
                    .map_err(PaymentError::from),
            );
        });
    }

    /// Only cheap checks, answered in a task: our pending Stars payment, the same payer, the
    /// same amount. Telegram waits at most 10 s.
    pub(super) fn pre_checkout(&self, query: PreCheckout) {
        let services = self.services.clone();
        self.tasks.spawn(async move {
            let valid = match query.payload {
                Some(id) => match pay_db::get(&services.pool, id).await {
                    Ok(p) => {
                        p.provider == PaymentProvider::Stars
                            && p.status == PaymentStatus::Pending
                            && p.user_id.0 == query.payer
                            && Some(p.amount_minor) == query.total
                            && query.currency == "XTR"
                    }
                    Err(_) => false,
                },
                None => false,
            };
            let error = (!valid).then(|| i18n::stale_invoice_text(query.lang));
            if let Err(e) = services.telegram.answer_pre_checkout_query(&query.query_id, error).await {
                tracing::warn!(error = %e, "could not answer a pre-checkout query");
            }
        });
    }

    /// Stores the payment in the inbox and answers; then applies it.
    pub(super) async fn stars_received(&self, payment: StarsPayment, reply: Reply<()>) {
        let row = StarsInboxRow {
            charge_id: payment.charge_id.clone(),
            payment_id: payment.payment_id,
            payer: payment.payer,
            total_stars: payment.total,
            raw: payment.raw,
            attempts: 0,
        };
        let source = if row.raw["source"] == "getStarTransactions" { "transactions" } else { "webhook" };
        if let Err(e) = pay_db::inbox_insert(&self.services.pool, &row, source).await {
            tracing::error!(charge.id = %row.charge_id, error = %e, "could not store a Stars payment; Telegram will send it again");
            let _ = reply.send(Err(e.into()));
            return;
        }
        // Stored: Telegram may stop sending it. Applied from the stored row before answering,
        // so the Mini App sees the credits as soon as Telegram says "paid"; a failure here is
        // retried from the inbox (a duplicate update finds it applied and changes nothing).
        match pay_db::inbox_get(&self.services.pool, &row.charge_id).await {
            Ok(Some(stored)) => self.apply_inbox_row(&stored).await,
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "could not read a stored Stars payment; the scheduler will apply it"),
        }
        let _ = reply.send(Ok(()));
    }

    /// The scheduler's job (and the actor's start): apply inbox rows not applied yet, and store
    /// the Stars payments `getStarTransactions` knows whose update never reached us.
    pub(super) async fn reconcile_stars(&self, myself: &ActorRef<PaymentMsg>, reply: Option<Reply<()>>) {
        match pay_db::inbox_unapplied(&self.services.pool, INBOX_BATCH).await {
            Ok(rows) => {
                for row in &rows {
                    self.apply_inbox_row(row).await;
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not list unapplied Stars payments"),
        }
        // The transactions list is a provider call: fetched in a task, whose findings come back
        // as ordinary `StarsPaid` messages.
        let (services, me) = (self.services.clone(), myself.clone());
        self.tasks.spawn(async move {
            fetch_missing_transactions(&services, &me).await;
            if let Some(reply) = reply {
                let _ = me.cast(PaymentMsg::Ack(reply));
            }
        });
    }

    async fn apply_inbox_row(&self, row: &StarsInboxRow) {
        let outcome = self.stars_paid(row.payment_id, row.payer, row.total_stars, &row.charge_id, &row.raw).await;
        let (applied, text) = match &outcome {
            Ok(settled) => (true, format!("{settled:?}")),
            Err(e) => (false, e.to_string()),
        };
        match &outcome {
            Ok(settled) => tracing::info!(payment.id = %row.payment_id, outcome = ?settled, "Stars payment applied"),
            Err(e) => {
                tracing::warn!(payment.id = %row.payment_id, error = %e, "a Stars payment could not be applied yet")
            }
        }
        if let Err(e) = pay_db::inbox_done(&self.services.pool, &row.charge_id, applied, &text).await {
            tracing::warn!(error = %e, "could not record a Stars payment's outcome");
        }
    }

    /// Grants a Stars payment once: the first charge of an invoice (a pack, or a plan's first
    /// month), or one of Telegram's own monthly renewals of a plan (a new charge for the same
    /// payload), which becomes a payment row of its own.
    async fn stars_paid(
        &self,
        id: Uuid,
        payer: i64,
        total: i64,
        charge_id: &str,
        raw: &Value,
    ) -> Result<Settled, PaymentError> {
        let pool = &self.services.pool;
        let mut payment = match pay_db::get(pool, id).await {
            Ok(payment) => payment,
            Err(DbError::NotFound) => {
                tracing::warn!(payment.id = %id, "a Stars payment for an invoice we never made");
                return Ok(Settled::Mismatch);
            }
            Err(e) => return Err(e.into()),
        };
        let renewal = raw["is_recurring"].as_bool() == Some(true)
            && raw["is_first_recurring"].as_bool() != Some(true)
            && payment.status != PaymentStatus::Pending
            && payment.provider_payment_id.as_deref() != Some(charge_id);
        if renewal {
            match self.stars_renewal_row(&payment, payer, total, charge_id).await? {
                Some(row) => payment = row,
                None => return Ok(Settled::AlreadySettled),
            }
        }
        if payment.status != PaymentStatus::Pending {
            return Ok(Settled::AlreadySettled);
        }
        if payment.provider != PaymentProvider::Stars || payment.user_id.0 != payer || payment.amount_minor != total {
            tracing::warn!(payment.id = %id, payer, total, "a Stars payment does not match ours");
            return Ok(Settled::Mismatch);
        }
        let Some(product) = self.services.catalogue.get(&payment.product).cloned() else {
            tracing::error!(payment.id = %id, product = %payment.product, "a Stars payment for an unknown product");
            return Ok(Settled::Mismatch);
        };
        pay_db::set_provider(pool, payment.id, charge_id, payment.confirmation_url.as_deref()).await?;
        let payment = pay_db::get(pool, payment.id).await?;
        let t = &self.services.settings.file.tax;
        let breakdown = tax::stars(total, t.stars_kopecks_per_star, t.stars_commission_bp, t.npd_tax_bp);
        let grant = match product.kind {
            ProductKind::Pack => pay_db::Grant::Pack { credits: product.credits },
            // The first charge's id is what cancels the plan's renewals in Telegram.
            ProductKind::Subscription => pay_db::Grant::Period {
                credits: product.credits,
                period_days: product.period_days.unwrap_or(STARS_PERIOD_DAYS),
                payment_method_id: Some(charge_id),
            },
        };
        let mut conn = pool.acquire().await.map_err(DbError::from_sqlx)?;
        if !pay_db::settle_succeeded(&mut conn, &payment, &grant, &breakdown, raw).await? {
            return Ok(Settled::AlreadySettled);
        }
        metrics::counter!("primerka_payments_total", "provider" => "stars", "outcome" => "succeeded").increment(1);
        self.announce(&payment, &product).await;
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
    ) -> Result<Option<PaymentRow>, PaymentError> {
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
            Ok(row) => return Ok((row.status == PaymentStatus::Pending).then_some(row)),
            Err(DbError::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
        let inserted = pay_db::insert_pending(
            pool,
            PaymentProvider::Stars,
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
        Ok((row.status == PaymentStatus::Pending).then_some(row))
    }
}

/// Our payment id for a Stars renewal charge: the same charge always maps to the same row.
pub fn renewal_payment_id(charge_id: &str) -> Uuid {
    crate::domain::ids::derived_uuid(&format!("stars-renewal:{charge_id}"))
}

/// Lists the bot's recent Stars transactions and hands every payment from a user for one of our
/// invoices that the inbox does not know to the actor (as if its update had arrived).
async fn fetch_missing_transactions(services: &crate::actors::Services, payments: &ActorRef<PaymentMsg>) {
    let transactions = match services.telegram.get_star_transactions(0, TRANSACTIONS_LOOKED_AT).await {
        Ok(list) => list,
        Err(e) => {
            tracing::debug!(error = %e, "could not list Stars transactions");
            return;
        }
    };
    let ids: Vec<String> = transactions.iter().map(|t| t.id.clone()).collect();
    let known = match pay_db::inbox_known(&services.pool, &ids).await {
        Ok(known) => known,
        Err(e) => {
            tracing::warn!(error = %e, "could not check Stars transactions against the inbox");
            return;
        }
    };
    for t in transactions.into_iter().filter(|t| !known.contains(&t.id)) {
        let Some(source) = t.source.filter(|s| s.kind == "user") else { continue };
        let (Some(user), Some(payload)) = (source.user, source.invoice_payload) else { continue };
        let Ok(payment_id) = Uuid::parse_str(&payload) else { continue };
        if t.amount <= 0 {
            continue;
        }
        tracing::info!(payment.id = %payment_id, "a Stars payment whose update never arrived");
        let raw = json!({
            "currency": "XTR",
            "total_amount": t.amount,
            "invoice_payload": payload,
            "telegram_payment_charge_id": t.id,
            "is_recurring": source.subscription_period.is_some(),
            "source": "getStarTransactions",
        });
        let payment = StarsPayment { payment_id, payer: user.id, total: t.amount, charge_id: t.id, raw };
        let stored = payments
            .call(
                |reply| PaymentMsg::StarsPaid(Box::new(payment.clone()), reply),
                Some(std::time::Duration::from_secs(10)),
            )
            .await;
        if !matches!(stored, Ok(ractor::rpc::CallResult::Success(Ok(())))) {
            tracing::warn!(payment.id = %payment_id, "could not store a Stars payment found in the transactions");
        }
    }
}
