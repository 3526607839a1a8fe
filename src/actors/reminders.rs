//! Re-engagement through the bot, run by the `Scheduler` and sent by the `Notifier`:
//!
//! - **the month's free credits are back**: a user who has not opened the app this month
//!   (their free allowance is granted lazily, on the first visit) hears it once per month;
//! - **a purchase left unpaid**: once per payment, `growth.unpaid_after_minutes` after it was
//!   started (and not after `growth.unpaid_max_age_hours`), unless the user paid since.
//!
//! Every reminder honours the user's switch (`reminders_off`: Profile, `/reminders_off`), a
//! blocked bot, and the rate limit: at most one reminder of any kind per user per
//! `growth.reminders_min_gap_hours`, and `growth.reminders_per_run` per run. Each reminder is
//! recorded (`reminders_sent`, unique per user, kind and key) before it is queued, so none is
//! ever sent twice, even by two nodes.

use serde_json::json;

use super::Services;
use super::notifier::NotifierHandle;
use crate::db::reminders::{self as db, Candidate};
use crate::domain::credits::month_start;
use crate::domain::i18n::{self, Lang};

/// One run; returns how many reminders were queued.
pub async fn run(services: &Services, notifier: &NotifierHandle) -> usize {
    let g = &services.settings.file.growth;
    let now = chrono::Utc::now();
    let quiet_since = now - chrono::Duration::hours(g.reminders_min_gap_hours);
    let mut sent = 0usize;
    let free = services.settings.file.credits.free_monthly;
    if free > 0 {
        let month = month_start(now, services.tz);
        match db::free_credits_due(&services.pool, month, quiet_since, g.reminders_per_run).await {
            Ok(due) => {
                for c in due {
                    let text = i18n::free_credits_back_text(lang(&c), free);
                    sent += send(services, notifier, &c, "free_credits", text, "/").await as usize;
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not list users to remind of free credits"),
        }
    }
    let left = g.reminders_per_run - sent as i64;
    if left > 0 {
        let older_than = now - chrono::Duration::minutes(g.unpaid_after_minutes);
        let newer_than = now - chrono::Duration::hours(g.unpaid_max_age_hours);
        match db::unpaid_due(&services.pool, older_than, newer_than, quiet_since, left).await {
            Ok(due) => {
                for c in due {
                    let lang = lang(&c);
                    let title = c
                        .product
                        .as_deref()
                        .and_then(|p| services.catalogue.get(p))
                        .map(|p| p.title(lang).to_string())
                        .unwrap_or_default();
                    let text = i18n::unpaid_purchase_text(lang, &title);
                    sent += send(services, notifier, &c, "unpaid", text, "/plans").await as usize;
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not list unpaid purchases to recall"),
        }
    }
    if sent > 0 {
        tracing::info!(count = sent, "reminders queued");
        metrics::counter!("primerka_reminders_total").increment(sent as u64);
    }
    sent
}

fn lang(c: &Candidate) -> Lang {
    Lang::from_code(&c.language_code)
}

/// Records the reminder, then queues it with a button that opens the Mini App at `path`.
async fn send(
    services: &Services,
    notifier: &NotifierHandle,
    c: &Candidate,
    kind: &str,
    text: String,
    path: &str,
) -> bool {
    match db::claim(&services.pool, c.user_id, kind, &c.key).await {
        Ok(true) => {}
        Ok(false) => return false,
        Err(e) => {
            tracing::warn!(user.id = %c.user_id, error = %e, "could not record a reminder");
            return false;
        }
    }
    let t = &services.settings.file.telegram;
    let lang = lang(c);
    let button = lang.pick(&t.menu_button_text_ru, &t.menu_button_text_en);
    let url = format!("{}{}", services.settings.public_base_url.trim_end_matches('/'), path);
    let markup = json!({"inline_keyboard": [[{"text": button, "web_app": {"url": url}}]]});
    notifier.send_text(c.user_id.0, text, Some(markup));
    true
}
