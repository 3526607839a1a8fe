//! The layer every request passes, as one tower service instead of a stack of ten.
//!
//! In order, for each request:
//! - **request id**: the caller's `x-request-id` when it is a plain token (≤ 64 characters of
//!   letters, digits, `-`, `_`, `.`), otherwise a new UUID; set on the request (handlers and the
//!   error body read it) and on the response;
//! - **trace span** `http.request` (request id, method, route, `user.id` once known);
//! - **timeout**: `server.request_timeout_secs`, answered `408` (rendered like every error);
//! - **error rendering**: an `ApiError` (or a bare 4xx/5xx from the router or a layer) becomes
//!   `{"error": {code, message, request_id, details?}}` in the caller's language
//!   ([`super::error::render_error`]);
//! - **metrics**: `primerka_http_requests_total` and `primerka_http_request_duration_seconds`
//!   by method, route pattern and status, through handles registered once per label set and
//!   found through each worker thread's own copy (no shared lock or reference count per
//!   request); a method outside the standard nine is labelled `OTHER`, so no caller can mint
//!   label sets;
//! - **CORS** (tower-http's `Cors`) for a request that carries an `Origin` — every cross-origin
//!   request and every preflight does; any other answer gets only the same `Vary`;
//! - **security headers** (when the handler set none): a CSP (the Mini App's for documents, the
//!   API one — `default-src 'none'; frame-ancestors 'none'` — for JSON), `nosniff`,
//!   `same-origin` referrer policy.
//!
//! Why one service: the same work as eight tower-http layers and two `from_fn` middlewares cost
//! about a quarter of a returning user's login on two cores (BENCHMARKS.md, "Login: the
//! layers"); here it is one boxed future and no label strings, and the copy of this service
//! that axum's router makes for every request carries one inner service and a shared CORS
//! policy (BENCHMARKS.md, "Login: the seventh pass").

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, LazyLock, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::future::{BoxFuture, Either};
use metrics::{Counter, Histogram};
use tower::{Layer, Service};
use tower_http::cors::{Cors, CorsLayer};
use tracing::Instrument;

use super::error::{ErrorContext, render_error};

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The Mini App's policy, for documents (the SPA) and everything that is not JSON.
const CSP_DOCUMENT: &str = "default-src 'self'; img-src 'self' blob: data:; connect-src 'self' ws: wss:; \
     style-src 'self' 'unsafe-inline'; script-src 'self'; frame-src 'self' https://yookassa.ru https://*.yookassa.ru; \
     font-src 'self' data:; frame-ancestors https://web.telegram.org https://*.telegram.org 'self'; base-uri 'self'; form-action 'self'";
/// JSON is never a document: nothing may load from it or frame it (OWASP's REST advice).
const CSP_API: &str = "default-src 'none'; frame-ancestors 'none'";

/// What tower-http's CORS answers vary on; sent with every answer, so a cache never serves one
/// origin's answer to another.
const VARY: &str = "origin, access-control-request-method, access-control-request-headers";

/// Builds [`RequestService`]s; `timeout` bounds producing a response, `cors` answers
/// cross-origin callers.
#[derive(Clone)]
pub struct RequestLayer {
    timeout: Duration,
    /// One policy for every route's service (axum applies the layer to each route).
    cors: Arc<CorsLayer>,
}

impl RequestLayer {
    pub fn new(timeout: Duration, cors: CorsLayer) -> Self {
        RequestLayer { timeout, cors: Arc::new(cors) }
    }
}

impl<S> Layer<S> for RequestLayer {
    type Service = RequestService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequestService { inner, cors: self.cors.clone(), timeout: self.timeout }
    }
}

/// Cloned for every request (axum's router clones its routes' services to call them), so it
/// holds the inner service and shares the rest: CORS wraps the inner service only for a request
/// that carries an `Origin`, instead of a second copy of both living in every clone.
#[derive(Clone)]
pub struct RequestService<S> {
    inner: S,
    cors: Arc<CorsLayer>,
    timeout: Duration,
}

impl<S> Service<Request> for RequestService<S>
where
    S: Service<Request, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        let started = Instant::now();
        let request_id = match request.headers().get(&REQUEST_ID) {
            Some(id) if plain_token(id) => id.clone(),
            _ => new_request_id(),
        };
        request.headers_mut().insert(REQUEST_ID, request_id.clone());
        let route = request.extensions().get::<MatchedPath>().cloned();
        let method = request.method().clone();
        let span = tracing::info_span!("http.request",
            request_id = request_id.to_str().unwrap_or(""),
            http.method = %method,
            http.route = route.as_ref().map_or("", |r| r.as_str()),
            user.id = tracing::field::Empty);
        let context = ErrorContext {
            accept_language: request.headers().get(header::ACCEPT_LANGUAGE).cloned(),
            method: method.clone(),
            uri: request.uri().clone(),
            request_id: request_id.clone(),
        };
        // `inner` was polled ready by our own `poll_ready`: called here, not a clone of it.
        let response = if request.headers().contains_key(header::ORIGIN) {
            // The ready service goes behind CORS; a clone stays for the next request (tower's
            // way of moving a service that was polled ready).
            let clone = self.inner.clone();
            let ready = std::mem::replace(&mut self.inner, clone);
            Either::Left(Cors::call(&mut self.cors.layer(ready), request))
        } else {
            Either::Right(self.inner.call(request))
        };
        let timeout = self.timeout;
        let future = async move {
            let response = match tokio::time::timeout(timeout, response).await {
                Ok(response) => response?,
                Err(_) => StatusCode::REQUEST_TIMEOUT.into_response(),
            };
            let mut response = render_error(response, context);
            finish(&mut response, request_id);
            let status = response.status();
            let elapsed = started.elapsed();
            RouteMetrics::of(&method, route.as_ref().map_or("other", |r| r.as_str()), status.as_u16()).record(elapsed);
            tracing::debug!(status = status.as_u16(), latency_ms = elapsed.as_secs_f64() * 1000.0, "request finished");
            Ok(response)
        };
        Box::pin(future.instrument(span))
    }
}

/// A request id we keep from the caller: short, and nothing a log line could be bent with.
fn plain_token(value: &HeaderValue) -> bool {
    let bytes = value.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 64
        && bytes.iter().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

fn new_request_id() -> HeaderValue {
    let mut buffer = uuid::Uuid::encode_buffer();
    let id = uuid::Uuid::new_v4().hyphenated().encode_lower(&mut buffer);
    // A UUID's text is always a valid header value; the fallback only keeps this panic-free.
    HeaderValue::from_str(id).unwrap_or(HeaderValue::from_static("unknown"))
}

/// The request id and the security headers a handler did not set itself.
fn finish(response: &mut Response, request_id: HeaderValue) {
    let json =
        response.headers().get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    let headers = response.headers_mut();
    // Room for what follows at once, instead of the map growing header by header.
    headers.reserve(6);
    headers.insert(REQUEST_ID, request_id);
    if !headers.contains_key(header::VARY) {
        headers.insert(header::VARY, HeaderValue::from_static(VARY));
    }
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        let csp = if json { CSP_API } else { CSP_DOCUMENT };
        headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(csp));
    }
    if !headers.contains_key(header::X_CONTENT_TYPE_OPTIONS) {
        headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    }
    if !headers.contains_key(header::REFERRER_POLICY) {
        headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    }
}

/// One label set's metric handles (method, route pattern, status): registered once for the
/// process and kept for its life (the label sets are bounded: a method outside the standard
/// ones is labelled `OTHER`, a path no route matched `other`, so a caller cannot mint new ones).
struct RouteMetrics {
    method: &'static str,
    route: Box<str>,
    status: u16,
    requests: Counter,
    duration: Histogram,
}

type Registered = HashMap<u64, Vec<&'static RouteMetrics>>;

/// Every label set's handles by a hash of their labels (a bucket holds those with that hash).
static ROUTE_METRICS: LazyLock<Mutex<Registered>> = LazyLock::new(Default::default);

thread_local! {
    /// This worker thread's copy of the handles it has used: a request finds its handles
    /// without touching a lock or a reference count shared with the other cores.
    static LOCAL_ROUTE_METRICS: RefCell<Registered> = RefCell::new(HashMap::new());
}

/// The method as a metric label. hyper accepts any token as a method; those outside the
/// standard nine share one label.
fn method_label(method: &Method) -> &'static str {
    match method.as_str() {
        "GET" => "GET",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "HEAD" => "HEAD",
        "OPTIONS" => "OPTIONS",
        "CONNECT" => "CONNECT",
        "TRACE" => "TRACE",
        _ => "OTHER",
    }
}

impl RouteMetrics {
    fn of(method: &Method, route: &str, status: u16) -> &'static RouteMetrics {
        let method = method_label(method);
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        (method, route, status).hash(&mut hasher);
        let key = hasher.finish();
        let matches = |m: &&&'static RouteMetrics| m.status == status && m.method == method && &*m.route == route;
        LOCAL_ROUTE_METRICS.with_borrow_mut(|local| {
            if let Some(found) = local.get(&key).and_then(|bucket| bucket.iter().find(matches)) {
                return *found;
            }
            let found = {
                let mut shared = ROUTE_METRICS.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                let bucket = shared.entry(key).or_default();
                match bucket.iter().find(matches) {
                    Some(found) => *found,
                    None => {
                        let created: &'static RouteMetrics = Box::leak(Box::new(RouteMetrics {
                            method,
                            route: route.into(),
                            status,
                            requests: metrics::counter!("primerka_http_requests_total", "method" => method,
                                "route" => route.to_string(), "status" => status.to_string()),
                            duration: metrics::histogram!("primerka_http_request_duration_seconds",
                                "method" => method, "route" => route.to_string()),
                        }));
                        bucket.push(created);
                        created
                    }
                }
            };
            local.entry(key).or_default().push(found);
            found
        })
    }

    fn record(&self, elapsed: Duration) {
        self.requests.increment(1);
        self.duration.record(elapsed.as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use tower::ServiceExt;

    use super::*;

    fn layer(timeout: Duration) -> RequestLayer {
        RequestLayer::new(timeout, CorsLayer::new())
    }

    async fn body_json(response: Response) -> serde_json::Value {
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn a_request_over_its_time_is_answered_408_with_the_error_body_and_its_request_id() {
        let slow = tower::service_fn(|_: Request| async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Ok::<_, std::convert::Infallible>(StatusCode::OK.into_response())
        });
        let request = Request::builder().uri("/api/slow").header("accept-language", "en").body(Body::empty()).unwrap();
        let response = layer(Duration::from_millis(50)).layer(slow).oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::REQUEST_TIMEOUT);
        let id = response.headers()[&REQUEST_ID].to_str().unwrap().to_string();
        assert_eq!(id.len(), 36, "a new UUID: {id}");
        assert_eq!(response.headers()[header::CONTENT_SECURITY_POLICY], CSP_API);
        let body = body_json(response).await;
        assert_eq!(body["error"]["code"], "timeout");
        assert_eq!(body["error"]["request_id"], id);
        assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
    }

    #[tokio::test]
    async fn documents_get_the_mini_apps_policy_json_the_api_one_and_a_handlers_own_is_kept() {
        let answer = |content_type: &'static str, own_csp: Option<&'static str>| {
            tower::service_fn(move |_: Request| async move {
                let mut response = ([(header::CONTENT_TYPE, content_type)], "{}").into_response();
                if let Some(csp) = own_csp {
                    response.headers_mut().insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(csp));
                }
                Ok::<_, std::convert::Infallible>(response)
            })
        };
        let get = || Request::builder().uri("/").header(&REQUEST_ID, "caller-id.1").body(Body::empty()).unwrap();
        let html = layer(Duration::from_secs(5)).layer(answer("text/html", None)).oneshot(get()).await.unwrap();
        assert_eq!(html.headers()[header::CONTENT_SECURITY_POLICY], CSP_DOCUMENT);
        assert_eq!(html.headers()[&REQUEST_ID], "caller-id.1", "a plain caller id is kept");
        assert_eq!(html.headers()[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(html.headers()[header::REFERRER_POLICY], "same-origin");
        assert_eq!(html.headers()[header::VARY], VARY);
        let json = layer(Duration::from_secs(5)).layer(answer("application/json", None)).oneshot(get()).await.unwrap();
        assert_eq!(json.headers()[header::CONTENT_SECURITY_POLICY], CSP_API);
        let own = layer(Duration::from_secs(5))
            .layer(answer("text/html", Some("default-src 'none'; sandbox")))
            .oneshot(get())
            .await
            .unwrap();
        assert_eq!(own.headers()[header::CONTENT_SECURITY_POLICY], "default-src 'none'; sandbox");
    }

    #[tokio::test]
    async fn one_service_answers_cross_origin_and_plain_requests_in_turn() {
        let app = "https://app.example";
        let cors = CorsLayer::new()
            .allow_origin(tower_http::cors::AllowOrigin::list([HeaderValue::from_static(app)]))
            .allow_methods([Method::GET]);
        let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = calls.clone();
        let inner = tower::service_fn(move |_: Request| {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async { Ok::<_, std::convert::Infallible>(StatusCode::OK.into_response()) }
        });
        // The same service, as a connection uses it: the CORS branch moves the ready inner
        // service out and must leave a working one behind.
        let mut service = RequestLayer::new(Duration::from_secs(5), cors).layer(inner);
        for origin in [Some(app), None, Some(app), Some("https://evil.example"), None] {
            let mut request = Request::builder().uri("/api/plans");
            if let Some(origin) = origin {
                request = request.header(header::ORIGIN, origin);
            }
            let response = service.ready().await.unwrap().call(request.body(Body::empty()).unwrap()).await.unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            let allowed = response.headers().get(header::ACCESS_CONTROL_ALLOW_ORIGIN);
            match origin {
                Some(origin) if origin == app => assert_eq!(allowed.unwrap(), app),
                _ => assert!(allowed.is_none(), "{origin:?} was allowed"),
            }
            assert!(response.headers()[header::VARY].to_str().unwrap().contains("origin"));
        }
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 5);
        // A preflight is answered by CORS alone.
        let preflight = Request::builder()
            .method(Method::OPTIONS)
            .uri("/api/plans")
            .header(header::ORIGIN, app)
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "GET")
            .body(Body::empty())
            .unwrap();
        let response = service.ready().await.unwrap().call(preflight).await.unwrap();
        assert_eq!(response.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], app);
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 5);
    }

    #[test]
    fn a_caller_request_id_is_kept_only_when_it_is_a_plain_short_token() {
        assert!(plain_token(&HeaderValue::from_static("3f2c-AB_01.x")));
        assert!(!plain_token(&HeaderValue::from_static("")));
        assert!(!plain_token(&HeaderValue::from_static("a b")));
        assert!(!plain_token(&HeaderValue::from_static("id\"}; drop")));
        assert!(!plain_token(&HeaderValue::from_str(&"a".repeat(65)).unwrap()));
        assert!(plain_token(&new_request_id()));
    }

    #[test]
    fn one_label_set_gets_one_handle_and_another_its_own() {
        let a = RouteMetrics::of(&Method::GET, "/api/me", 200);
        let again = RouteMetrics::of(&Method::GET, "/api/me", 200);
        assert!(std::ptr::eq(a, again));
        // Another thread finds the same handles (one registration for the process).
        let elsewhere =
            std::thread::spawn(|| RouteMetrics::of(&Method::GET, "/api/me", 200) as *const RouteMetrics as usize)
                .join()
                .unwrap();
        assert_eq!(elsewhere, a as *const RouteMetrics as usize);
        for other in [
            RouteMetrics::of(&Method::POST, "/api/me", 200),
            RouteMetrics::of(&Method::GET, "/api/me", 404),
            RouteMetrics::of(&Method::GET, "/api/plans", 200),
        ] {
            assert!(!std::ptr::eq(a, other));
        }
    }

    #[test]
    fn methods_outside_the_standard_ones_share_one_label() {
        let made_up = |name: &str| Method::from_bytes(name.as_bytes()).unwrap();
        let first = RouteMetrics::of(&made_up("FOO1"), "other", 405);
        assert_eq!(first.method, "OTHER");
        assert!(std::ptr::eq(first, RouteMetrics::of(&made_up("BAR2"), "other", 405)));
        assert_eq!(method_label(&Method::PATCH), "PATCH");
    }
}
