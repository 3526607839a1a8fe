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
use crate::db::generations::user_language;
use crate::db::payments::{self as pay_db, PaymentRow};
use crate::domain::i18n::Lang;
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

pub enum PaymentMsg {
    Settle(Uuid, Box<YkPayment>, RpcReplyPort<Result<Settled, String>>),
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
        self.sessions.reload(payment.user_id);
        self.sessions.publish(
            payment.user_id,
            frame(
                "payment.succeeded",
                json!({"payment_id": id, "product": payment.product, "credits": product.credits}),
            ),
        );
        let lang = Lang::from_code(&user_language(pool, payment.user_id).await.unwrap_or_default());
        let renewal = payment.purpose == "renewal";
        let text = match (lang, renewal) {
            (Lang::Ru, false) => {
                format!("Оплата прошла: +{} кредитов ({}). Спасибо!", product.credits, product.title(lang))
            }
            (Lang::En, false) => {
                format!("Payment received: +{} credits ({}). Thank you!", product.credits, product.title(lang))
            }
            (Lang::Ru, true) => {
                format!("Подписка «{}» продлена на месяц: +{} кредитов.", product.title(lang), product.credits)
            }
            (Lang::En, true) => {
                format!("Your {} plan was renewed for a month: +{} credits.", product.title(lang), product.credits)
            }
        };
        self.notifier.send_text(payment.user_id.0, text, None);
        Ok(Settled::Granted)
    }
}

/// The provider's object is about our payment: our order id, the same amount in roubles.
fn matches_our_payment(ours: &PaymentRow, theirs: &YkPayment) -> bool {
    ours.provider_payment_id.as_deref() == Some(theirs.id.as_str())
        && theirs.amount_kopecks == ours.amount_minor
        && theirs.currency == ours.currency
        && theirs.metadata["order_id"].as_str() == Some(ours.id.to_string().as_str())
}

#[derive(Clone)]
pub struct PaymentHandle {
    slot: ActorSlot<PaymentMsg>,
}

impl PaymentHandle {
    pub fn new(slot: ActorSlot<PaymentMsg>) -> Self {
        PaymentHandle { slot }
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
