//! Refunds and cancelling a plan. The provider's side runs in a task (YooKassa's refund,
//! Telegram's `refundStarPayment`, `editUserStarSubscription`); the credits are taken back in
//! the actor once the money went back, as many as are left, once. The books reverse the
//! payment's tax (and its commission when `tax.refund_returns_commission`). A refund made in
//! YooKassa's dashboard arrives as `refund.succeeded`: it is fetched back from YooKassa and, when
//! it returned the whole payment, applied by the same code (`refund_done`), so it counts once
//! whichever way it came.

use ractor::ActorRef;
use serde::Serialize;
use uuid::Uuid;

use super::{PaymentActor, PaymentError, PaymentMsg, Reply};
use crate::clients::yookassa::NewRefund;
use crate::db::DbError;
use crate::db::payments as pay_db;
use crate::db::subscriptions::{self as subs, SubscriptionRow};
use crate::db::types::{PaymentProvider, PaymentStatus, SubscriptionStatus};
use crate::domain::ids::UserId;
use crate::domain::pricing::ProductKind;

/// What a refund did.
#[derive(Debug, Clone, Serialize)]
pub struct RefundOutcome {
    pub payment_id: Uuid,
    pub provider: PaymentProvider,
    /// YooKassa's refund status (`succeeded` or `pending`); `succeeded` for Stars.
    pub refund_status: String,
    pub amount_minor: i64,
    /// Credits taken back (fewer than bought when the user had spent some).
    pub credits_removed: i32,
}

impl PaymentActor {
    pub(super) async fn refund(
        &self,
        myself: &ActorRef<PaymentMsg>,
        id: Uuid,
        reason: String,
        reply: Reply<RefundOutcome>,
    ) {
        let payment = match pay_db::get(&self.services.pool, id).await {
            Ok(p) => p,
            Err(DbError::NotFound) => {
                let _ = reply.send(Err(PaymentError::NotFound));
                return;
            }
            Err(e) => {
                let _ = reply.send(Err(e.into()));
                return;
            }
        };
        if payment.status != PaymentStatus::Succeeded {
            let _ = reply.send(Err(PaymentError::Refused(format!("payment is {}", payment.status))));
            return;
        }
        let Some(provider_id) = payment.provider_payment_id.clone() else {
            let _ = reply.send(Err(PaymentError::Refused("the payment has no provider id".into())));
            return;
        };
        let (services, me) = (self.services.clone(), myself.clone());
        let customer = match pay_db::receipt_customer(&self.services.pool, id).await {
            Ok(customer) => customer,
            Err(e) => {
                let _ = reply.send(Err(e.into()));
                return;
            }
        };
        let lang = self.lang_of(payment.user_id).await;
        let title =
            self.services.catalogue.get(&payment.product).map(|p| p.title(lang).to_string()).unwrap_or_default();
        let item = crate::domain::i18n::payment_description(lang, &title);
        self.tasks.spawn(async move {
            let mut refund_id = None;
            let result = match payment.provider {
                PaymentProvider::Stars => services
                    .telegram
                    .refund_star_payment(payment.user_id.0, &provider_id)
                    .await
                    .map(|_| "succeeded".to_string())
                    .map_err(|e| {
                        if e.is_retryable() {
                            PaymentError::Unavailable(e.to_string())
                        } else {
                            PaymentError::Refused(e.to_string())
                        }
                    }),
                PaymentProvider::Yookassa => {
                    let refund = NewRefund {
                        payment_id: &provider_id,
                        amount_kopecks: payment.amount_minor,
                        description: reason.trim(),
                        receipt_item: &item,
                        customer: customer.as_ref(),
                    };
                    services
                        .yookassa
                        .refund(&refund, &format!("refund:{id}"))
                        .await
                        .map_err(PaymentError::from)
                        .and_then(|refund| {
                            refund_id = Some(refund.id);
                            match refund.status.as_str() {
                                "succeeded" | "pending" => Ok(refund.status),
                                other => Err(PaymentError::Refused(format!("refund {other}"))),
                            }
                        })
                }
            };
            let _ = me.cast(PaymentMsg::RefundDone { id, refund_id, result, reply });
        });
    }

    /// The money went back (or the provider refused): take the credits back, once.
    pub(super) async fn refund_done(
        &self,
        id: Uuid,
        refund_id: Option<String>,
        result: Result<String, PaymentError>,
        reply: Reply<RefundOutcome>,
    ) {
        let status = match result {
            Ok(status) => status,
            Err(e) => {
                let _ = reply.send(Err(e));
                return;
            }
        };
        let outcome = async {
            let pool = &self.services.pool;
            let payment = pay_db::get(pool, id).await?;
            let product = self.services.catalogue.get(&payment.product);
            let subscription = product.is_some_and(|p| p.kind == ProductKind::Subscription);
            let credits = product.map_or(0, |p| p.credits);
            let mut conn = pool.acquire().await.map_err(DbError::from_sqlx)?;
            let books = pay_db::RefundBooks {
                subscription,
                credits,
                returns_commission: self.services.settings.file.tax.refund_returns_commission,
                refund_id: refund_id.as_deref(),
            };
            let removed = pay_db::settle_refund(&mut conn, &payment, &books).await?;
            if removed.is_some() {
                self.sessions.reload(payment.user_id);
            }
            tracing::info!(payment.id = %id, removed = ?removed, "payment refunded");
            Ok::<_, PaymentError>(RefundOutcome {
                payment_id: id,
                provider: payment.provider,
                refund_status: status,
                amount_minor: payment.amount_minor,
                credits_removed: removed.unwrap_or(0),
            })
        }
        .await;
        let _ = reply.send(outcome);
    }

    /// `refund.succeeded`: the refund is fetched from YooKassa (the notification is only a
    /// hint); a succeeded refund of the whole amount of one of our succeeded payments is applied
    /// through `refund_done` (the payment's status guard makes it once). A partial refund is
    /// logged for the operator and changes nothing.
    pub(super) async fn refund_notified(&self, myself: &ActorRef<PaymentMsg>, refund_id: String, reply: Reply<()>) {
        let (services, me) = (self.services.clone(), myself.clone());
        self.tasks.spawn(async move {
            let refund = match services.yookassa.get_refund(&refund_id).await {
                Ok(refund) => refund,
                Err(e) => {
                    let _ = reply.send(Err(e.into()));
                    return;
                }
            };
            let payment = match pay_db::by_provider_id(&services.pool, &refund.payment_id).await {
                Ok(Some(payment)) => payment,
                Ok(None) => {
                    tracing::info!(refund.id = %refund.id, "a refund of a payment that is not ours");
                    let _ = reply.send(Ok(()));
                    return;
                }
                Err(e) => {
                    let _ = reply.send(Err(e.into()));
                    return;
                }
            };
            if refund.status != "succeeded" || payment.status != PaymentStatus::Succeeded {
                let _ = reply.send(Ok(()));
                return;
            }
            if refund.amount_kopecks < payment.amount_minor {
                tracing::warn!(
                    payment.id = %payment.id, refund.id = %refund.id, amount = refund.amount_kopecks,
                    "a partial refund from YooKassa's dashboard: credits and books left as they are"
                );
                let _ = reply.send(Ok(()));
                return;
            }
            let (done, answer) = ractor::concurrency::oneshot();
            let _ = me.cast(PaymentMsg::RefundDone {
                id: payment.id,
                refund_id: Some(refund.id.clone()),
                result: Ok(refund.status),
                reply: done.into(),
            });
            let result = match answer.await {
                Ok(Ok(outcome)) => {
                    tracing::info!(
                        payment.id = %payment.id, refund.id = %refund.id, removed = outcome.credits_removed,
                        "a refund made in YooKassa's dashboard was applied"
                    );
                    Ok(())
                }
                Ok(Err(e)) => Err(e),
                Err(_) => Err(PaymentError::ActorUnavailable),
            };
            let _ = reply.send(result);
        });
    }

    /// Stops a plan's renewals; the plan and its credits stay until the period ends. Telegram
    /// charges Stars plans itself, so a Stars plan is stopped there first.
    pub(super) fn cancel_subscription(&self, user: UserId, reply: Reply<SubscriptionRow>) {
        let services = self.services.clone();
        self.tasks.spawn(async move {
            let result = async {
                let current = subs::current(&services.pool, user).await?;
                if let Some(sub) =
                    current.filter(|s| s.rail == PaymentProvider::Stars && s.status != SubscriptionStatus::Canceled)
                    && let Some(charge) = sub.payment_method_id.as_deref()
                {
                    services
                        .telegram
                        .edit_user_star_subscription(user.0, charge, true)
                        .await
                        .map_err(|e| PaymentError::Unavailable(e.to_string()))?;
                }
                let plan = subs::cancel(&services.pool, user).await?.ok_or(PaymentError::NotFound)?;
                tracing::info!(user.id = %user, subscription.id = %plan.id, "subscription renewal cancelled");
                Ok(plan)
            }
            .await;
            let _ = reply.send(result);
        });
    }
}
