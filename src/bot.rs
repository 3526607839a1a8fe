//! The bot's side of the conversation: Telegram updates (`/start`, `/help`, …) and the
//! messages it sends. Updates arrive through `POST /webhooks/telegram`; answers go out through
//! the `Notifier`, which keeps within Telegram's limits.

use serde::Deserialize;
use serde_json::{Value, json};

use crate::domain::i18n::Lang;
use crate::domain::ids::UserId;
use crate::http::AppState;

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

/// Handles one update. Never fails the webhook: problems are logged (Telegram would only
/// redeliver the same update).
pub async fn handle_update(state: &AppState, update: Update) {
    if let Some(query) = update.pre_checkout_query {
        pre_checkout(state, &query).await;
        return;
    }
    let Some(message) = update.message else {
        return;
    };
    if let Some(paid) = &message.successful_payment {
        successful_payment(state, message.from.as_ref().map_or(0, |f| f.id), paid).await;
        return;
    }
    let Some(from) = message.from.as_ref().filter(|f| !f.is_bot) else {
        return;
    };
    if message.chat.kind != "private" {
        return;
    }
    let lang = Lang::from_code(from.language_code.as_deref().unwrap_or("ru"));
    let Some(text) = message.text.as_deref() else {
        return;
    };
    let command = text.split_whitespace().next().unwrap_or("").split('@').next().unwrap_or("");
    match command {
        "/start" => {
            // Writing to the bot again undoes an earlier block.
            if let Err(e) = crate::db::users::set_bot_blocked(&state.pool, UserId(from.id), false).await {
                tracing::debug!(user.id = from.id, error = %e, "no user row to unblock yet");
            }
            let (text, markup) = start_message(state, lang);
            state.actors.notifier.send_text(message.chat.id, text, Some(markup));
        }
        "/paysupport" => {
            let contact = &state.settings.file.telegram.support_contact;
            let text = match lang {
                Lang::Ru => format!(
                    "Вопросы об оплате и возвратах: напишите {contact}, указав дату и сумму покупки. \
                     Кредиты за неудавшиеся генерации возвращаются автоматически. \
                     Автопродление подписки отключается в приложении: «Тарифы» → «Отключить автопродление»."
                ),
                Lang::En => format!(
                    "Questions about payments and refunds: write to {contact} with the date and amount of the purchase. \
                     Credits for failed generations are returned automatically. \
                     Auto-renewal is turned off in the app: Plans → Turn off auto-renewal."
                ),
            };
            state.actors.notifier.send_text(message.chat.id, text, None);
        }
        "/help" => {
            let (text, markup) = start_message(state, lang);
            state.actors.notifier.send_text(message.chat.id, text, Some(markup));
        }
        _ => {
            let text = lang.pick(
                "Всё самое интересное — в приложении: нажмите кнопку «Примерка» внизу.",
                "Everything happens in the app: tap the button below.",
            );
            let (_, markup) = start_message(state, lang);
            state.actors.notifier.send_text(message.chat.id, text, Some(markup));
        }
    }
}

/// Telegram asks whether a Stars payment may go ahead (answer within 10 s): only cheap checks —
/// our pending Stars payment, the same payer, the same amount.
async fn pre_checkout(state: &AppState, query: &Value) {
    let Some(id) = query["id"].as_str() else { return };
    let payer = query["from"]["id"].as_i64().unwrap_or(0);
    let lang = Lang::from_code(query["from"]["language_code"].as_str().unwrap_or("ru"));
    let payment = query["invoice_payload"]
        .as_str()
        .and_then(|p| uuid::Uuid::parse_str(p).ok())
        .map(|p| crate::db::payments::get(&state.pool, p));
    let valid = match payment {
        Some(fut) => match fut.await {
            Ok(p) => {
                p.provider == "stars"
                    && p.status == "pending"
                    && p.user_id.0 == payer
                    && Some(p.amount_minor) == query["total_amount"].as_i64()
                    && query["currency"] == "XTR"
            }
            Err(_) => false,
        },
        None => false,
    };
    let error = (!valid).then(|| {
        lang.pick(
            "Этот счёт устарел. Откройте покупку заново в приложении — деньги не списаны.",
            "This invoice is no longer valid. Start the purchase again in the app — you were not charged.",
        )
    });
    if let Err(e) = state.services.telegram.answer_pre_checkout_query(id, error).await {
        tracing::warn!(error = %e, "could not answer a pre-checkout query");
    }
}

/// `successful_payment`: the source of truth for Stars; granted once through the PaymentActor.
async fn successful_payment(state: &AppState, payer: i64, paid: &Value) {
    let Some(id) = paid["invoice_payload"].as_str().and_then(|p| uuid::Uuid::parse_str(p).ok()) else { return };
    if paid["currency"] != "XTR" {
        return;
    }
    let total = paid["total_amount"].as_i64().unwrap_or(0);
    let Some(charge) = paid["telegram_payment_charge_id"].as_str().map(str::to_string) else { return };
    match state.actors.payments.stars_paid(id, payer, total, charge, paid.clone()).await {
        Ok(outcome) => tracing::info!(payment.id = %id, outcome = ?outcome, "Stars payment handled"),
        Err(e) => tracing::error!(payment.id = %id, error = %e, "a Stars payment could not be applied"),
    }
}

/// The greeting with a button that opens the Mini App.
pub fn start_message(state: &AppState, lang: Lang) -> (String, Value) {
    let t = &state.settings.file.telegram;
    let text = lang.pick(&t.start_text_ru, &t.start_text_en).to_string();
    let button = lang.pick(&t.menu_button_text_ru, &t.menu_button_text_en);
    let markup = json!({"inline_keyboard": [[{"text": button, "web_app": {"url": state.settings.public_base_url}}]]});
    (text, markup)
}
