//! YooKassa purchases: creating a payment (our row first; the call, with retries, in a task),
//! fetching a pending payment back (at most once per `yookassa.poll_min_interval_ms`; callers
//! arriving meanwhile wait for the same fetch) and settling what YooKassa says.

use std::time::Duration;

use ractor::ActorRef;
use serde_json::json;
use tokio::time::Instant;
use uuid::Uuid;

use super::{NewOrder, PaymentActor, PaymentError, PaymentMsg, PaymentState, Reply, Settled, Waiter};
use crate::clients::yookassa::{NewPayment, YkPayment, YooKassaError};
use crate::db::legal as legal_db;
use crate::db::payments::{self as pay_db, PaymentRow};
use crate::db::types::{PaymentProvider, PaymentStatus};
use crate::domain::assistant::{backoff, jitter};
use crate::domain::errors::ErrorCode;
use crate::domain::legal::{Contact, DocKind};
use crate::domain::pricing::{Product, ProductKind, STARS_PERIOD_DAYS};
use crate::domain::tax;

/// A started purchase: the row, and how the user confirms it.
#[derive(Debug, Clone)]
pub struct Created {
    pub row: PaymentRow,
    /// YooKassa's embedded widget: the token it opens with, and where it sends the user after.
    pub confirmation_token: Option<String>,
    pub return_url: Option<String>,
    /// Telegram Stars: the invoice link the Mini App opens with `openInvoice`.
    pub invoice_link: Option<String>,
}

impl PaymentActor {
    pub(super) async fn create(&self, order: NewOrder, reply: Reply<Created>) {
        let Some(product) = self.services.catalogue.get(&order.product).cloned() else {
            let _ = reply.send(Err(PaymentError::Rejected(ErrorCode::ValidationFailed)));
            return;
        };
        let customer = match self.may_buy(&order, &product).await {
            Ok(customer) => customer,
            Err(e) => {
                let _ = reply.send(Err(e));
                return;
            }
        };
        if order.rail == PaymentProvider::Stars {
            // Telegram renews Stars subscriptions every 30 days exactly, so only such plans qualify.
            if product.kind == ProductKind::Subscription && product.period_days != Some(STARS_PERIOD_DAYS) {
                let _ = reply.send(Err(PaymentError::Rejected(ErrorCode::NotAvailable)));
                return;
            }
            return self.stars_invoice(order, product, reply).await;
        }
        let Some(customer) = customer else {
            let _ = reply.send(Err(PaymentError::Rejected(ErrorCode::ContactRequired)));
            return;
        };
        let id = Uuid::new_v4();
        let inserted = insert_with_discount(&self.services.pool, id, &order, &product).await;
        let discount = match inserted {
            Ok(discount) => discount,
            Err(e) => {
                let _ = reply.send(Err(e.into()));
                return;
            }
        };
        let services = self.services.clone();
        self.tasks.spawn(async move {
            let result = create_at_yookassa(&services, id, &order, &product, &customer, discount).await;
            let _ = reply.send(result);
        });
    }

    /// What a purchase needs first (issue 17), in the order the user meets it: the `autorenew`
    /// consent for a plan (either rail); for roubles, room under the НПД cap and a contact for
    /// the receipt (returned; `None` for Stars).
    async fn may_buy(&self, order: &NewOrder, product: &Product) -> Result<Option<Contact>, PaymentError> {
        let pool = &self.services.pool;
        let renewal_terms = self.services.legal.version(DocKind::Autorenew).unwrap_or_default();
        if product.kind == ProductKind::Subscription
            && !legal_db::has_consent(pool, order.user, DocKind::Autorenew.as_str(), renewal_terms).await?
        {
            return Err(PaymentError::Rejected(ErrorCode::ConsentRequired));
        }
        if order.rail != PaymentProvider::Yookassa {
            return Ok(None);
        }
        if !self.rub_sale_allowed(product.price_kopecks).await? {
            tracing::warn!(product = %product.id, "a rouble sale refused: the НПД cap");
            return Err(PaymentError::Rejected(ErrorCode::RubSalesPaused));
        }
        match legal_db::contact(pool, order.user).await? {
            Some(contact) => Ok(Some(contact)),
            None => Err(PaymentError::Rejected(ErrorCode::ContactRequired)),
        }
    }

    /// `GET /api/payments/{id}`: the row; a pending YooKassa payment is fetched back first,
    /// unless it was fetched within the poll interval.
    pub(super) async fn status(
        &self,
        myself: &ActorRef<PaymentMsg>,
        state: &mut PaymentState,
        user: Option<crate::domain::ids::UserId>,
        id: Uuid,
        reply: Reply<PaymentRow>,
    ) {
        let row = match pay_db::get(&self.services.pool, id).await {
            Ok(row) if user.is_none_or(|u| row.user_id == u) => row,
            Ok(_) => {
                let _ = reply.send(Err(PaymentError::NotFound));
                return;
            }
            Err(e) => {
                let _ = reply.send(Err(e.into()));
                return;
            }
        };
        let interval = Duration::from_millis(self.services.settings.file.yookassa.poll_min_interval_ms);
        let fresh = state.fetched_at.get(&id).is_some_and(|at| at.elapsed() < interval);
        if !self.fetchable(&row) || (fresh && !state.fetching.contains_key(&id)) {
            let _ = reply.send(Ok(row));
            return;
        }
        self.fetch(myself, state, &row, Some(Waiter::Row(reply)));
    }

    /// A YooKassa notification: always fetched (or joined to the fetch in flight); an error
    /// answers the webhook with 5xx so YooKassa sends it again.
    pub(super) async fn notified(
        &self,
        myself: &ActorRef<PaymentMsg>,
        state: &mut PaymentState,
        provider_id: &str,
        reply: Reply<()>,
    ) {
        let row = match pay_db::by_provider_id(&self.services.pool, provider_id).await {
            Ok(Some(row)) if self.fetchable(&row) => row,
            // Not ours, not stored yet (the return page settles it), or settled already.
            Ok(_) => {
                let _ = reply.send(Ok(()));
                return;
            }
            Err(e) => {
                let _ = reply.send(Err(e.into()));
                return;
            }
        };
        self.fetch(myself, state, &row, Some(Waiter::Done(reply)));
    }

    fn fetchable(&self, row: &PaymentRow) -> bool {
        row.status == PaymentStatus::Pending
            && row.provider == PaymentProvider::Yookassa
            && row.provider_payment_id.is_some()
    }

    /// Starts fetching `row` back from YooKassa (unless a fetch runs: then `waiter` joins it).
    fn fetch(&self, myself: &ActorRef<PaymentMsg>, state: &mut PaymentState, row: &PaymentRow, waiter: Option<Waiter>) {
        if let Some(waiting) = state.fetching.get_mut(&row.id) {
            waiting.extend(waiter);
            return;
        }
        state.fetching.insert(row.id, waiter.into_iter().collect());
        let Some(provider_id) = row.provider_payment_id.clone() else { return };
        let (services, me, id) = (self.services.clone(), myself.clone(), row.id);
        self.tasks.spawn(async move {
            let result = services.yookassa.get_payment(&provider_id).await;
            let _ = me.cast(PaymentMsg::Fetched { id, result });
        });
    }

    pub(super) async fn fetched(&self, state: &mut PaymentState, id: Uuid, result: Result<YkPayment, YooKassaError>) {
        state.fetched_at.insert(id, Instant::now());
        let waiters = state.fetching.remove(&id).unwrap_or_default();
        let outcome = match result {
            Ok(verified) => self.settle(id, &verified).await.map(|_| ()),
            Err(e) => {
                tracing::warn!(payment.id = %id, error = %e, "could not fetch a YooKassa payment");
                Err(PaymentError::from(e))
            }
        };
        let row = match &outcome {
            Ok(()) => pay_db::get(&self.services.pool, id).await.map_err(PaymentError::from),
            Err(e) => Err(PaymentError::Unavailable(e.to_string())),
        };
        for waiter in waiters {
            match waiter {
                Waiter::Row(reply) => {
                    let _ = reply.send(match &row {
                        Ok(row) => Ok(row.clone()),
                        Err(e) => Err(PaymentError::Unavailable(e.to_string())),
                    });
                }
                Waiter::Done(reply) => {
                    let _ = reply.send(match &outcome {
                        Ok(()) => Ok(()),
                        Err(e) => Err(PaymentError::Unavailable(e.to_string())),
                    });
                }
            }
        }
    }

    /// Applies a payment object fetched from YooKassa: checked against our row, granted once.
    pub(super) async fn settle(&self, id: Uuid, verified: &YkPayment) -> Result<Settled, PaymentError> {
        let pool = &self.services.pool;
        let payment = pay_db::get(pool, id).await?;
        if payment.status != PaymentStatus::Pending {
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
        let Some(product) = self.services.catalogue.get(&payment.product).cloned() else {
            tracing::error!(payment.id = %id, product = %payment.product, "a paid payment for an unknown product");
            return Ok(Settled::Mismatch);
        };
        let t = &self.services.settings.file.tax;
        let breakdown = tax::yookassa(payment.amount_minor, t.yookassa_commission_bp + t.receipt_fee_bp, t.npd_tax_bp);
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
        let mut conn = pool.acquire().await.map_err(crate::db::DbError::from_sqlx)?;
        if !pay_db::settle_succeeded(&mut conn, &payment, &grant, &breakdown, &verified.raw).await? {
            return Ok(Settled::AlreadySettled);
        }
        tracing::info!(payment.id = %id, user.id = %payment.user_id, credits = product.credits, "payment granted");
        metrics::counter!("primerka_payments_total", "provider" => "yookassa", "outcome" => "succeeded").increment(1);
        self.announce(&payment, &product).await;
        Ok(Settled::Granted)
    }

    /// The scheduler's job: YooKassa payments still `pending` some minutes after creation (a
    /// lost notification, a user who never came back) are fetched and settled. Pending payments
    /// older than a day are left to YooKassa's own expiry, which the next look records.
    pub(super) async fn reconcile_pending(
        &self,
        myself: &ActorRef<PaymentMsg>,
        state: &mut PaymentState,
        reply: Reply<()>,
    ) {
        let cfg = &self.services.settings.file.yookassa;
        let rows = match pay_db::pending_yookassa(
            &self.services.pool,
            chrono::Duration::seconds(cfg.reconcile_after_secs as i64),
            chrono::Duration::hours(cfg.reconcile_max_age_hours as i64),
            200,
        )
        .await
        {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!(error = %e, "could not list pending payments");
                let _ = reply.send(Err(e.into()));
                return;
            }
        };
        if !rows.is_empty() {
            tracing::info!(count = rows.len(), "reconciling pending payments");
        }
        // One task fetches them one after another and reports each (a fetch already running for
        // a payment is left to finish on its own); the answer comes after the last report.
        let mut todo = Vec::new();
        for row in rows.into_iter().filter(|r| self.fetchable(r)) {
            if state.fetching.contains_key(&row.id) {
                continue;
            }
            state.fetching.insert(row.id, Vec::new());
            todo.push(row);
        }
        let (services, me) = (self.services.clone(), myself.clone());
        self.tasks.spawn(async move {
            for row in todo {
                let Some(provider_id) = row.provider_payment_id.as_deref() else { continue };
                let result = services.yookassa.get_payment(provider_id).await;
                let _ = me.cast(PaymentMsg::Fetched { id: row.id, result });
            }
            let _ = me.cast(PaymentMsg::Ack(reply));
        });
    }
}

/// Writes the pending payment row; a promo discount the user holds for this product lowers its
/// amount and is marked as applied to it, in the same transaction (the discount's row is locked,
/// so two payments started at once cannot both take it). Returns the percent applied.
async fn insert_with_discount(
    pool: &sqlx::PgPool,
    id: Uuid,
    order: &NewOrder,
    product: &crate::domain::pricing::Product,
) -> Result<Option<i32>, crate::db::DbError> {
    use crate::db::SqlxResultExt;
    let mut tx = pool.begin().await.db()?;
    let discount = crate::db::promo::pending_discount(&mut tx, order.user, &product.id).await?;
    let percent = discount.as_ref().map(|d| d.percent);
    let amount = crate::domain::pricing::discounted_kopecks(product.price_kopecks, percent);
    pay_db::insert_pending(&mut *tx, PaymentProvider::Yookassa, id, order.user, &product.id, amount, None).await?;
    if let Some(d) = &discount {
        crate::db::promo::attach_discount(&mut tx, order.user, &d.code, id).await?;
    }
    tx.commit().await.db()?;
    Ok(percent)
}

/// Creates the payment at YooKassa: three attempts with exponential backoff and jitter under the
/// same idempotence key (our id), so a retry can never create a second payment.
async fn create_at_yookassa(
    services: &crate::actors::Services,
    id: Uuid,
    order: &NewOrder,
    product: &Product,
    customer: &Contact,
    discount: Option<i32>,
) -> Result<Created, PaymentError> {
    let lang = order.lang;
    // The payer comes back to the plans screen with a signature that lets the page show the
    // outcome even where nobody is logged in (the checkout often opens outside Telegram).
    let sig = crate::auth::return_link::sign(&services.settings.secrets.media_signing_key, id);
    let return_url = format!("{}/plans?payment={id}&sig={sig}", services.settings.public_base_url);
    let key = id.to_string();
    let description = match discount {
        Some(percent) => crate::domain::i18n::discounted_payment_description(lang, product.title(lang), percent),
        None => crate::domain::i18n::payment_description(lang, product.title(lang)),
    };
    let new = NewPayment {
        customer,
        amount_kopecks: crate::domain::pricing::discounted_kopecks(product.price_kopecks, discount),
        description: &description,
        return_url: &return_url,
        order_id: &key,
        user_id: order.user.0,
        receipt_item: &description,
        save_payment_method: product.kind == ProductKind::Subscription,
        embedded: order.embedded,
    };
    let pool = &services.pool;
    pay_db::set_receipt_customer(pool, id, &customer.customer_json()).await?;
    let mut last_error = String::new();
    for attempt in 1..=3u32 {
        match services.yookassa.create_payment(&new, &key).await {
            Ok(payment) => {
                pay_db::set_provider(pool, id, &payment.id, payment.confirmation_url.as_deref()).await?;
                let row = pay_db::get(pool, id).await?;
                let token = payment.confirmation_token.filter(|_| order.embedded);
                return Ok(Created {
                    row,
                    return_url: token.is_some().then_some(return_url),
                    confirmation_token: token,
                    invoice_link: None,
                });
            }
            Err(YooKassaError::Transient(e)) => {
                last_error = e;
                if attempt < 3 {
                    let wait = backoff(300, attempt, None);
                    tokio::time::sleep(wait + jitter(wait, rand::random())).await;
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "YooKassa refused to create a payment");
                let _ = pay_db::mark_canceled(pool, id, &json!({"error": e.to_string()})).await;
                return Err(PaymentError::Unavailable(e.to_string()));
            }
        }
    }
    let _ = pay_db::mark_canceled(pool, id, &json!({"error": "unavailable"})).await;
    Err(PaymentError::Unavailable(last_error))
}

/// The provider's object is about our payment: our order id, the same amount in roubles.
fn matches_our_payment(ours: &PaymentRow, theirs: &YkPayment) -> bool {
    ours.provider_payment_id.as_deref() == Some(theirs.id.as_str())
        && theirs.amount_kopecks == ours.amount_minor
        && theirs.currency == ours.currency
        && theirs.metadata["order_id"].as_str() == Some(ours.id.to_string().as_str())
}
