//! kie.ai client (contracts/kie-ai.md): `createTask` for Nano Banana edits, `recordInfo` for a
//! task's state, and the download of a result. Envelope `{code, msg|message, data}`; a 429 may
//! come as the HTTP status or as the body code. One attempt per call; the generator owns
//! retries and the provider budget.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Debug, thiserror::Error)]
pub enum KieError {
    /// Rejected, not queued: safe to send again after the window.
    #[error("kie.ai rate limit")]
    RateLimited,
    /// The request never reached kie.ai (connect error): safe to send again.
    #[error("could not reach kie.ai: {0}")]
    Unreachable(String),
    /// Sent, but no answer: a createTask may or may not have created a (billed) task.
    #[error("kie.ai did not answer in time")]
    NoAnswer,
    /// Maintenance (455) or a 5xx on a read: worth another try later.
    #[error("kie.ai is temporarily unavailable (code {0})")]
    Unavailable(i64),
    /// 401, 402, 422, 433, 505…: don't retry.
    #[error("kie.ai refused the request (code {code}): {msg}")]
    Refused { code: i64, msg: String },
    #[error("unexpected kie.ai response: {0}")]
    Decode(String),
}

impl KieError {
    /// May this call be repeated without risking a second task?
    pub fn is_retryable(&self) -> bool {
        matches!(self, KieError::RateLimited | KieError::Unreachable(_) | KieError::Unavailable(_))
    }
}

/// A task's state as `recordInfo` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskState {
    /// `waiting`, `queuing`
    Queued,
    /// `generating`
    Generating,
    Success {
        result_urls: Vec<String>,
    },
    Fail {
        code: String,
        message: String,
    },
}

#[derive(Deserialize)]
struct Envelope {
    code: Option<i64>,
    msg: Option<String>,
    message: Option<String>,
    data: Option<Value>,
}

#[derive(Clone)]
pub struct KieClient {
    http: reqwest::Client,
    /// Result downloads: HTTPS to public addresses only (`clients::fetch`).
    download_http: reqwest::Client,
    /// Loopback results are fine (`SIMULATOR=1`: the simulator serves them).
    allow_loopback: bool,
    base_url: String,
    api_key: SecretString,
    model: String,
}

impl KieClient {
    /// The client as configured: kie.ai (or the simulator's stand-in in demo mode; `own_base`
    /// is this server's loopback address, where the simulator is mounted).
    pub fn from_settings(settings: &crate::config::Settings, own_base: &str) -> Self {
        let kie = &settings.file.kie;
        Self::new(
            &settings.provider_base(own_base, "kie", "", &kie.api_base_url),
            settings.secrets.kie_api_key.clone().unwrap_or_else(|| SecretString::from("simulator-key".to_string())),
            &kie.model,
            &kie.user_agent,
            Duration::from_secs(kie.connect_timeout_secs),
            Duration::from_secs(kie.request_timeout_secs),
            settings.simulator,
        )
    }

    fn new(
        base_url: &str,
        api_key: SecretString,
        model: &str,
        user_agent: &str,
        connect: Duration,
        timeout: Duration,
        allow_loopback: bool,
    ) -> Self {
        KieClient {
            http: super::http_client(user_agent, connect, timeout),
            download_http: super::fetch::download_client(user_agent, connect, timeout, allow_loopback),
            allow_loopback,
            base_url: base_url.trim_end_matches('/').to_string(),
            api_key,
            model: model.to_string(),
        }
    }

    /// Creates an edit task over `image_urls` with the output's `image_size` (an aspect ratio
    /// such as `3:4`, or `auto`: `domain::images::nearest_aspect_ratio` of the main input);
    /// returns the task id. Results are asked for as JPEG: a paid result is stored as it comes
    /// (decoded only to check it), with no re-encoding (BENCHMARKS.md, generator pool).
    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub async fn create_task(
        &self,
        prompt: &str,
        image_urls: &[String],
        image_size: &str,
        callback_url: &str,
    ) -> Result<String, KieError> {
        let body = json!({
            "model": self.model,
            "callBackUrl": callback_url,
            "input": { "prompt": prompt, "image_urls": image_urls, "output_format": "jpeg", "image_size": image_size },
        });
        let response = self
            .http
            .post(format!("{}/api/v1/jobs/createTask", self.base_url))
            .bearer_auth(self.api_key.expose_secret())
            .json(&body)
            .send()
            .await
            .map_err(classify_send)?;
        let data = decode(response).await?;
        data.get("taskId")
            .and_then(Value::as_str)
            .filter(|id| !id.is_empty())
            .map(str::to_string)
            .ok_or_else(|| KieError::Decode("createTask answered without data.taskId".into()))
    }

    /// The task's state; only this answer is trusted (callbacks are hints).
    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub async fn record_info(&self, task_id: &str) -> Result<TaskState, KieError> {
        let response = self
            .http
            .get(format!("{}/api/v1/jobs/recordInfo", self.base_url))
            .query(&[("taskId", task_id)])
            .bearer_auth(self.api_key.expose_secret())
            .send()
            .await
            .map_err(classify_read)?;
        let data = decode(response).await.map_err(|e| match e {
            // A read that failed server-side is safe to repeat.
            KieError::Refused { code, .. } if code >= 500 || code == 404 => KieError::Unavailable(code),
            other => other,
        })?;
        parse_state(&data)
    }

    /// Downloads a result (capped at `max_bytes`): HTTPS to public addresses only, redirects
    /// included (`clients::fetch`); a refused location is not retried.
    pub async fn download(&self, url: &str, max_bytes: usize) -> Result<Vec<u8>, KieError> {
        let parsed = reqwest::Url::parse(url).map_err(|e| KieError::Decode(format!("result URL: {e}")))?;
        super::fetch::check_url(&parsed, self.allow_loopback)
            .map_err(|reason| KieError::Decode(format!("result URL refused: {reason}")))?;
        let mut response = self.download_http.get(parsed).send().await.map_err(|e| {
            if e.is_redirect() { KieError::Decode(format!("result redirect refused: {e}")) } else { classify_read(e) }
        })?;
        if !response.status().is_success() {
            return Err(KieError::Unavailable(i64::from(response.status().as_u16())));
        }
        let mut out = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(classify_read)? {
            if out.len() + chunk.len() > max_bytes {
                return Err(KieError::Decode("the result is larger than allowed".into()));
            }
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    }
}

/// Parses `recordInfo`'s `data` (also the callback's `data`).
pub fn parse_state(data: &Value) -> Result<TaskState, KieError> {
    let state = data.get("state").and_then(Value::as_str).unwrap_or("");
    Ok(match state {
        "waiting" | "queuing" => TaskState::Queued,
        "generating" => TaskState::Generating,
        "success" => {
            let raw = data.get("resultJson").and_then(Value::as_str).unwrap_or("");
            let parsed: Value = serde_json::from_str(raw).map_err(|e| KieError::Decode(format!("resultJson: {e}")))?;
            let result_urls: Vec<String> = parsed
                .get("resultUrls")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(|u| u.as_str().map(str::to_string)).collect())
                .unwrap_or_default();
            // An empty list is kie.ai's "no image returned"; the caller fails and refunds.
            TaskState::Success { result_urls }
        }
        "fail" => {
            TaskState::Fail { code: lenient_string(data.get("failCode")), message: lenient_string(data.get("failMsg")) }
        }
        other => return Err(KieError::Decode(format!("unknown task state {other:?}"))),
    })
}

fn lenient_string(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

async fn decode(response: reqwest::Response) -> Result<Value, KieError> {
    let status = response.status();
    if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
        return Err(KieError::RateLimited);
    }
    let text = response.text().await.map_err(classify_read)?;
    let envelope: Envelope = serde_json::from_str(&text).map_err(|_| {
        if status.is_server_error() {
            KieError::Unavailable(i64::from(status.as_u16()))
        } else {
            KieError::Decode(format!("HTTP {status}: not JSON"))
        }
    })?;
    let code = envelope.code.unwrap_or(i64::from(status.as_u16()));
    let msg = envelope.msg.or(envelope.message).unwrap_or_default();
    match code {
        200 => envelope.data.ok_or_else(|| KieError::Decode("no data".into())),
        429 => Err(KieError::RateLimited),
        455 => Err(KieError::Unavailable(455)),
        code => Err(KieError::Refused { code, msg }),
    }
}

fn classify_send(e: reqwest::Error) -> KieError {
    if e.is_connect() { KieError::Unreachable(e.to_string()) } else { KieError::NoAnswer }
}

fn classify_read(e: reqwest::Error) -> KieError {
    if e.is_connect() || e.is_timeout() || e.is_request() {
        KieError::Unreachable(e.to_string())
    } else {
        KieError::Decode(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_states_leniently() {
        assert_eq!(parse_state(&json!({"state": "queuing"})).unwrap(), TaskState::Queued);
        assert_eq!(parse_state(&json!({"state": "generating"})).unwrap(), TaskState::Generating);
        let ok =
            parse_state(&json!({"state": "success", "resultJson": "{\"resultUrls\":[\"http://x/1.png\"]}"})).unwrap();
        assert_eq!(ok, TaskState::Success { result_urls: vec!["http://x/1.png".into()] });
        let fail = parse_state(&json!({"state": "fail", "failCode": 422, "failMsg": null})).unwrap();
        assert_eq!(fail, TaskState::Fail { code: "422".into(), message: String::new() });
        let empty = parse_state(&json!({"state": "success", "resultJson": "{}"})).unwrap();
        assert_eq!(empty, TaskState::Success { result_urls: vec![] }, "no image is a success without URLs");
        assert!(parse_state(&json!({"state": "success", "resultJson": "not json"})).is_err());
        assert!(parse_state(&json!({"state": "weird"})).is_err());
    }
}
