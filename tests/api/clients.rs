//! Each provider client against a `wiremock` server: one attempt per call, the request as the
//! contract says, and every failure mapped to the class its caller decides retries on
//! (`is_retryable`). Clients are built exactly as the app builds them (`from_settings`), pointed at
//! the mock through the configured base URL with the simulator off.

use std::sync::Arc;
use std::time::Duration;

use primerka::clients::kie::{KieClient, KieError, TaskState};
use primerka::clients::openrouter::{OpenRouterClient, OpenRouterError};
use primerka::clients::telegram::{TelegramClient, TelegramError};
use primerka::clients::yookassa::{NewPayment, NewRefund, YooKassaClient, YooKassaError};
use primerka::config::Settings;
use primerka::domain::legal::Contact;
use serde_json::json;
use wiremock::matchers::{body_partial_json, header, header_exists, method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// Settings with real-looking keys, the simulator off, every provider at `base` and 1 s timeouts.
fn settings(base: &str) -> Arc<Settings> {
    let mut env = crate::helpers::test_env("unused", std::path::Path::new("/tmp"));
    for (k, v) in [
        ("SIMULATOR", "0"),
        ("KIE_API_KEY", "kie-test-key"),
        ("OPENROUTER_API_KEY", "or-test-key"),
        ("YOOKASSA_SHOP_ID", "123456"),
        ("YOOKASSA_SECRET_KEY", "test_secret"),
        ("APP__KIE__API_BASE_URL", base),
        ("APP__KIE__REQUEST_TIMEOUT_SECS", "1"),
        ("APP__OPENROUTER__API_BASE_URL", base),
        ("APP__OPENROUTER__REQUEST_TIMEOUT_SECS", "1"),
        ("APP__YOOKASSA__API_BASE_URL", base),
        ("APP__YOOKASSA__REQUEST_TIMEOUT_SECS", "1"),
        ("APP__TELEGRAM__API_BASE_URL", base),
        ("APP__TELEGRAM__REQUEST_TIMEOUT_SECS", "1"),
    ] {
        env.insert(k.into(), v.into());
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    Arc::new(Settings::from_env(&env, &dir).expect("settings"))
}

const OWN: &str = "http://127.0.0.1:1";

#[tokio::test]
async fn kie_maps_each_failure_to_whether_a_retry_is_safe() {
    let server = MockServer::start().await;
    let kie = KieClient::from_settings(&settings(&server.uri()), OWN);
    Mock::given(method("POST"))
        .and(path("/api/v1/jobs/createTask"))
        .and(header("authorization", "Bearer kie-test-key"))
        .and(body_partial_json(json!({"model": "google/nano-banana-edit"})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"code": 200, "data": {"taskId": "t-1"}})))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    let task = kie.create_task("a prompt", &["https://x/in.jpg".into()], "3:4", "https://cb").await.unwrap();
    assert_eq!(task, "t-1");

    let cases = [
        (ResponseTemplate::new(429).set_body_json(json!({"code": 429, "msg": "slow down"})), "429 status"),
        (ResponseTemplate::new(200).set_body_json(json!({"code": 429, "msg": "slow down"})), "429 in the body"),
        (ResponseTemplate::new(200).set_body_json(json!({"code": 455, "msg": "maintenance"})), "455"),
        (ResponseTemplate::new(200).set_body_json(json!({"code": 402, "msg": "no credits"})), "402"),
        (ResponseTemplate::new(200).set_body_json(json!({"code": 422, "msg": "flagged"})), "422"),
        (ResponseTemplate::new(200).set_body_string("not json"), "garbage"),
    ];
    let mut kinds = Vec::new();
    for (answer, name) in cases {
        server.reset().await;
        Mock::given(method("POST"))
            .and(path("/api/v1/jobs/createTask"))
            .respond_with(answer)
            .expect(1)
            .mount(&server)
            .await;
        let err = kie.create_task("p", &[], "3:4", "https://cb").await.expect_err(name);
        kinds.push((name, err.is_retryable(), err));
    }
    assert!(matches!(kinds[0].2, KieError::RateLimited) && kinds[0].1, "{:?}", kinds[0]);
    assert!(matches!(kinds[1].2, KieError::RateLimited) && kinds[1].1, "{:?}", kinds[1]);
    assert!(matches!(kinds[2].2, KieError::Unavailable(455)) && kinds[2].1, "{:?}", kinds[2]);
    assert!(matches!(kinds[3].2, KieError::Refused { code: 402, .. }) && !kinds[3].1, "{:?}", kinds[3]);
    assert!(matches!(kinds[4].2, KieError::Refused { code: 422, .. }) && !kinds[4].1, "{:?}", kinds[4]);
    assert!(matches!(kinds[5].2, KieError::Decode(_)) && !kinds[5].1, "{:?}", kinds[5]);

    // A createTask that never answers may have created a (billed) task: never retried.
    server.reset().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/jobs/createTask"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(3)))
        .mount(&server)
        .await;
    let err = kie.create_task("p", &[], "3:4", "https://cb").await.expect_err("timeout");
    assert!(matches!(err, KieError::NoAnswer) && !err.is_retryable(), "{err:?}");

    // recordInfo: states, and a 5xx on a read is worth another try.
    server.reset().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/jobs/recordInfo"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"code": 200, "data": {"taskId": "t-1",
            "state": "success", "resultJson": "{\"resultUrls\":[\"https://r/1.jpg\"]}"}})))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/jobs/recordInfo"))
        .respond_with(ResponseTemplate::new(500).set_body_json(json!({"code": 500, "msg": "oops"})))
        .mount(&server)
        .await;
    assert_eq!(
        kie.record_info("t-1").await.unwrap(),
        TaskState::Success { result_urls: vec!["https://r/1.jpg".into()] }
    );
    let err = kie.record_info("t-1").await.expect_err("5xx");
    assert!(err.is_retryable(), "{err:?}");
}

#[tokio::test]
async fn openrouter_sends_the_schema_and_classifies_failures() {
    let server = MockServer::start().await;
    let client = OpenRouterClient::from_settings(&settings(&server.uri()), OWN);
    let messages = vec![json!({"role": "system", "content": "s"}), json!({"role": "user", "content": "u"})];
    let schema = json!({"type": "object"});
    Mock::given(method("POST"))
        .and(path("/chat/completions"))
        .and(header("authorization", "Bearer or-test-key"))
        .and(header_exists("http-referer"))
        .and(body_partial_json(json!({"provider": {"require_parameters": true},
            "response_format": {"type": "json_schema", "json_schema": {"strict": true}}})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "gen-1", "provider": "Anthropic",
            "choices": [{"finish_reason": "stop", "message": {"content": "{\"ok\":true}"}}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "cost": 0.001}})))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    let done = client.complete(&messages, "x", &schema, 100, true).await.unwrap();
    assert_eq!((done.id.as_str(), done.content.as_str(), done.prompt_tokens), ("gen-1", "{\"ok\":true}", 10));

    let cases = [
        (
            ResponseTemplate::new(429)
                .insert_header("retry-after", "3")
                .set_body_json(json!({"error": {"code": 429, "message": "rl"}})),
            "429",
        ),
        (ResponseTemplate::new(502).set_body_string("bad gateway"), "502"),
        (ResponseTemplate::new(403).set_body_json(json!({"error": {"code": 403, "message": "flagged"}})), "403"),
        (ResponseTemplate::new(503).set_body_json(json!({"error": {"code": 503, "message": "no provider"}})), "503"),
        (ResponseTemplate::new(401).set_body_json(json!({"error": {"code": 401, "message": "bad key"}})), "401"),
        (
            ResponseTemplate::new(200).set_body_json(json!({"error": {"code": 500, "message": "mid-stream"}})),
            "error in 200",
        ),
        (
            ResponseTemplate::new(200)
                .set_body_json(json!({"choices": [{"finish_reason": "stop", "message": {"content": " "}}]})),
            "empty",
        ),
    ];
    let mut got = Vec::new();
    for (answer, name) in cases {
        server.reset().await;
        Mock::given(method("POST")).and(path("/chat/completions")).respond_with(answer).expect(1).mount(&server).await;
        got.push((name, client.complete(&messages, "x", &schema, 100, true).await.expect_err(name)));
    }
    assert!(matches!(&got[0].1, OpenRouterError::Transient(_, Some(d)) if *d == Duration::from_secs(3)), "{got:?}");
    assert!(matches!(&got[1].1, OpenRouterError::Transient(..)), "{got:?}");
    assert!(matches!(&got[2].1, OpenRouterError::Moderated(_)) && !got[2].1.is_retryable(), "{got:?}");
    assert!(matches!(&got[3].1, OpenRouterError::Unroutable(_)) && got[3].1.is_retryable(), "{got:?}");
    assert!(matches!(&got[4].1, OpenRouterError::Refused(401, _)) && !got[4].1.is_retryable(), "{got:?}");
    assert!(matches!(&got[5].1, OpenRouterError::Transient(..)), "{got:?}");
    assert!(matches!(&got[6].1, OpenRouterError::Transient(..)), "{got:?}");

    // Without structured output (after a 503) the schema travels in a system message.
    server.reset().await;
    Mock::given(method("POST"))
        .and(path("/chat/completions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "gen-2",
            "choices": [{"finish_reason": "stop", "message": {"content": "{}"}}]})))
        .expect(1)
        .mount(&server)
        .await;
    client.complete(&messages, "x", &schema, 100, false).await.unwrap();
    let sent: serde_json::Value = server.received_requests().await.unwrap()[0].body_json().unwrap();
    assert!(sent.get("response_format").is_none());
    assert!(sent["messages"][1]["content"].as_str().unwrap().contains("JSON schema"));

    // A slow provider is a transient failure, not a hang.
    server.reset().await;
    Mock::given(method("POST"))
        .and(path("/chat/completions"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(3)))
        .mount(&server)
        .await;
    let err = client.complete(&messages, "x", &schema, 100, true).await.expect_err("slow");
    assert!(err.is_retryable(), "{err:?}");
}

#[tokio::test]
async fn yookassa_sends_an_idempotence_key_and_maps_failures() {
    let server = MockServer::start().await;
    let client = YooKassaClient::from_settings(&settings(&server.uri()), OWN);
    let payment = json!({"id": "2d8a0000-000f-5000-8000-1a2b3c4d5e6f", "status": "succeeded", "paid": true,
        "amount": {"value": "199.00", "currency": "RUB"}, "metadata": {"order_id": "o-1"}});
    Mock::given(method("GET"))
        .and(path_regex("^/payments/[0-9a-f-]+$"))
        .and(header("authorization", "Basic MTIzNDU2OnRlc3Rfc2VjcmV0"))
        .respond_with(ResponseTemplate::new(200).set_body_json(payment.clone()))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    let fetched = client.get_payment("2d8a0000-000f-5000-8000-1a2b3c4d5e6f").await.unwrap();
    assert_eq!((fetched.amount_kopecks, fetched.paid), (19900, true));
    assert!(
        matches!(client.get_payment("../../v3/refunds").await, Err(YooKassaError::Decode(_))),
        "a malformed id never reaches the API"
    );

    // The refund carries the receipt to the contact the payment's receipt went to.
    Mock::given(method("POST"))
        .and(path("/refunds"))
        .and(header("idempotence-key", "refund:o-1"))
        .and(body_partial_json(json!({"payment_id": "2d8a", "amount": {"value": "199.00", "currency": "RUB"},
            "receipt": {"customer": {"email": "a@b.ru"}, "items": [{"amount": {"value": "199.00"}, "vat_code": 1}]}})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "r-1", "status": "succeeded"})))
        .expect(1)
        .mount(&server)
        .await;
    let customer = json!({"email": "a@b.ru"});
    let refund = NewRefund {
        payment_id: "2d8a",
        amount_kopecks: 19900,
        description: "because",
        receipt_item: "100 кредитов — Примерка",
        customer: Some(&customer),
    };
    let refunded = client.refund(&refund, "refund:o-1").await.unwrap();
    assert_eq!((refunded.id.as_str(), refunded.status.as_str()), ("r-1", "succeeded"));

    // Every payment request carries the receipt with the buyer's contact (НПД mode: no tax system).
    Mock::given(method("POST"))
        .and(path("/payments"))
        .and(header("idempotence-key", "o-2"))
        .and(body_partial_json(json!({"amount": {"value": "299.00"}, "receipt": {"customer": {"phone": "79001234567"},
            "items": [{"quantity": "1.00", "amount": {"value": "299.00", "currency": "RUB"}, "vat_code": 1}]}})))
        .respond_with(ResponseTemplate::new(200).set_body_json(payment.clone()))
        .expect(1)
        .mount(&server)
        .await;
    let phone = Contact::Phone("79001234567".into());
    let new = NewPayment {
        customer: &phone,
        amount_kopecks: 29900,
        description: "Базовый — продление подписки",
        return_url: "",
        order_id: "o-2",
        user_id: 5,
        receipt_item: "Базовый — продление подписки",
        save_payment_method: false,
        embedded: false,
    };
    client.charge_saved(&new, "pm-1", "o-2").await.expect("charged");

    for (status, transient) in [(429u16, true), (500, true), (400, false), (401, false)] {
        server.reset().await;
        Mock::given(method("GET"))
            .and(path_regex("^/payments/"))
            .respond_with(ResponseTemplate::new(status).set_body_json(json!({"type": "error",
                "code": "invalid_request", "description": "no"})))
            .expect(1)
            .mount(&server)
            .await;
        let err = client.get_payment("2d8a").await.expect_err("an error");
        assert_eq!(matches!(err, YooKassaError::Transient(_)), transient, "HTTP {status}: {err:?}");
    }
    server.reset().await;
    Mock::given(method("GET"))
        .and(path_regex("^/payments/"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(3)))
        .mount(&server)
        .await;
    assert!(matches!(client.get_payment("2d8a").await, Err(YooKassaError::Transient(_))), "a timeout is transient");
}

#[tokio::test]
async fn telegram_maps_rate_limits_blocks_and_never_leaks_the_token() {
    let server = MockServer::start().await;
    let settings = settings(&server.uri());
    let client = TelegramClient::from_settings(&settings, OWN);
    Mock::given(method("POST"))
        .and(path_regex("^/bot[^/]+/sendMessage$"))
        .respond_with(ResponseTemplate::new(429).set_body_json(json!({"ok": false, "error_code": 429,
            "description": "Too Many Requests: retry after 7", "parameters": {"retry_after": 7}})))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path_regex("^/bot[^/]+/sendMessage$"))
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({"ok": false, "error_code": 403,
            "description": "Forbidden: bot was blocked by the user"})))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path_regex("^/bot[^/]+/sendMessage$"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"ok": true, "result": {"message_id": 5}})))
        .mount(&server)
        .await;
    let err = client.send_message(1, "hi", None).await.expect_err("429");
    assert!(matches!(err, TelegramError::RateLimited { retry_after: 7 }) && err.is_retryable(), "{err:?}");
    let err = client.send_message(1, "hi", None).await.expect_err("403");
    assert!(matches!(err, TelegramError::Forbidden(_)) && !err.is_retryable(), "{err:?}");
    client.send_message(1, "hi", None).await.expect("then sent");

    // A connection error never carries the URL (it contains the bot token).
    let unreachable = TelegramClient::from_settings(&self::settings("http://127.0.0.1:9"), OWN);
    let err = unreachable.send_message(1, "hi", None).await.expect_err("unreachable");
    use secrecy::ExposeSecret;
    let token = settings.secrets.telegram_bot_token.expose_secret().to_string();
    assert!(!err.to_string().contains(&token), "the error names no token: {err}");
    assert!(err.is_retryable());
}
