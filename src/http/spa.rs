//! Serves the built Mini App (`frontend/dist`): hashed assets cached for a year, `index.html`
//! never cached, and every other client route answered with `index.html` (SPA fallback).
//! Server paths (`/api`, `/ws`, `/webhooks`, `/sim`, `/media`) never fall back to the app.
//! The build writes `<file>.br` and `<file>.gz` next to every text asset; they are served as is
//! to clients that accept them (`Content-Encoding`, `Vary: Accept-Encoding`), so nothing is
//! compressed per request.

use std::convert::Infallible;
use std::path::PathBuf;

use axum::body::Body;
use axum::http::{HeaderValue, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tower::ServiceExt;
use tower::util::BoxCloneSyncService;
use tower_http::services::{ServeDir, ServeFile};

use crate::config::Settings;

const SERVER_PREFIXES: [&str; 6] = ["/api/", "/ws", "/webhooks/", "/sim/", "/media/", "/metrics"];

pub fn service(settings: &Settings) -> BoxCloneSyncService<Request<Body>, Response, Infallible> {
    let dir: PathBuf = settings.file.server.frontend_dir.clone();
    let index = dir.join("index.html");
    let files = ServeDir::new(&dir)
        .precompressed_br()
        .precompressed_gzip()
        .fallback(ServeFile::new(&index).precompressed_br().precompressed_gzip());
    BoxCloneSyncService::new(tower::service_fn(move |request: Request<Body>| {
        let files = files.clone();
        let index_exists = index.exists();
        async move {
            let path = request.uri().path().to_string();
            if SERVER_PREFIXES.iter().any(|p| path.starts_with(p)) {
                return Ok(StatusCode::NOT_FOUND.into_response());
            }
            if !index_exists {
                return Ok(not_built());
            }
            let mut response = match files.oneshot(request).await {
                Ok(r) => r.map(Body::new),
                Err(never) => match never {},
            };
            let cache = if path.starts_with("/assets/") && response.status().is_success() {
                "public, max-age=31536000, immutable"
            } else {
                "no-cache"
            };
            let headers = response.headers_mut();
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
            // The same URL answers in several encodings: caches must key on the request's.
            headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
            Ok(response)
        }
    }))
}

fn not_built() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")],
        "<!doctype html><meta charset=utf-8><title>Primerka</title>\
         <p>The Mini App is not built yet. Run <code>make run</code> (it builds <code>frontend/</code>).</p>",
    )
        .into_response()
}
