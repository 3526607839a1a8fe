//! The bot's side of the conversation: Telegram updates (`/start`, `/start ref_<code>` — an
//! invitation, attached by the PaymentActor —, `/help`, `/paysupport`, `/terms`, `/reminders_off`
//! and `/reminders_on`, Stars checkouts and payments). Updates arrive through `POST /webhooks/telegram`; this module
//! is a handler like the HTTP ones: it parses the update and sends messages to actors (answers go
//! out through the `Notifier`, payment work through the `PaymentActor`), and it sees no
//! provider client and no `AppState`.

use serde::Deserialize;
use serde_json::{Value, json};

use crate::actors::notifier::NotifierHandle;
use crate::actors::payments::{PaymentError, PaymentHandle, PreCheckout, StarsPayment};
use crate::config::Settings;
use crate::domain::i18n::{self, Lang};
use crate::domain::ids::UserId;

/// What the bot needs: the actors it talks to and its settings.
#[derive(Clone)]
pub struct Bot {
    pub notifier: NotifierHandle,
    pub payments: PaymentHandle,
    pub settings: std::sync::Arc<Settings>,
    /// The legal documents `/terms` links.
    pub legal: std::sync::Arc<crate::domain::legal::LegalDocs>,
    /// For the user's own reminder switch (`/reminders_off`, `/reminders_on`): a profile column.
    pub pool: sqlx::PgPool,
}

fn text_of(message: &IncomingMessage) -> &str {
    message.text.as_deref().unwrap_or("")
}

/// `/start ref_abc` → `Some("ref_abc")`.
fn text_argument(text: &str) -> Option<&str> {
    text.split_whitespace().nth(1)
}

/// A referral code as we make them: 1–32 letters, digits, `-` or `_`.
pub fn valid_code(code: &str) -> bool {
    (1..=32).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The parts of a Telegram `Update` the bot reads; everything else is ignored.
#[derive(Debug, Deserialize)]
pub struct Update {
    pub update_id: i64,
    pub message: Option<IncomingMessage>,
    pub pre_checkout_query: Option<Value>,
}

#[derive(Debug, Deserialize)]
pub struct IncomingMessage {
    pub message_id: i64,
    pub chat: Chat,
    pub from: Option<From>,
    pub text: Option<String>,
    pub successful_payment: Option<Value>,
}

#[derive(Debug, Deserialize)]
pub struct Chat {
    pub id: i64,
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(Debug, Deserialize)]
pub struct From {
    pub id: i64,
    #[serde(default)]
    pub is_bot: bool,
    pub language_code: Option<String>,
}

/// The Stars payment a `successful_payment` object reports: ours (the payload is one of our
/// payment ids), in XTR, with Telegram's charge id; anything else is not a payment of ours.
pub fn stars_payment(payer: i64, paid: &Value) -> Option<StarsPayment> {
    let payment_id = paid["invoice_payload"].as_str().and_then(|p| uuid::Uuid::parse_str(p).ok())?;
    if paid["currency"] != "XTR" {
        return None;
    }
    let charge_id = paid["telegram_payment_charge_id"].as_str().filter(|c| !c.is_empty())?;
    Some(StarsPayment {
        payment_id,
        payer,
        total: paid["total_amount"].as_i64().unwrap_or(0),
        charge_id: charge_id.to_string(),
        raw: paid.clone(),
    })
}

impl Bot {
    /// Handles one update. Only a payment that could not be stored is an error (the webhook
    /// then answers 5xx so Telegram delivers it again); anything else is answered or ignored.
    pub async fn handle_update(&self, update: Update) -> Result<(), PaymentError> {
        if let Some(query) = update.pre_checkout_query {
            self.pre_checkout(&query);
            return Ok(());
        }
        let Some(message) = update.message else {
            return Ok(());
        };
        if let Some(paid) = &message.successful_payment {
            return self.successful_payment(message.from.as_ref().map_or(0, |f| f.id), paid).await;
        }
        let Some(from) = message.from.as_ref().filter(|f| !f.is_bot) else {
            return Ok(());
        };
        if message.chat.kind != "private" {
            return Ok(());
        }
        let lang = Lang::from_code(from.language_code.as_deref().unwrap_or("ru"));
        let Some(text) = message.text.as_deref() else {
            return Ok(());
        };
        let command = text.split_whitespace().next().unwrap_or("").split('@').next().unwrap_or("");
        match command {
            "/start" => {
                // Writing to the bot again undoes an earlier block.
                self.notifier.unblocked(UserId(from.id));
                let (mut text, markup) = self.start_message(lang);
                // `/start ref_<code>`: the link of a user who invited this one.
                let code = text_argument(text_of(&message)).and_then(|a| a.strip_prefix("ref_")).map(str::to_string);
                if let Some(code) = code.filter(|c| valid_code(c)) {
                    match self.payments.attach_referral(UserId(from.id), code, "bot").await {
                        Ok(crate::db::referrals::Attached::Linked(_)) => {
                            let credits = self.settings.file.growth.referral_credits_invitee;
                            text = format!("{text}\n\n{}", i18n::invited_text(lang, credits));
                        }
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "could not attach an invitation"),
                    }
                }
                self.notifier.send_text(message.chat.id, text, Some(markup));
            }
            "/reminders_off" | "/reminders_on" => {
                let off = command == "/reminders_off";
                match crate::db::reminders::set_off(&self.pool, UserId(from.id), off).await {
                    Ok(_) => self.notifier.send_text(message.chat.id, i18n::reminders_switched_text(lang, off), None),
                    Err(e) => tracing::warn!(error = %e, "could not switch reminders"),
                }
            }
            "/paysupport" => {
                let contact = &self.settings.file.telegram.support_contact;
                self.notifier.send_text(message.chat.id, i18n::paysupport_text(lang, contact), None);
            }
            "/terms" | "/privacy" => {
                self.notifier.send_text(message.chat.id, self.terms_message(lang), None);
            }
            "/help" => {
                let (text, markup) = self.start_message(lang);
                self.notifier.send_text(message.chat.id, text, Some(markup));
            }
            _ => {
                let (_, markup) = self.start_message(lang);
                self.notifier.send_text(message.chat.id, i18n::open_the_app_text(lang), Some(markup));
            }
        }
        Ok(())
    }

    /// Telegram asks whether a Stars payment may go ahead: the PaymentActor checks and answers.
    fn pre_checkout(&self, query: &Value) {
        let Some(id) = query["id"].as_str() else { return };
        self.payments.pre_checkout(PreCheckout {
            query_id: id.to_string(),
            payer: query["from"]["id"].as_i64().unwrap_or(0),
            payload: query["invoice_payload"].as_str().and_then(|p| uuid::Uuid::parse_str(p).ok()),
            total: query["total_amount"].as_i64(),
            currency: query["currency"].as_str().unwrap_or("").to_string(),
            lang: Lang::from_code(query["from"]["language_code"].as_str().unwrap_or("ru")),
        });
    }

    /// `successful_payment`: the source of truth for Stars. Stored durably by the PaymentActor
    /// before this returns (then applied once); an error makes Telegram send it again.
    async fn successful_payment(&self, payer: i64, paid: &Value) -> Result<(), PaymentError> {
        match stars_payment(payer, paid) {
            Some(payment) => self.payments.stars_paid(payment).await,
            None => Ok(()),
        }
    }

    /// `/terms`: the offer, the privacy policy and the renewal terms, each with a link that
    /// opens it in a browser (`GET /api/legal/{kind}`).
    pub fn terms_message(&self, lang: Lang) -> String {
        let base = &self.settings.public_base_url;
        let docs: Vec<(String, String)> = self
            .legal
            .in_language(lang)
            .into_iter()
            .map(|d| (d.title.clone(), format!("{base}/api/legal/{}?lang={}", d.kind.as_str(), lang.code())))
            .collect();
        i18n::terms_text(lang, &docs)
    }

    /// The greeting with a button that opens the Mini App.
    pub fn start_message(&self, lang: Lang) -> (String, Value) {
        let t = &self.settings.file.telegram;
        let text = lang.pick(&t.start_text_ru, &t.start_text_en).to_string();
        let button = lang.pick(&t.menu_button_text_ru, &t.menu_button_text_en);
        let markup =
            json!({"inline_keyboard": [[{"text": button, "web_app": {"url": self.settings.public_base_url}}]]});
        (text, markup)
    }
}
