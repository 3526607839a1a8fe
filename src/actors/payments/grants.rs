//! Grants that are not a purchase (the operator's), and what follows every grant: the user's
//! session reloads, `payment.succeeded` is published, the bot says thank you.

use super::{PaymentActor, PaymentError};
use crate::actors::events::Event;
use crate::db::credits::{self as credit_db, Entry};
use crate::db::payments::PaymentRow;
use crate::db::users::user_language;
use crate::domain::credits::Split;
use crate::domain::i18n::{self, Lang};
use crate::domain::ids::UserId;
use crate::domain::pricing::Product;

impl PaymentActor {
    /// Adds purchased credits (no watermark) once per `(user, key)`: the key is the operator's
    /// retry guard for this user, and the same key for another user is another grant.
    pub(super) async fn admin_grant(
        &self,
        user: UserId,
        credits: i32,
        key: &str,
        note: &str,
    ) -> Result<bool, PaymentError> {
        let key = format!("admin:{user}:{key}");
        let entry = Entry {
            user,
            key: &key,
            kind: "grant",
            reason: "admin",
            delta: Split { free: 0, subscription: 0, purchased: credits },
            payment_id: None,
            note: Some(note),
        };
        let applied = credit_db::apply_entry(&self.services.pool, &entry).await?.is_some();
        if applied {
            self.sessions.reload(user);
            let lang = self.lang_of(user).await;
            self.notifier.send_text(user.0, i18n::admin_grant_text(lang, credits), None);
        }
        Ok(applied)
    }

    /// After a grant: fresh balance on the sockets, `payment.succeeded`, a thank-you from the bot.
    pub(super) async fn announce(&self, payment: &PaymentRow, product: &Product) {
        self.sessions.reload(payment.user_id);
        self.sessions.publish(
            payment.user_id,
            Event::PaymentSucceeded {
                payment_id: payment.id,
                product: payment.product.clone(),
                credits: product.credits,
            }
            .frame(),
        );
        let lang = self.lang_of(payment.user_id).await;
        let renewal = payment.purpose == "renewal";
        self.notifier.send_text(
            payment.user_id.0,
            i18n::payment_received_text(lang, product.credits, product.title(lang), renewal),
            None,
        );
        self.warn_near_cap().await;
        self.reward_referral(payment).await;
    }

    pub(super) async fn lang_of(&self, user: UserId) -> Lang {
        Lang::from_code(&user_language(&self.services.pool, user).await.unwrap_or_default())
    }
}
