//! Telegram Bot API client (contracts/telegram.md §5): `{"ok": true, "result": …}` or
//! `{"ok": false, "error_code", "description", "parameters": {"retry_after"}}`.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

#[derive(Debug, thiserror::Error)]
pub enum TelegramError {
    #[error("Telegram did not answer in time")]
    Timeout,
    #[error("network error talking to Telegram: {0}")]
    Network(String),
    #[error("Telegram rate limit; retry after {retry_after} s")]
    RateLimited { retry_after: u64 },
    /// The user blocked the bot or never started it: don't retry.
    #[error("Telegram refused: {0}")]
    Forbidden(String),
    #[error("Telegram rejected the request: {0}")]
    BadRequest(String),
    #[error("Telegram answered HTTP {code}")]
    Status { code: u16 },
    #[error("unexpected Telegram response: {0}")]
    Decode(String),
}

impl TelegramError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, TelegramError::Timeout | TelegramError::Network(_) | TelegramError::RateLimited { .. })
            || matches!(self, TelegramError::Status { code } if *code >= 500)
    }
}

#[derive(Deserialize)]
struct Envelope {
    ok: bool,
    result: Option<Value>,
    error_code: Option<u16>,
    description: Option<String>,
    parameters: Option<ResponseParameters>,
}

#[derive(Deserialize)]
struct ResponseParameters {
    retry_after: Option<u64>,
}

/// A file to upload with `sendPhoto` / `sendDocument`.
#[derive(Debug, Clone)]
pub struct InputFile {
    pub bytes: bytes::Bytes,
    pub file_name: String,
    pub mime: String,
}

/// A Stars transaction of the bot (only what reconciliation reads).
#[derive(Debug, Clone, serde::Deserialize)]
pub struct StarTransaction {
    /// For an incoming payment, the `telegram_payment_charge_id` of its `successful_payment`.
    pub id: String,
    pub amount: i64,
    #[serde(default)]
    pub source: Option<TransactionPartner>,
}

/// Who a Stars transaction was with; `user` with `invoice_payload` for payments from users.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct TransactionPartner {
    #[serde(rename = "type")]
    pub kind: String,
    pub user: Option<TransactionUser>,
    pub invoice_payload: Option<String>,
    pub subscription_period: Option<i64>,
}

#[derive(Debug, Clone, serde::Deserialize)]
pub struct TransactionUser {
    pub id: i64,
}

#[derive(serde::Deserialize)]
struct StarTransactions {
    transactions: Vec<StarTransaction>,
}

#[derive(Clone)]
pub struct TelegramClient {
    http: reqwest::Client,
    base_url: String,
    token: SecretString,
}

impl TelegramClient {
    /// The client as configured: the Bot API (or the simulator's stand-in in demo mode).
    pub fn from_settings(settings: &crate::config::Settings, own_base: &str) -> Self {
        let t = &settings.file.telegram;
        Self::new(
            &settings.provider_base(own_base, "telegram", "", &t.api_base_url),
            settings.secrets.telegram_bot_token.clone(),
            Duration::from_secs(t.request_timeout_secs),
        )
    }

    fn new(base_url: &str, token: SecretString, timeout: Duration) -> Self {
        let http = super::http_client("primerka/0.1", Duration::from_secs(5), timeout);
        Self { http, base_url: base_url.trim_end_matches('/').to_string(), token }
    }

    fn url(&self, method: &str) -> String {
        format!("{}/bot{}/{}", self.base_url, self.token.expose_secret(), method)
    }

    /// Calls `method` with a JSON body.
    #[tracing::instrument(skip_all, fields(telegram.method = method), err(level = "debug"))]
    pub async fn call<T: DeserializeOwned>(&self, method: &str, body: &impl Serialize) -> Result<T, TelegramError> {
        let response = self.http.post(self.url(method)).json(body).send().await.map_err(classify)?;
        decode(response).await
    }

    /// Calls `method` with multipart form fields and one file field.
    async fn call_multipart<T: DeserializeOwned>(
        &self,
        method: &str,
        fields: Vec<(&'static str, String)>,
        file_field: &'static str,
        file: InputFile,
    ) -> Result<T, TelegramError> {
        let mut form = reqwest::multipart::Form::new();
        for (name, value) in fields {
            form = form.text(name, value);
        }
        let part = reqwest::multipart::Part::stream(file.bytes)
            .file_name(file.file_name)
            .mime_str(&file.mime)
            .map_err(|e| TelegramError::Decode(e.to_string()))?;
        form = form.part(file_field, part);
        let response = self.http.post(self.url(method)).multipart(form).send().await.map_err(classify)?;
        decode(response).await
    }

    pub async fn send_message(
        &self,
        chat_id: i64,
        text: &str,
        reply_markup: Option<Value>,
    ) -> Result<Value, TelegramError> {
        let mut body = json!({"chat_id": chat_id, "text": text});
        if let Some(markup) = reply_markup {
            body["reply_markup"] = markup;
        }
        self.call("sendMessage", &body).await
    }

    pub async fn send_photo(
        &self,
        chat_id: i64,
        photo: InputFile,
        caption: Option<&str>,
        reply_markup: Option<Value>,
    ) -> Result<Value, TelegramError> {
        let mut fields = vec![("chat_id", chat_id.to_string())];
        if let Some(caption) = caption {
            fields.push(("caption", caption.to_string()));
        }
        if let Some(markup) = reply_markup {
            fields.push(("reply_markup", markup.to_string()));
        }
        self.call_multipart("sendPhoto", fields, "photo", photo).await
    }

    pub async fn send_document(
        &self,
        chat_id: i64,
        document: InputFile,
        caption: Option<&str>,
    ) -> Result<Value, TelegramError> {
        let mut fields = vec![("chat_id", chat_id.to_string())];
        if let Some(caption) = caption {
            fields.push(("caption", caption.to_string()));
        }
        self.call_multipart("sendDocument", fields, "document", document).await
    }

    /// Points Telegram at our webhook, with the secret token it will echo back.
    /// A Telegram Stars invoice link for `WebApp.openInvoice` (contracts/telegram.md §6).
    pub async fn create_stars_invoice_link(
        &self,
        title: &str,
        description: &str,
        payload: &str,
        stars: i64,
        subscription_period_secs: Option<u32>,
    ) -> Result<String, TelegramError> {
        let title: String = title.chars().take(32).collect();
        let mut body = json!({
            "title": title,
            "description": description.chars().take(255).collect::<String>(),
            "payload": payload,
            "currency": "XTR",
            "prices": [{"label": title, "amount": stars}],
        });
        if let Some(period) = subscription_period_secs {
            // Telegram renews it every period itself, each time with a new successful_payment.
            body["subscription_period"] = json!(period);
        }
        self.call("createInvoiceLink", &body).await
    }

    /// Stops (or resumes) the renewals of a Stars subscription; `charge_id` is the first payment's.
    pub async fn edit_user_star_subscription(
        &self,
        user_id: i64,
        charge_id: &str,
        is_canceled: bool,
    ) -> Result<bool, TelegramError> {
        let body = json!({"user_id": user_id, "telegram_payment_charge_id": charge_id, "is_canceled": is_canceled});
        self.call("editUserStarSubscription", &body).await
    }

    pub async fn answer_pre_checkout_query(
        &self,
        id: &str,
        error_message: Option<&str>,
    ) -> Result<bool, TelegramError> {
        let body = match error_message {
            None => json!({"pre_checkout_query_id": id, "ok": true}),
            Some(message) => json!({"pre_checkout_query_id": id, "ok": false, "error_message": message}),
        };
        self.call("answerPreCheckoutQuery", &body).await
    }

    /// The bot's Stars transactions (`getStarTransactions`), oldest first from `offset`.
    pub async fn get_star_transactions(&self, offset: u32, limit: u32) -> Result<Vec<StarTransaction>, TelegramError> {
        let list: StarTransactions =
            self.call("getStarTransactions", &json!({"offset": offset, "limit": limit.min(100)})).await?;
        Ok(list.transactions)
    }

    pub async fn refund_star_payment(&self, user_id: i64, charge_id: &str) -> Result<bool, TelegramError> {
        self.call("refundStarPayment", &json!({"user_id": user_id, "telegram_payment_charge_id": charge_id})).await
    }

    pub async fn set_webhook(&self, url: &str, secret_token: &SecretString) -> Result<bool, TelegramError> {
        self.call(
            "setWebhook",
            &json!({
                "url": url,
                "secret_token": secret_token.expose_secret(),
                "allowed_updates": ["message", "pre_checkout_query"],
            }),
        )
        .await
    }

    /// Sets the chat menu button to open the Mini App.
    pub async fn set_menu_button(&self, text: &str, web_app_url: &str) -> Result<bool, TelegramError> {
        self.call(
            "setChatMenuButton",
            &json!({"menu_button": {"type": "web_app", "text": text, "web_app": {"url": web_app_url}}}),
        )
        .await
    }
}

fn classify(err: reqwest::Error) -> TelegramError {
    if err.is_timeout() {
        TelegramError::Timeout
    } else {
        // Never include the URL: it carries the bot token.
        TelegramError::Network(err.without_url().to_string())
    }
}

async fn decode<T: DeserializeOwned>(response: reqwest::Response) -> Result<T, TelegramError> {
    let status = response.status();
    let body = response.bytes().await.map_err(classify)?;
    let envelope: Envelope = match serde_json::from_slice(&body) {
        Ok(e) => e,
        Err(_) if !status.is_success() => {
            return Err(TelegramError::Status { code: status.as_u16() });
        }
        Err(e) => return Err(TelegramError::Decode(e.to_string())),
    };
    if envelope.ok {
        let result = envelope.result.unwrap_or(Value::Null);
        return serde_json::from_value(result).map_err(|e| TelegramError::Decode(e.to_string()));
    }
    let description = envelope.description.unwrap_or_default();
    match envelope.error_code.unwrap_or(status.as_u16()) {
        429 => Err(TelegramError::RateLimited {
            retry_after: envelope.parameters.and_then(|p| p.retry_after).unwrap_or(1),
        }),
        403 => Err(TelegramError::Forbidden(description)),
        400 => Err(TelegramError::BadRequest(description)),
        code => Err(TelegramError::Status { code }),
    }
}
