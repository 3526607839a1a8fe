//! `ApiError`: the only type that knows HTTP status codes. Handlers return it with `?`; the
//! body `{"error": {"code", "message", "request_id", "details"?}}` is rendered by the
//! [`render_errors`] middleware, which knows the caller's language and the request id, and
//! which logs the cause of a 5xx once.

use axum::Json;
use axum::extract::Request;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::actors::session::SessionError;
use crate::auth::init_data::InitDataError;
use crate::auth::jwt::JwtError;
use crate::db::DbError;
use crate::domain::credits::CreditError;
use crate::domain::i18n::{self, Lang};

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    /// Replaces the standard localised message (e.g. to name a field).
    pub message: Option<String>,
    pub details: Option<Value>,
    /// The cause of a 5xx, logged once and never shown.
    pub source: Option<String>,
}

/// Stashed in the response for [`render_errors`].
#[derive(Debug, Clone)]
struct ErrorInfo {
    code: &'static str,
    message: Option<String>,
    details: Option<Value>,
    source: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str) -> Self {
        ApiError { status, code, message: None, details: None, source: None }
    }

    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = Some(message.into());
        self
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    pub fn bad_request(code: &'static str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code)
    }

    pub fn invalid_body(reason: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_body").with_details(json!({"reason": reason.into()}))
    }

    pub fn validation(field: &str) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").with_details(json!({"field": field}))
    }

    pub fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized")
    }

    pub fn forbidden() -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden")
    }

    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found")
    }

    pub fn conflict() -> Self {
        Self::new(StatusCode::CONFLICT, "conflict")
    }

    pub fn rate_limited(retry_after_secs: u64) -> Self {
        Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited")
            .with_details(json!({"retry_after_secs": retry_after_secs}))
    }

    /// A 500 whose cause is logged, not shown.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        let mut e = Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal");
        e.source = Some(cause.to_string());
        e
    }

    pub fn unavailable(code: &'static str, cause: impl std::fmt::Display) -> Self {
        let mut e = Self::new(StatusCode::SERVICE_UNAVAILABLE, code);
        e.source = Some(cause.to_string());
        e
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = self.status.into_response();
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
            CreditError::InsufficientCredits { needed, available } => {
                ApiError::new(StatusCode::PAYMENT_REQUIRED, "insufficient_credits")
                    .with_details(json!({"needed": needed, "available": available}))
            }
            CreditError::InvalidAmount => ApiError::validation("amount"),
        }
    }
}

impl From<SessionError> for ApiError {
    fn from(e: SessionError) -> Self {
        match e {
            SessionError::Credit(c) => c.into(),
            SessionError::Db(d) => d.into(),
            SessionError::InFlightLimit => ApiError::new(StatusCode::TOO_MANY_REQUESTS, "in_flight_limit"),
            SessionError::TooManySockets => ApiError::new(StatusCode::TOO_MANY_REQUESTS, "too_many_sockets"),
            SessionError::ChatBusy => ApiError::new(StatusCode::TOO_MANY_REQUESTS, "chat_busy"),
            SessionError::Conflict => ApiError::conflict(),
            e @ (SessionError::Timeout | SessionError::Unavailable | SessionError::Contended) => {
                ApiError::unavailable("queue_full", e)
            }
        }
    }
}

impl From<InitDataError> for ApiError {
    fn from(e: InitDataError) -> Self {
        let status = match e {
            InitDataError::Malformed | InitDataError::BadAuthDate | InitDataError::InvalidUser => {
                StatusCode::BAD_REQUEST
            }
            InitDataError::MissingHash
            | InitDataError::InvalidHash
            | InitDataError::Expired
            | InitDataError::FromFuture => StatusCode::UNAUTHORIZED,
        };
        ApiError::new(status, e.code())
    }
}

impl From<JwtError> for ApiError {
    fn from(e: JwtError) -> Self {
        match e {
            JwtError::Expired => ApiError::new(StatusCode::UNAUTHORIZED, "token_expired"),
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
        ApiError::new(StatusCode::BAD_REQUEST, "validation_failed")
            .with_details(json!({"reason": rejection.body_text()}))
    }
}

/// The caller's language: `Accept-Language` (the Mini App sends its UI language), Russian
/// by default.
pub fn request_lang(headers: &axum::http::HeaderMap) -> Lang {
    headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()).map(Lang::from_code).unwrap_or_default()
}

/// Renders `ApiError`s (and bare 404/405/413 from the router and layers) as our JSON body.
pub async fn render_errors(request: Request, next: Next) -> Response {
    let lang = request_lang(request.headers());
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let request_id = request.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let mut response = next.run(request).await;
    let info = response.extensions_mut().remove::<ErrorInfo>();
    let status = response.status();
    let info = match info {
        Some(info) => info,
        // Errors produced outside our handlers (unknown route, wrong method, body too big,
        // timeout) get the same shape, but only for API-ish paths without a body of their own.
        None if (status.is_client_error() || status.is_server_error()) && response_is_empty(&response) => ErrorInfo {
            code: match status {
                StatusCode::NOT_FOUND => "not_found",
                StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
                StatusCode::PAYLOAD_TOO_LARGE => "too_large",
                StatusCode::REQUEST_TIMEOUT => "timeout",
                StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_type",
                s if s.is_server_error() => "internal",
                _ => "invalid_body",
            },
            message: None,
            details: None,
            source: None,
        },
        None => return response,
    };
    if status.is_server_error() {
        tracing::error!(http.method = %method, http.path = %path, status = status.as_u16(), code = info.code,
            cause = info.source.as_deref().unwrap_or(""), "request failed");
    }
    let message = info.message.unwrap_or_else(|| i18n::error_message(info.code, lang).to_string());
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
