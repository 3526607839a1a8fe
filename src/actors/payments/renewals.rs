//! Subscription renewals (DESIGN §2), run in a task of the PaymentActor when the Scheduler
//! asks (`PaymentMsg::RunRenewals`): each plan whose period ended (or
//! whose retry is due) is charged through its saved YooKassa method; the result goes through the
//! PaymentActor like any payment. A declined charge is retried after `credits.renewal_retry_secs`
//! and then the plan lapses; cancelled plans end at their period end. The user hears about each
//! outcome from the bot.
//!
//! Each charge carries the receipt with the buyer's contact (as the first payment did); a plan
//! whose user has no contact is not charged (the renewal fails as a declined one does).
//!
//! Each attempt's payment id (also YooKassa's idempotence key) is derived from the plan, its
//! period end and the attempt number, so re-running the job can never charge twice.

use std::sync::Arc;
use std::time::Duration;

use ractor::ActorRef;
use ractor::rpc::CallResult;
use uuid::Uuid;

use super::{PaymentMsg, Settled};
use crate::actors::Services;
use crate::actors::notifier::NotifierHandle;
use crate::clients::yookassa::{NewPayment, YooKassaError};
use crate::db::payments as pay_db;
use crate::db::subscriptions::{self as subs, SubscriptionRow};
use crate::db::types::{PaymentProvider, PaymentStatus};
use crate::db::users::user_language;
use crate::domain::i18n::{self, Lang};

/// A stable id for one renewal attempt.
pub fn attempt_id(sub: &SubscriptionRow) -> Uuid {
    crate::domain::ids::derived_uuid(&format!(
        "renewal:{}:{}:{}",
        sub.id,
        sub.period_end.timestamp(),
        sub.renewal_attempts
    ))
}

pub async fn run(services: &Arc<Services>, payments: &ActorRef<PaymentMsg>, notifier: &NotifierHandle) {
    let now = chrono::Utc::now();
    let grace = chrono::Duration::seconds(services.settings.file.credits.stars_renewal_grace_secs as i64);
    let ended = match (
        subs::end_cancelled(&services.pool, now).await,
        subs::lapse_unrenewed_stars(&services.pool, now, grace).await,
    ) {
        (Ok(mut cancelled), Ok(unrenewed)) => {
            cancelled.extend(unrenewed);
            Ok(cancelled)
        }
        (Err(e), _) | (_, Err(e)) => Err(e),
    };
    match ended {
        Ok(ended) => {
            for sub in ended {
                let lang = Lang::from_code(&user_language(&services.pool, sub.user_id).await.unwrap_or_default());
                let title = services.catalogue.get(&sub.product).map(|p| p.title(lang).to_string()).unwrap_or_default();
                notifier.send_text(sub.user_id.0, i18n::plan_ended_text(lang, &title), None);
            }
        }
        Err(e) => tracing::warn!(error = %e, "could not end cancelled or unrenewed plans"),
    }
    let due = match subs::due_for_renewal(&services.pool, now).await {
        Ok(due) => due,
        Err(e) => {
            tracing::warn!(error = %e, "could not list plans due for renewal");
            return;
        }
    };
    for sub in due {
        renew(services, payments, notifier, &sub).await;
    }
}

async fn renew(
    services: &Arc<Services>,
    payments: &ActorRef<PaymentMsg>,
    notifier: &NotifierHandle,
    sub: &SubscriptionRow,
) {
    let Some(product) = services.catalogue.get(&sub.product).cloned() else { return };
    let Some(method) = sub.payment_method_id.as_deref() else { return };
    let id = attempt_id(sub);
    let lang = Lang::from_code(&user_language(&services.pool, sub.user_id).await.unwrap_or_default());
    let row = match pay_db::get(&services.pool, id).await {
        Ok(row) => row,
        Err(_) => {
            if let Err(e) = pay_db::insert_pending(
                &services.pool,
                PaymentProvider::Yookassa,
                id,
                sub.user_id,
                &product.id,
                product.price_kopecks,
                Some(sub.id),
            )
            .await
            {
                tracing::error!(error = %e, "could not record a renewal payment");
                return;
            }
            match pay_db::get(&services.pool, id).await {
                Ok(row) => row,
                Err(_) => return,
            }
        }
    };
    if row.status != PaymentStatus::Pending {
        return;
    }
    // Every charge carries the receipt with the buyer's contact (YooKassa refuses one without).
    let customer = match crate::db::legal::contact(&services.pool, sub.user_id).await {
        Ok(Some(contact)) => contact,
        Ok(None) => {
            tracing::warn!(subscription.id = %sub.id, "no contact for the renewal's receipt: not charged");
            let _ = pay_db::mark_canceled(&services.pool, id, &serde_json::json!({"error": "contact_required"})).await;
            failed(services, notifier, sub, lang, product.title(lang)).await;
            return;
        }
        Err(e) => {
            tracing::warn!(error = %e, "could not read the contact for a renewal; will retry");
            return;
        }
    };
    if let Err(e) = pay_db::set_receipt_customer(&services.pool, id, &customer.customer_json()).await {
        tracing::warn!(error = %e, "could not record the renewal's receipt contact; will retry");
        return;
    }
    let order = id.to_string();
    let description = i18n::renewal_description(lang, product.title(lang));
    let new = NewPayment {
        customer: &customer,
        amount_kopecks: product.price_kopecks,
        description: &description,
        return_url: "",
        order_id: &order,
        user_id: sub.user_id.0,
        receipt_item: &description,
        save_payment_method: false,
        embedded: false,
    };
    let verified = match services.yookassa.charge_saved(&new, method, &order).await {
        Ok(payment) => payment,
        Err(YooKassaError::Transient(e)) => {
            // Unknown outcome: the next run repeats the same idempotence key.
            tracing::warn!(error = %e, subscription.id = %sub.id, "renewal charge outcome unknown; will retry");
            return;
        }
        Err(e) => {
            tracing::warn!(error = %e, subscription.id = %sub.id, "renewal charge refused");
            let _ = pay_db::mark_canceled(&services.pool, id, &serde_json::json!({"error": e.to_string()})).await;
            failed(services, notifier, sub, lang, product.title(lang)).await;
            return;
        }
    };
    if let Err(e) = pay_db::set_provider(&services.pool, id, &verified.id, None).await {
        tracing::error!(error = %e, "could not store the renewal's YooKassa id");
        return;
    }
    let settled = payments
        .call(|reply| PaymentMsg::Settle(id, Box::new(verified.clone()), reply), Some(Duration::from_secs(10)))
        .await;
    match settled {
        Ok(CallResult::Success(Ok(Settled::Granted | Settled::AlreadySettled))) => {
            tracing::info!(subscription.id = %sub.id, "subscription renewed");
        }
        Ok(CallResult::Success(Ok(Settled::Canceled))) => {
            failed(services, notifier, sub, lang, product.title(lang)).await
        }
        Ok(CallResult::Success(Ok(other))) => {
            tracing::warn!(subscription.id = %sub.id, outcome = ?other, "renewal not settled yet")
        }
        Ok(CallResult::Success(Err(e))) => tracing::error!(error = %e, "the payment actor failed on a renewal"),
        // Settled on the next run (the same attempt id, the same YooKassa payment).
        _ => {
            tracing::warn!(subscription.id = %sub.id, "the payment actor did not answer; the renewal settles next run")
        }
    }
}

async fn failed(services: &Arc<Services>, notifier: &NotifierHandle, sub: &SubscriptionRow, lang: Lang, title: &str) {
    let retries = &services.settings.file.credits.renewal_retry_secs;
    let attempt = sub.renewal_attempts as usize;
    let next = retries.get(attempt).map(|secs| chrono::Utc::now() + chrono::Duration::seconds(*secs as i64));
    match subs::renewal_failed(&services.pool, sub.id, next).await {
        Ok(_) => {}
        Err(e) => {
            tracing::error!(error = %e, "could not record a failed renewal");
            return;
        }
    }
    let text = i18n::renewal_failed_text(lang, title, next.is_some());
    notifier.send_text(sub.user_id.0, text, None);
}
