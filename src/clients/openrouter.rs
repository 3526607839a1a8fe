//! OpenRouter chat completions (contracts/openrouter.md) for the editing assistant: Claude
//! Haiku with a strict JSON schema (`response_format` + `provider.require_parameters`), the
//! attribution headers, and the error classes the caller needs to decide on retries. An error
//! may arrive with HTTP 200 (a top-level `error`, or `finish_reason: "error"`).

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

#[derive(Debug, thiserror::Error)]
pub enum OpenRouterError {
    /// 408, 429, 5xx, timeouts, connection errors, an empty completion: worth another try.
    #[error("the assistant is temporarily unavailable ({0})")]
    Transient(String, Option<Duration>),
    /// 400, 401, 402 (no Retry-After), 404: retrying will not help.
    #[error("the assistant refused the request (HTTP {0}): {1}")]
    Refused(u16, String),
    /// 403: moderation flagged the input.
    #[error("the request was flagged by moderation: {0}")]
    Moderated(String),
    /// 503: no provider supports every parameter sent; retry without structured output.
    #[error("no provider can serve the request as asked: {0}")]
    Unroutable(String),
}

impl OpenRouterError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, OpenRouterError::Transient(..) | OpenRouterError::Unroutable(_))
    }

    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            OpenRouterError::Transient(_, after) => *after,
            _ => None,
        }
    }
}

/// One completion: the raw content string (the caller validates it) and accounting fields.
#[derive(Debug, Clone)]
pub struct Completion {
    pub id: String,
    /// The upstream that served it (e.g. `Anthropic`).
    pub provider: String,
    pub content: String,
    pub finish_reason: String,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub cost: f64,
}

#[derive(Clone)]
pub struct OpenRouterClient {
    http: reqwest::Client,
    base_url: String,
    api_key: SecretString,
    model: String,
    referer: String,
    title: String,
}

impl OpenRouterClient {
    /// The client as configured: OpenRouter (or the simulator's stand-in in demo mode).
    pub fn from_settings(settings: &crate::config::Settings, own_base: &str) -> Self {
        let o = &settings.file.openrouter;
        Self::new(
            &settings.provider_base(own_base, "openrouter", "/api/v1", &o.api_base_url),
            settings
                .secrets
                .openrouter_api_key
                .clone()
                .unwrap_or_else(|| SecretString::from("simulator-key".to_string())),
            &o.model,
            &settings.public_base_url,
            &o.app_title,
            Duration::from_secs(o.request_timeout_secs),
        )
    }

    fn new(base_url: &str, api_key: SecretString, model: &str, referer: &str, title: &str, timeout: Duration) -> Self {
        OpenRouterClient {
            http: super::http_client("primerka/0.1", Duration::from_secs(5), timeout),
            base_url: base_url.trim_end_matches('/').to_string(),
            api_key,
            model: model.to_string(),
            referer: referer.to_string(),
            title: title.to_string(),
        }
    }

    pub fn model(&self) -> &str {
        &self.model
    }

    /// Sends `messages` asking for JSON matching `schema` (named `schema_name`). With
    /// `structured`, through `response_format` and only to providers that honour it; without
    /// (the contract's answer to a 503), the schema goes into an extra system message instead.
    /// Either way the caller validates the content.
    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub async fn complete(
        &self,
        messages: &[Value],
        schema_name: &str,
        schema: &Value,
        max_tokens: u32,
        structured: bool,
    ) -> Result<Completion, OpenRouterError> {
        let body = if structured {
            json!({
                "model": self.model,
                "messages": messages,
                "max_tokens": max_tokens,
                "temperature": 0.7,
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"name": schema_name, "strict": true, "schema": schema},
                },
                "provider": {"require_parameters": true},
            })
        } else {
            let mut messages = messages.to_vec();
            let rule = format!(
                "Reply with one JSON object only, no prose and no code fences, matching this JSON schema exactly: {schema}"
            );
            messages.insert(1.min(messages.len()), json!({"role": "system", "content": rule}));
            json!({"model": self.model, "messages": messages, "max_tokens": max_tokens, "temperature": 0.7})
        };
        let response = self
            .http
            .post(format!("{}/chat/completions", self.base_url))
            .bearer_auth(self.api_key.expose_secret())
            .header("HTTP-Referer", &self.referer)
            .header("X-Title", &self.title)
            .header("X-OpenRouter-Title", &self.title)
            .json(&body)
            .send()
            .await
            .map_err(|e| OpenRouterError::Transient(e.to_string(), None))?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .map(Duration::from_secs);
        let text = response.text().await.map_err(|e| OpenRouterError::Transient(e.to_string(), None))?;
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if let Some(error) = value.get("error").filter(|e| !e.is_null()) {
            let code = error.get("code").and_then(Value::as_u64).map_or(status, |c| c as u16);
            let message = error.get("message").and_then(Value::as_str).unwrap_or("").to_string();
            return Err(classify(code, message, retry_after));
        }
        if status != 200 {
            return Err(classify(status, text.chars().take(200).collect(), retry_after));
        }
        let choice =
            value.pointer("/choices/0").ok_or_else(|| OpenRouterError::Transient("no choices".into(), None))?;
        let finish_reason = choice.get("finish_reason").and_then(Value::as_str).unwrap_or("").to_string();
        if finish_reason == "error" {
            return Err(OpenRouterError::Transient("finish_reason error".into(), None));
        }
        let content = choice.pointer("/message/content").and_then(Value::as_str).unwrap_or("").to_string();
        if content.trim().is_empty() {
            return Err(OpenRouterError::Transient("empty completion".into(), None));
        }
        Ok(Completion {
            id: value.get("id").and_then(Value::as_str).unwrap_or("").to_string(),
            provider: value.get("provider").and_then(Value::as_str).unwrap_or("").to_string(),
            content,
            finish_reason,
            prompt_tokens: value.pointer("/usage/prompt_tokens").and_then(Value::as_i64).unwrap_or(0),
            completion_tokens: value.pointer("/usage/completion_tokens").and_then(Value::as_i64).unwrap_or(0),
            cost: value.pointer("/usage/cost").and_then(Value::as_f64).unwrap_or(0.0),
        })
    }
}

fn classify(code: u16, message: String, retry_after: Option<Duration>) -> OpenRouterError {
    match code {
        403 => OpenRouterError::Moderated(message),
        503 => OpenRouterError::Unroutable(message),
        402 if retry_after.is_some() => OpenRouterError::Transient(message, retry_after),
        408 | 429 | 500..=599 => OpenRouterError::Transient(format!("HTTP {code}: {message}"), retry_after),
        code => OpenRouterError::Refused(code, message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_classified_per_the_contract() {
        assert!(classify(429, String::new(), None).is_retryable());
        assert!(classify(502, String::new(), None).is_retryable());
        assert!(classify(408, String::new(), None).is_retryable());
        assert!(!classify(402, String::new(), None).is_retryable());
        assert!(classify(402, String::new(), Some(Duration::from_secs(1))).is_retryable());
        assert!(matches!(classify(403, String::new(), None), OpenRouterError::Moderated(_)));
        assert!(!classify(400, String::new(), None).is_retryable());
        assert!(matches!(classify(503, String::new(), None), OpenRouterError::Unroutable(_)));
        assert!(classify(503, String::new(), None).is_retryable());
    }
}
