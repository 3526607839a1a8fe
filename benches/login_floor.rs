//! The login floor (issue 14): a minimal axum server doing only what a login must — parse the
//! JSON body, check initData's signature and freshness, issue the JWT — with the product's own
//! functions and settings, and nothing else (no database, no limits, no middleware, no cache).
//! `scripts/bench/login.sh` runs it alternately with the product's `POST /api/auth/telegram`,
//! so the product's figure is read against what the hardware allows in the same run.
//!
//! `cargo bench --bench login_floor` serves on `BENCH_FLOOR_PORT` (18092) until killed.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use primerka::auth::{init_data, jwt::JwtKeys};
use primerka::config::Settings;
use primerka::domain::ids::UserId;
use serde::Deserialize;
use serde_json::{Value, json};

struct Floor {
    secret: [u8; 32],
    keys: JwtKeys,
    max_age: i64,
    skew: i64,
}

#[derive(Deserialize)]
struct Body {
    init_data: String,
}

async fn login(State(floor): State<Arc<Floor>>, Json(body): Json<Body>) -> Result<Json<Value>, StatusCode> {
    let now = chrono::Utc::now().timestamp();
    let data = init_data::validate(&body.init_data, &floor.secret, now, floor.max_age, floor.skew)
        .map_err(|_| StatusCode::UNAUTHORIZED)?;
    let (token, claims) = floor.keys.issue(UserId(data.user.id), now, 0);
    Ok(Json(json!({"token": token, "expires_at": claims.exp})))
}

#[tokio::main]
async fn main() {
    // `cargo bench` passes `--bench`; nothing else is read from the command line.
    let env: HashMap<String, String> = HashMap::from([
        ("JWT_SECRET".into(), "bench-secret-bench-secret-bench-secret-00".into()),
        ("APP_ENV".into(), "test".into()),
    ]);
    let settings =
        Settings::from_env(&env, &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config")).expect("settings");
    let token = std::env::var("BENCH_BOT_TOKEN").unwrap_or_else(|_| primerka::config::DEMO_BOT_TOKEN.into());
    let floor = Arc::new(Floor {
        secret: init_data::secret_key(&token),
        keys: JwtKeys::from_settings(&settings),
        max_age: settings.file.auth.init_data_max_age_secs as i64,
        skew: settings.file.auth.init_data_future_skew_secs as i64,
    });
    let port: u16 = std::env::var("BENCH_FLOOR_PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(18092);
    let app = Router::new().route("/api/auth/telegram", post(login)).with_state(floor);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.expect("binding the floor's port");
    eprintln!("login floor on 127.0.0.1:{port}");
    axum::serve(listener, app).await.expect("serving");
}
