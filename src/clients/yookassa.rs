//! YooKassa API v3 client (contracts/yookassa.md): Basic auth (shop id : secret key), an
//! `Idempotence-Key` on every POST, amounts as decimal strings. One attempt per call; callers
//! retry with the same key.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

use crate::config::ReceiptMode;
use crate::domain::legal::Contact;
use crate::domain::pricing::{format_rub, parse_rub};

#[derive(Debug, thiserror::Error)]
pub enum YooKassaError {
    /// 429, 500, timeouts: the outcome is unknown; repeat with the same idempotence key.
    #[error("YooKassa is temporarily unavailable: {0}")]
    Transient(String),
    #[error("YooKassa refused the request ({code}): {description}")]
    Refused { status: u16, code: String, description: String },
    #[error("unexpected YooKassa response: {0}")]
    Decode(String),
}

/// The fields of a payment object we act on.
#[derive(Debug, Clone, PartialEq)]
pub struct YkPayment {
    pub id: String,
    pub status: String,
    pub paid: bool,
    pub amount_kopecks: i64,
    pub currency: String,
    pub confirmation_url: Option<String>,
    /// For an embedded confirmation: the token the YooKassa checkout widget opens with.
    pub confirmation_token: Option<String>,
    pub metadata: Value,
    pub raw: Value,
}

impl YkPayment {
    pub fn from_json(raw: Value) -> Result<Self, YooKassaError> {
        let id = raw["id"].as_str().ok_or_else(|| YooKassaError::Decode("payment without id".into()))?.to_string();
        let amount = raw["amount"]["value"]
            .as_str()
            .and_then(parse_rub)
            .ok_or_else(|| YooKassaError::Decode("payment without a valid amount".into()))?;
        Ok(YkPayment {
            id,
            status: raw["status"].as_str().unwrap_or("").to_string(),
            paid: raw["paid"].as_bool().unwrap_or(false),
            amount_kopecks: amount,
            currency: raw["amount"]["currency"].as_str().unwrap_or("").to_string(),
            confirmation_url: raw["confirmation"]["confirmation_url"].as_str().map(str::to_string),
            confirmation_token: raw["confirmation"]["confirmation_token"].as_str().map(str::to_string),
            metadata: raw["metadata"].clone(),
            raw,
        })
    }
}

/// What to charge.
pub struct NewPayment<'a> {
    /// Who the receipt goes to (YooKassa refuses a receipt without a contact).
    pub customer: &'a Contact,
    pub amount_kopecks: i64,
    pub description: &'a str,
    pub return_url: &'a str,
    pub order_id: &'a str,
    pub user_id: i64,
    pub receipt_item: &'a str,
    /// Subscriptions: save the method for renewals.
    pub save_payment_method: bool,
    /// Confirm in YooKassa's checkout widget inside the Mini App (`confirmation_token`) rather
    /// than on YooKassa's page (`confirmation_url`, then back to `return_url`).
    pub embedded: bool,
}

#[derive(Clone)]
pub struct YooKassaClient {
    http: reqwest::Client,
    base_url: String,
    shop_id: String,
    secret: SecretString,
    receipts: ReceiptConfig,
}

/// How receipt lines are filled (`[tax]` receipt_*): `vat_code` on every item and, for 54-ФЗ
/// receipts of a shop with several tax systems, `tax_system_code`.
#[derive(Debug, Clone, Copy)]
pub struct ReceiptConfig {
    pub mode: ReceiptMode,
    pub vat_code: u8,
    /// 0 = not sent.
    pub tax_system_code: u8,
}

/// A refund of a whole payment, with the receipt that annuls (НПД) or reverses (54-ФЗ) its
/// receipt.
pub struct NewRefund<'a> {
    pub payment_id: &'a str,
    pub amount_kopecks: i64,
    pub description: &'a str,
    /// The receipt line (the payment's item) and the contact the payment's receipt went to.
    pub receipt_item: &'a str,
    pub customer: Option<&'a serde_json::Value>,
}

/// The fields of a refund object we act on (`GET /v3/refunds/{id}`, `refund.succeeded`).
#[derive(Debug, Clone, PartialEq)]
pub struct YkRefund {
    pub id: String,
    pub payment_id: String,
    pub status: String,
    pub amount_kopecks: i64,
}

impl YooKassaClient {
    /// The client as configured: YooKassa (or the simulator's stand-in in demo mode).
    pub fn from_settings(settings: &crate::config::Settings, own_base: &str) -> Self {
        let y = &settings.file.yookassa;
        let t = &settings.file.tax;
        let receipts = ReceiptConfig {
            mode: t.receipt_mode,
            vat_code: t.receipt_vat_code,
            tax_system_code: t.receipt_tax_system_code,
        };
        Self::new(
            receipts,
            &settings.provider_base(own_base, "yookassa", "/v3", &y.api_base_url),
            settings.secrets.yookassa_shop_id.as_deref().unwrap_or("simulator-shop"),
            settings
                .secrets
                .yookassa_secret_key
                .clone()
                .unwrap_or_else(|| SecretString::from("simulator-secret".to_string())),
            Duration::from_secs(y.request_timeout_secs),
        )
    }

    fn new(receipts: ReceiptConfig, base_url: &str, shop_id: &str, secret: SecretString, timeout: Duration) -> Self {
        YooKassaClient {
            http: super::http_client("primerka/0.1", Duration::from_secs(5), timeout),
            base_url: base_url.trim_end_matches('/').to_string(),
            shop_id: shop_id.to_string(),
            secret,
            receipts,
        }
    }

    /// One-stage payment with a redirect or embedded confirmation and a receipt line.
    pub async fn create_payment(&self, p: &NewPayment<'_>, idempotence_key: &str) -> Result<YkPayment, YooKassaError> {
        let mut body = self.payment_body(p);
        body["confirmation"] = if p.embedded {
            json!({"type": "embedded", "locale": "ru_RU"})
        } else {
            json!({"type": "redirect", "return_url": p.return_url})
        };
        body["save_payment_method"] = json!(p.save_payment_method);
        self.post_payment(&body, idempotence_key).await
    }

    /// A renewal: charges a saved method without the user (no confirmation step).
    pub async fn charge_saved(
        &self,
        p: &NewPayment<'_>,
        payment_method_id: &str,
        idempotence_key: &str,
    ) -> Result<YkPayment, YooKassaError> {
        let mut body = self.payment_body(p);
        body["payment_method_id"] = json!(payment_method_id);
        self.post_payment(&body, idempotence_key).await
    }

    /// Refunds `amount_kopecks` of a payment; returns the refund. With the contact the
    /// payment's receipt went to, the refund carries its receipt too.
    pub async fn refund(&self, r: &NewRefund<'_>, idempotence_key: &str) -> Result<YkRefund, YooKassaError> {
        let mut body = json!({
            "payment_id": r.payment_id,
            "amount": {"value": format_rub(r.amount_kopecks), "currency": "RUB"},
            "description": r.description.chars().take(250).collect::<String>(),
        });
        if let Some(customer) = r.customer {
            body["receipt"] = self.receipt(customer.clone(), r.receipt_item, r.amount_kopecks);
        }
        let response = self
            .http
            .post(format!("{}/refunds", self.base_url))
            .basic_auth(&self.shop_id, Some(self.secret.expose_secret()))
            .header("Idempotence-Key", idempotence_key)
            .json(&body)
            .send()
            .await
            .map_err(|e| YooKassaError::Transient(e.to_string()))?;
        YkRefund::from_json(&decode(response).await?)
    }

    async fn post_payment(&self, body: &Value, idempotence_key: &str) -> Result<YkPayment, YooKassaError> {
        let response = self
            .http
            .post(format!("{}/payments", self.base_url))
            .basic_auth(&self.shop_id, Some(self.secret.expose_secret()))
            .header("Idempotence-Key", idempotence_key)
            .json(body)
            .send()
            .await
            .map_err(|e| YooKassaError::Transient(e.to_string()))?;
        YkPayment::from_json(decode(response).await?)
    }

    /// A refund as YooKassa knows it (a `refund.succeeded` notification is checked with this).
    pub async fn get_refund(&self, id: &str) -> Result<YkRefund, YooKassaError> {
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(YooKassaError::Decode("malformed refund id".into()));
        }
        let response = self
            .http
            .get(format!("{}/refunds/{id}", self.base_url))
            .basic_auth(&self.shop_id, Some(self.secret.expose_secret()))
            .send()
            .await
            .map_err(|e| YooKassaError::Transient(e.to_string()))?;
        YkRefund::from_json(&decode(response).await?)
    }

    /// The payment as YooKassa knows it: the only source of truth for granting.
    pub async fn get_payment(&self, id: &str) -> Result<YkPayment, YooKassaError> {
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(YooKassaError::Decode("malformed payment id".into()));
        }
        let response = self
            .http
            .get(format!("{}/payments/{id}", self.base_url))
            .basic_auth(&self.shop_id, Some(self.secret.expose_secret()))
            .send()
            .await
            .map_err(|e| YooKassaError::Transient(e.to_string()))?;
        YkPayment::from_json(decode(response).await?)
    }
}

impl YkRefund {
    fn from_json(raw: &Value) -> Result<Self, YooKassaError> {
        let field = |k: &str| raw[k].as_str().map(str::to_string);
        Ok(YkRefund {
            id: field("id").ok_or_else(|| YooKassaError::Decode("refund without id".into()))?,
            payment_id: field("payment_id").unwrap_or_default(),
            status: field("status").unwrap_or_default(),
            amount_kopecks: raw["amount"]["value"].as_str().and_then(parse_rub).unwrap_or(0),
        })
    }
}

impl YooKassaClient {
    /// Amount, capture, description, our order id and the receipt of any payment.
    fn payment_body(&self, p: &NewPayment<'_>) -> Value {
        json!({
            "amount": {"value": format_rub(p.amount_kopecks), "currency": "RUB"},
            "capture": true,
            "description": p.description.chars().take(128).collect::<String>(),
            "metadata": {"order_id": p.order_id, "tg_user_id": p.user_id.to_string()},
            "receipt": self.receipt(p.customer.customer_json(), p.receipt_item, p.amount_kopecks),
        })
    }

    /// The receipt: the buyer's contact and one line for the whole amount. Self-employed
    /// receipts (НПД) go to «Мой налог»; 54-ФЗ ones may name the shop's tax system.
    fn receipt(&self, customer: Value, item: &str, amount_kopecks: i64) -> Value {
        let mut receipt = json!({
            "customer": customer,
            "items": [{
                "description": item.chars().take(128).collect::<String>(),
                "quantity": "1.00",
                "amount": {"value": format_rub(amount_kopecks), "currency": "RUB"},
                "vat_code": self.receipts.vat_code,
                "payment_subject": "service",
                "payment_mode": "full_payment",
            }],
        });
        if self.receipts.mode == ReceiptMode::Fz54 && self.receipts.tax_system_code > 0 {
            receipt["tax_system_code"] = json!(self.receipts.tax_system_code);
        }
        receipt
    }
}

async fn decode(response: reqwest::Response) -> Result<Value, YooKassaError> {
    let status = response.status().as_u16();
    let body: Value = response.json().await.map_err(|e| YooKassaError::Transient(e.to_string()))?;
    match status {
        200 => Ok(body),
        429 | 500..=599 => Err(YooKassaError::Transient(format!("HTTP {status}"))),
        _ => Err(YooKassaError::Refused {
            status,
            code: body["code"].as_str().unwrap_or("").to_string(),
            description: body["description"].as_str().unwrap_or("").to_string(),
        }),
    }
}
