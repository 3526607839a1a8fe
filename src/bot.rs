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
    let Some(message) = update.message else {
        return;
    };
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

/// The greeting with a button that opens the Mini App.
pub fn start_message(state: &AppState, lang: Lang) -> (String, Value) {
    let t = &state.settings.file.telegram;
    let text = lang.pick(&t.start_text_ru, &t.start_text_en).to_string();
    let button = lang.pick(&t.menu_button_text_ru, &t.menu_button_text_en);
    let markup = json!({"inline_keyboard": [[{"text": button, "web_app": {"url": state.settings.public_base_url}}]]});
    (text, markup)
}
