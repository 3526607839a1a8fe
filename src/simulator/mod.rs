//! Loopback stand-ins for the providers (DESIGN.md §7), serving the same endpoints as the
//! real services so the real clients talk HTTP to them: in demo mode (mounted in the app under
//! `/sim/`), in tests and in load tests (in-process or the standalone `primerka-sim`).
//! Each provider has control calls under `/sim/<provider>/_control/…` to inspect what was
//! received and to inject faults. They (and YooKassa's `/payments/{id}/succeed|cancel`) answer
//! only loopback callers — judged after trusted proxies — or a caller with the bearer token
//! `SIM_CONTROL_TOKEN` ([`ControlAccess`]); the provider endpoints themselves and the
//! simulated checkout page the demo opens in a browser stay open.

pub mod kie;
pub mod openrouter;
pub mod telegram;
pub mod yookassa;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ipnet::IpNet;
use secrecy::SecretString;

/// Shared simulator state; clone freely.
#[derive(Clone)]
pub struct SimState {
    inner: Arc<SimInner>,
}

struct SimInner {
    telegram: telegram::TelegramSim,
    kie: kie::KieSim,
    openrouter: openrouter::OpenRouterSim,
    yookassa: yookassa::YooKassaSim,
    latency_scale: f64,
    control: ControlAccess,
}

/// Who may call the control routes: loopback callers (after `trusted_proxies`) and callers
/// with `Authorization: Bearer <token>`.
#[derive(Debug, Clone, Default)]
pub struct ControlAccess {
    pub token: Option<SecretString>,
    pub trusted_proxies: Vec<IpNet>,
}

impl ControlAccess {
    /// `SIM_CONTROL_TOKEN` from the environment; no trusted proxies.
    pub fn from_env() -> Self {
        let token = std::env::var("SIM_CONTROL_TOKEN").ok().filter(|t| !t.trim().is_empty()).map(SecretString::from);
        ControlAccess { token, trusted_proxies: Vec::new() }
    }
}

/// How to build a simulator.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// If set, Bot API calls must use this token (like Telegram's 401 for a wrong one).
    pub bot_token: Option<String>,
    /// Multiplies simulated latencies (1.0 = realistic seconds; tests use ~0.01).
    pub latency_scale: f64,
    pub control: ControlAccess,
}

impl SimState {
    pub fn new(config: SimConfig) -> Self {
        SimState {
            inner: Arc::new(SimInner {
                telegram: telegram::TelegramSim::new(config.bot_token),
                kie: kie::KieSim::default(),
                openrouter: openrouter::OpenRouterSim::default(),
                yookassa: yookassa::YooKassaSim::default(),
                latency_scale: config.latency_scale,
                control: config.control,
            }),
        }
    }

    pub fn telegram(&self) -> &telegram::TelegramSim {
        &self.inner.telegram
    }

    pub fn kie(&self) -> &kie::KieSim {
        &self.inner.kie
    }

    pub fn openrouter(&self) -> &openrouter::OpenRouterSim {
        &self.inner.openrouter
    }

    pub fn yookassa(&self) -> &yookassa::YooKassaSim {
        &self.inner.yookassa
    }

    pub fn latency_scale(&self) -> f64 {
        self.inner.latency_scale
    }
}

/// All simulated providers; mount under `/sim`.
pub fn router(state: SimState) -> Router {
    let control = state.inner.control.clone();
    Router::new()
        .nest("/telegram", telegram::router(state.clone()))
        .nest("/kie", kie::router(state.clone()))
        .nest("/openrouter", openrouter::router(state.clone()))
        .nest("/yookassa", yookassa::router(state.clone()))
        .layer(axum::middleware::from_fn(move |request: Request, next: Next| {
            let control = control.clone();
            async move { guard_control(&control, request, next).await }
        }))
}

/// Whether `path` (inside the simulator) is a control route.
pub fn is_control_path(path: &str) -> bool {
    path.contains("/_control/")
        || path.ends_with("/_control")
        || (path.contains("/yookassa/payments/") && (path.ends_with("/succeed") || path.ends_with("/cancel")))
}

async fn guard_control(control: &ControlAccess, request: Request, next: Next) -> Response {
    if is_control_path(request.uri().path()) {
        let peer = crate::http::peer_addr(request.extensions());
        let allowed = crate::http::access::internal_caller(
            request.headers(),
            peer,
            &control.trusted_proxies,
            control.token.as_ref(),
            true,
        );
        if !allowed {
            let body = serde_json::json!({
                "ok": false,
                "description": "simulator control routes answer loopback callers or SIM_CONTROL_TOKEN only"
            });
            return (StatusCode::FORBIDDEN, axum::Json(body)).into_response();
        }
    }
    next.run(request).await
}

/// Serves the simulator alone on `addr` (port 0 picks one); returns the bound address and the
/// server task. Used by `primerka-sim` and by tests that must outlive the app process.
pub async fn serve(addr: SocketAddr, state: SimState) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let app = Router::new().nest("/sim", router(state));
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await {
            tracing::error!(error = %e, "simulator server stopped");
        }
    });
    Ok((local, task))
}
