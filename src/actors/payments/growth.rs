//! Referrals and promo codes: both end in grants, so they are the PaymentActor's.
//!
//! - An invitation (`ref_<code>` from the Mini App's `start_param` or the bot's `/start`) is
//!   attached once per invited user (`db::referrals::attach` refuses one's own code, loops and
//!   users that are not new).
//! - The reward is granted here, after the invited user's first granted payment, once for both
//!   (`db::referrals::reward`: the `rewarded_at` guard and ledger keys in one transaction).
//! - A promo code is redeemed in one transaction (`db::promo::redeem`): credits through the
//!   ledger with the key `promo:<code>:<user>`, or a discount kept for the product's next
//!   payment (applied in `yookassa.rs` when the payment row is written).

use super::{PaymentActor, PaymentError};
use crate::db::payments::PaymentRow;
use crate::db::promo::{self as promo_db, Redeemed, Refused};
use crate::db::referrals::{self as referral_db, Attached};
use crate::domain::errors::ErrorCode;
use crate::domain::i18n;
use crate::domain::ids::UserId;

impl PaymentActor {
    pub(super) async fn attach_referral(
        &self,
        invitee: UserId,
        code: &str,
        source: &str,
    ) -> Result<Attached, PaymentError> {
        let window = self.services.settings.file.growth.referral_window_hours;
        let mut conn = self.services.pool.acquire().await.map_err(crate::db::DbError::from_sqlx)?;
        let attached = referral_db::attach(&mut conn, invitee, code, source, window).await?;
        tracing::info!(user.id = %invitee, outcome = ?attached, source, "referral");
        Ok(attached)
    }

    /// After a granted payment: the referral reward, if this was the invited user's first.
    pub(super) async fn reward_referral(&self, payment: &PaymentRow) {
        let g = &self.services.settings.file.growth;
        let invitee = payment.user_id;
        let rewarded = async {
            let mut conn = self.services.pool.acquire().await.map_err(crate::db::DbError::from_sqlx)?;
            referral_db::reward(&mut conn, invitee, g.referral_credits_invitee, g.referral_credits_inviter).await
        }
        .await;
        match rewarded {
            Ok(Some(referrer)) => {
                tracing::info!(user.id = %invitee, referrer = %referrer, "referral rewarded");
                for (user, credits) in [(invitee, g.referral_credits_invitee), (referrer, g.referral_credits_inviter)] {
                    if credits <= 0 {
                        continue;
                    }
                    self.sessions.reload(user);
                    let lang = self.lang_of(user).await;
                    self.notifier.send_text(user.0, i18n::referral_reward_text(lang, credits, user == invitee), None);
                }
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(user.id = %invitee, error = %e, "could not grant a referral reward"),
        }
    }

    pub(super) async fn redeem_promo(&self, user: UserId, code: &str) -> Result<Redeemed, PaymentError> {
        let mut conn = self.services.pool.acquire().await.map_err(crate::db::DbError::from_sqlx)?;
        match promo_db::redeem(&mut conn, user, code, chrono::Utc::now()).await? {
            Ok(redeemed) => {
                if let Redeemed::Credits(credits) = redeemed {
                    self.sessions.reload(user);
                    tracing::info!(user.id = %user, credits, "promo code redeemed");
                }
                Ok(redeemed)
            }
            Err(refused) => Err(PaymentError::Rejected(match refused {
                Refused::NotFound => ErrorCode::PromoNotFound,
                Refused::Expired => ErrorCode::PromoExpired,
                Refused::UsedUp => ErrorCode::PromoUsedUp,
                Refused::AlreadyUsed => ErrorCode::PromoAlreadyUsed,
            })),
        }
    }
}
