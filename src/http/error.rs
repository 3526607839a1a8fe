//! `ApiError`: the only type that knows HTTP status codes. Handlers return it with `?`; the
//! body `{"error": {"code", "message", "request_id", "details"?}}` is rendered by
//! [`render_error`] (run for every response by `layers::RequestLayer`), which knows the caller's
//! language and the request id, and which logs the cause of a 5xx once.

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::actors::payments::PaymentError;
use crate::actors::session::SessionError;
use crate::auth::init_data::InitDataError;
use crate::auth::jwt::JwtError;
use crate::db::DbError;
use crate::domain::credits::CreditError;
use crate::domain::errors::ErrorCode;
use crate::domain::i18n::Lang;

#[derive(Debug)]
pub struct ApiError {
    pub code: ErrorCode,
    /// Replaces the standard localised message (e.g. to name a field).
    pub message: Option<String>,
    pub details: Option<Value>,
    /// The cause of a 5xx, logged once and never shown.
    pub source: Option<String>,
    /// Sent as `Retry-After` (seconds) with 429 and 503 answers.
    pub retry_after: Option<u64>,
}

/// Stashed in the response for [`render_error`].
#[derive(Debug, Clone)]
struct ErrorInfo {
    code: ErrorCode,
    message: Option<String>,
    details: Option<Value>,
    source: Option<String>,
}

impl From<ErrorCode> for ApiError {
    fn from(code: ErrorCode) -> Self {
        ApiError { code, message: None, details: None, source: None, retry_after: None }
    }
}

impl ApiError {
    pub fn new(code: ErrorCode) -> Self {
        code.into()
    }

    /// The HTTP status: the code's own.
    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = Some(message.into());
        self
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    pub fn with_retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs.max(1));
        self
    }

    pub fn invalid_body(reason: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidBody).with_details(json!({"reason": reason.into()}))
    }

    pub fn validation(field: &str) -> Self {
        Self::new(ErrorCode::ValidationFailed).with_details(json!({"field": field}))
    }

    pub fn unauthorized() -> Self {
        Self::new(ErrorCode::Unauthorized)
    }

    pub fn forbidden() -> Self {
        Self::new(ErrorCode::Forbidden)
    }

    pub fn not_found() -> Self {
        Self::new(ErrorCode::NotFound)
    }

    pub fn conflict() -> Self {
        Self::new(ErrorCode::Conflict)
    }

    pub fn rate_limited(retry_after_secs: u64) -> Self {
        Self::new(ErrorCode::RateLimited)
            .with_details(json!({"retry_after_secs": retry_after_secs}))
            .with_retry_after(retry_after_secs)
    }

    /// A 500 whose cause is logged, not shown.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        let mut e = Self::new(ErrorCode::Internal);
        e.source = Some(cause.to_string());
        e
    }

    /// A 503-class refusal (`code` says what is unavailable), worth retrying shortly.
    pub fn unavailable(code: ErrorCode, cause: impl std::fmt::Display) -> Self {
        let mut e = Self::new(code).with_retry_after(RETRY_AFTER_SECS);
        e.source = Some(cause.to_string());
        e
    }
}

/// What a 503 tells the client to wait before retrying.
pub const RETRY_AFTER_SECS: u64 = 2;

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = self.status().into_response();
        if let Some(secs) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response.extensions_mut().insert(ErrorInfo {
            code: self.code,
            message: self.message,
            details: self.details,
            source: self.source,
        });
        response
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::NotFound => ApiError::not_found(),
            DbError::Conflict { .. } => ApiError::conflict(),
            // The database is away (restart, network): a 503 the client retries, not a 500.
            e @ DbError::Other(_) if e.is_unavailable() => ApiError::unavailable(ErrorCode::Unavailable, e),
            DbError::Other(e) => ApiError::internal(e),
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        DbError::from_sqlx(e).into()
    }
}

impl From<CreditError> for ApiError {
    fn from(e: CreditError) -> Self {
        match e {
            CreditError::InsufficientCredits { needed, available } => ApiError::new(ErrorCode::InsufficientCredits)
                .with_details(json!({"needed": needed, "available": available})),
            CreditError::InvalidAmount => ApiError::validation("amount"),
        }
    }
}

impl From<SessionError> for ApiError {
    fn from(e: SessionError) -> Self {
        match e {
            SessionError::Credit(c) => c.into(),
            SessionError::Db(d) => d.into(),
            SessionError::Rejected(code) => code.into(),
            SessionError::Invalid(field) => ApiError::validation(field),
            SessionError::InFlightLimit => ErrorCode::InFlightLimit.into(),
            SessionError::TooManySockets => ErrorCode::TooManySockets.into(),
            SessionError::ChatBusy => ErrorCode::ChatBusy.into(),
            SessionError::QueueFull => ApiError::unavailable(ErrorCode::QueueFull, e),
            SessionError::Conflict => ApiError::conflict(),
            e @ (SessionError::Timeout | SessionError::Unavailable | SessionError::Contended) => {
                ApiError::unavailable(ErrorCode::Unavailable, e)
            }
        }
    }
}

impl From<PaymentError> for ApiError {
    fn from(e: PaymentError) -> Self {
        match e {
            PaymentError::Rejected(code) => code.into(),
            PaymentError::NotFound => ApiError::not_found(),
            PaymentError::Db(d) => d.into(),
            PaymentError::Refused(reason) => ApiError::conflict().with_message(reason),
            e @ (PaymentError::Unavailable(_) | PaymentError::ActorUnavailable) => {
                ApiError::unavailable(ErrorCode::PaymentUnavailable, e)
            }
        }
    }
}

impl From<InitDataError> for ApiError {
    fn from(e: InitDataError) -> Self {
        ApiError::new(e.code())
    }
}

impl From<JwtError> for ApiError {
    fn from(e: JwtError) -> Self {
        match e {
            JwtError::Expired => ErrorCode::TokenExpired.into(),
            JwtError::Invalid => ApiError::unauthorized(),
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        ApiError::invalid_body(rejection.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::new(ErrorCode::InvalidBody).with_details(json!({"reason": rejection.body_text()}))
    }
}

/// The caller's language: `Accept-Language` (the Mini App sends its UI language), Russian
/// by default.
pub fn request_lang(headers: &axum::http::HeaderMap) -> Lang {
    headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()).map(Lang::from_code).unwrap_or_default()
}

/// What [`render_error`] needs of the request, taken before the request goes to its handler
/// (cheap clones; the language is only parsed when there is an error to word).
pub struct ErrorContext {
    pub accept_language: Option<HeaderValue>,
    pub method: axum::http::Method,
    pub uri: axum::http::Uri,
    pub request_id: HeaderValue,
}

/// Renders an `ApiError` (and a bare 404/405/408/413 from the router and layers) as our JSON
/// body; any other response passes unchanged. Called for every response by
/// [`super::layers::RequestLayer`].
pub fn render_error(mut response: Response, request: ErrorContext) -> Response {
    let info = response.extensions_mut().remove::<ErrorInfo>();
    let status = response.status();
    let info = match info {
        Some(info) => info,
        // Errors produced outside our handlers (unknown route, wrong method, body too big,
        // timeout) get the same shape, but only for API-ish paths without a body of their own.
        None if (status.is_client_error() || status.is_server_error()) && response_is_empty(&response) => ErrorInfo {
            code: match status {
                StatusCode::NOT_FOUND => ErrorCode::NotFound,
                StatusCode::METHOD_NOT_ALLOWED => ErrorCode::MethodNotAllowed,
                StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::TooLarge,
                StatusCode::REQUEST_TIMEOUT => ErrorCode::Timeout,
                StatusCode::UNSUPPORTED_MEDIA_TYPE => ErrorCode::UnsupportedType,
                StatusCode::SERVICE_UNAVAILABLE => ErrorCode::Unavailable,
                s if s.is_server_error() => ErrorCode::Internal,
                _ => ErrorCode::InvalidBody,
            },
            message: None,
            details: None,
            source: None,
        },
        None => return response,
    };
    if status.is_server_error() {
        tracing::error!(http.method = %request.method, http.path = %request.uri.path(), status = status.as_u16(),
            code = info.code.as_str(), cause = info.source.as_deref().unwrap_or(""), "request failed");
    }
    let lang = request.accept_language.as_ref().and_then(|v| v.to_str().ok()).map(Lang::from_code).unwrap_or_default();
    let message = info.message.unwrap_or_else(|| info.code.message(lang).to_string());
    let request_id = request.request_id.to_str().unwrap_or("");
    let mut body = json!({"error": {"code": info.code, "message": message, "request_id": request_id}});
    if let Some(details) = info.details {
        body["error"]["details"] = details;
    }
    let mut rendered = (status, Json(body)).into_response();
    for (name, value) in response.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            rendered.headers_mut().insert(name.clone(), value.clone());
        }
    }
    rendered.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    rendered
}

/// Empty, or a plain-text body from a layer (e.g. the body limit's "length limit exceeded"):
/// either way not our JSON, so it gets the standard error shape.
fn response_is_empty(response: &Response) -> bool {
    use axum::body::HttpBody;
    let json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    response.body().size_hint().exact() == Some(0) || !json
}
