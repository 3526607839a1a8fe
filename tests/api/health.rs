use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{new_user_id, spawn_app};

#[tokio::test]
async fn liveness_readiness_and_metrics_answer() {
    let app = spawn_app().await;

    assert_eq!(app.client.get(app.url("/healthz")).send().await.unwrap().status(), StatusCode::OK);
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["database"], true);
    assert_eq!(body["dead_actors"], serde_json::json!([]));

    app.login(new_user_id()).await;
    let metrics = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("primerka_http_requests_total"), "{metrics}");
    assert!(metrics.contains("primerka_sessions_live"));
}

#[tokio::test]
async fn made_up_methods_cannot_mint_metric_label_sets() {
    let app = spawn_app().await;
    for i in 0..20 {
        let method = reqwest::Method::from_bytes(format!("BREW{i}").as_bytes()).unwrap();
        let response = app.client.request(method, app.url("/api/me")).send().await.unwrap();
        assert!(response.status().is_client_error(), "{}", response.status());
    }
    let metrics = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(!metrics.contains("BREW"), "a caller's method became a label");
    assert!(metrics.contains("method=\"OTHER\""), "{metrics}");
}

#[tokio::test]
async fn unknown_api_paths_get_a_json_404_and_a_request_id() {
    let app = spawn_app().await;
    let response = app.client.get(app.url("/api/nope")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let request_id = response.headers().get("x-request-id").unwrap().to_str().unwrap().to_string();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_found");
    assert_eq!(body["error"]["request_id"], request_id);
}

#[tokio::test]
async fn oversized_bodies_are_refused() {
    let app = spawn_app().await;
    let huge = format!("{{\"init_data\": \"{}\"}}", "a".repeat(200_000));
    let response = app
        .client
        .post(app.url("/api/auth/telegram"))
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn every_answer_carries_a_request_id_the_api_policy_and_cors_only_for_its_origin() {
    let app = spawn_app().await;
    let get = |request_id: &'static str| {
        app.client.get(app.url("/api/tryon/categories")).header("x-request-id", request_id).send()
    };
    let kept = get("trace-42.a").await.unwrap();
    assert_eq!(kept.status(), StatusCode::OK);
    assert_eq!(kept.headers()["x-request-id"], "trace-42.a", "a plain caller id is kept");
    assert_eq!(kept.headers()["content-security-policy"], "default-src 'none'; frame-ancestors 'none'");
    assert_eq!(kept.headers()["x-content-type-options"], "nosniff");
    assert_eq!(kept.headers()["referrer-policy"], "same-origin");
    assert!(kept.headers()["vary"].to_str().unwrap().contains("origin"));
    assert!(kept.headers().get("access-control-allow-origin").is_none(), "no Origin, no CORS answer");

    let replaced = get("x\"}, \"forged\": \"1").await.unwrap();
    let id = replaced.headers()["x-request-id"].to_str().unwrap();
    assert_eq!(id.len(), 36, "anything but a plain token is replaced by a new id: {id}");

    let from_the_app = app
        .client
        .get(app.url("/api/tryon/categories"))
        .header("origin", app.settings.public_base_url.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(
        from_the_app.headers().get("access-control-allow-origin").map(|v| v.to_str().unwrap().to_string()),
        Some(app.settings.public_base_url.clone())
    );
}

#[tokio::test]
async fn cors_allows_only_the_configured_origin() {
    let app = spawn_app().await;
    let allowed = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/api/me"))
        .header("origin", app.settings.public_base_url.clone())
        .header("access-control-request-method", "GET")
        .send()
        .await
        .unwrap();
    assert_eq!(
        allowed.headers().get("access-control-allow-origin").map(|v| v.to_str().unwrap().to_string()),
        Some(app.settings.public_base_url.clone())
    );
    let other = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/api/me"))
        .header("origin", "https://evil.example")
        .header("access-control-request-method", "GET")
        .send()
        .await
        .unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none_or(|v| v != "https://evil.example"));
}
