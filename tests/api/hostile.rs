//! Hostile text at every JSON endpoint (issue 15, finding 4): arbitrary Unicode — NUL, control
//! and direction marks, lone-surrogate escapes, 100 KB strings — in every string field a client
//! sends. Every answer is 2xx or 4xx, the ledger stays clean, and no paid provider call happens
//! without a charge (the assistant is asked only for a reserved credit, kie.ai only for a held
//! generation).

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};

/// Strings an attacker would try, plus arbitrary Unicode.
fn hostile() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => any::<String>(),
        1 => Just("x \u{0}".to_string()),
        1 => Just("\u{0}".to_string()),
        1 => Just("\u{202e}\u{2066}evil\u{200b}".to_string()),
        1 => Just("a".repeat(100_000)),
        1 => Just("\u{feff}\r\n\t ".to_string()),
        1 => "[\\PC]{1,40}".prop_map(|s| s),
        1 => Just("'; drop table users; --".to_string()),
        1 => Just("../../etc/passwd".to_string()),
    ]
}

/// Raw JSON bodies serde would refuse or that Rust strings cannot hold (a lone surrogate).
const RAW_BODIES: &[&str] =
    &[r#"{"text":"\ud800"}"#, r#"{"text":"\udfff x"}"#, r#"{"text":"ok","extra":"\u0000"}"#, "{\"text\":", "\u{0}"];

async fn send(app: &TestApp, method: reqwest::Method, path: &str, token: Option<&str>, body: &Value) -> StatusCode {
    let mut request = app.client.request(method, app.url(path)).json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("request").status()
}

fn assert_handled(status: StatusCode, what: &str, input: &str) {
    let shown: String = input.chars().take(60).collect();
    assert!(
        status.is_success() || status.is_client_error(),
        "{what} answered {status} for {shown:?} ({} chars)",
        input.chars().count()
    );
}

#[tokio::test]
async fn arbitrary_text_at_every_json_endpoint_is_answered_without_a_500_or_a_free_call() {
    let app = spawn_app().await;
    let user = 1_900_000_000 + i64::from(rand::random::<u16>());
    let token = app.login(user).await;
    let admin = app.login(1).await;
    app.attach_photo(&token).await;
    let person = app.upload_photo(&token).await;
    let garment = app.upload_photo(&token).await;
    let first = app.post_chat_message(&token, "сделай фон пляжем").await;
    assert_eq!(first.status(), StatusCode::OK);
    let answer: Value = first.json().await.unwrap();
    let variant = answer["variants"][0]["id"].as_str().unwrap().to_string();

    for raw in RAW_BODIES {
        for path in ["/api/chat/messages", "/api/tryon", "/api/payments", "/api/me/ledger", "/api/me/consents"] {
            let status = app
                .client
                .post(app.url(path))
                .bearer_auth(&token)
                .header("content-type", "application/json")
                .body(raw.to_string())
                .send()
                .await
                .unwrap()
                .status();
            assert_handled(status, path, raw);
        }
    }

    let mut runner = TestRunner::new(Config { cases: 40, ..Config::default() });
    let strategy = hostile();
    for _ in 0..40 {
        let s = strategy.new_tree(&mut runner).expect("a value").current();
        let post = reqwest::Method::POST;
        let checks: Vec<(&str, StatusCode)> = vec![
            ("login", send(&app, post.clone(), "/api/auth/telegram", None, &json!({"init_data": s})).await),
            (
                "dev-login",
                send(&app, post.clone(), "/api/auth/dev-login", None,
                    &json!({"telegram_id": user + 1, "first_name": s, "last_name": s, "username": s, "language_code": s})).await,
            ),
            ("language", send(&app, reqwest::Method::PATCH, "/api/me", Some(&token), &json!({"language_code": s})).await),
            ("chat", send(&app, post.clone(), "/api/chat/messages", Some(&token), &json!({"text": s})).await),
            (
                "variant",
                send(&app, post.clone(), &format!("/api/chat/variants/{variant}/generate"), Some(&token), &json!({"prompt": s}))
                    .await,
            ),
            ("current", send(&app, post.clone(), "/api/chat/current", Some(&token), &json!({"upload_id": s})).await),
            (
                "tryon",
                send(&app, post.clone(), "/api/tryon", Some(&token),
                    &json!({"person_upload_id": person, "garment_upload_ids": [garment], "category": s})).await,
            ),
            (
                "payment",
                send(&app, post.clone(), "/api/payments", Some(&token),
                    &json!({"product": s, "method": s, "confirmation": s})).await,
            ),
            (
                "grant",
                send(&app, post.clone(), &format!("/api/admin/users/{user}/grant"), Some(&admin),
                    &json!({"credits": 1, "reason": s, "key": s})).await,
            ),
            (
                "refund",
                send(&app, post.clone(), &format!("/api/admin/payments/{}/refund", uuid::Uuid::new_v4()), Some(&admin),
                    &json!({"reason": s})).await,
            ),
            ("promo redeem", send(&app, post.clone(), "/api/promo/redeem", Some(&token), &json!({"code": s})).await),
            (
                "promo create",
                send(&app, post.clone(), "/api/admin/promo", Some(&admin),
                    &json!({"code": s, "credits": 1, "max_uses": 1, "product": s})).await,
            ),
            ("consent", send(&app, post.clone(), "/api/me/consents", Some(&token), &json!({"kind": s, "version": s})).await),
            ("email", send(&app, reqwest::Method::PUT, "/api/me/contact", Some(&token), &json!({"email": s})).await),
            ("phone", send(&app, reqwest::Method::PUT, "/api/me/contact", Some(&token), &json!({"phone": s})).await),
            ("npd-cap", send(&app, post.clone(), "/api/admin/npd-cap", Some(&admin), &json!({"cap_rub": s})).await),
        ];
        for (what, status) in checks {
            assert_handled(status, what, &s);
        }
        // Names Telegram sends, correctly signed, reach the login and the users table.
        let names = json!({"id": user + 2, "first_name": s, "last_name": s, "username": s, "language_code": s});
        let init_data =
            primerka::auth::init_data::sign_for_user(&names, chrono::Utc::now().timestamp(), &app.init_secret);
        assert_handled(app.post_login(&init_data).await.status(), "login with hostile names", &s);
        // An invitation parameter Telegram passes through as the link had it.
        let invited = primerka::auth::init_data::sign(
            &[
                ("auth_date", chrono::Utc::now().timestamp().to_string()),
                ("start_param", format!("ref_{s}")),
                ("user", json!({"id": user + 3, "first_name": "x"}).to_string()),
            ],
            &app.init_secret,
        );
        assert_handled(app.post_login(&invited).await.status(), "login with a hostile start_param", &s);
        let short: String = s.chars().take(300).collect();
        let encoded: String = form_urlencoded::byte_serialize(short.as_bytes()).collect();
        for path in [
            format!("/api/generations?cursor={encoded}"),
            format!("/api/me/ledger?cursor={encoded}"),
            format!("/api/admin/revenue?from={encoded}&to=2026-01-01"),
        ] {
            let status = app.client.get(app.url(&path)).bearer_auth(&admin).send().await.unwrap().status();
            assert_handled(status, &path, &s);
        }
        let update = json!({"update_id": 1, "message": {"message_id": 1, "chat": {"id": user, "type": "private"},
            "from": {"id": user, "is_bot": false, "language_code": s}, "text": s}});
        assert_handled(app.telegram_update(&update).await, "bot update", &s);
    }

    assert!(app.ledger_differences().await.is_empty(), "the ledger stays clean");
    // No paid call without a charge: every assistant call belongs to a reserved chat credit, every
    // kie.ai task to a held generation.
    let (chat_holds, generation_holds): (i64, i64) = sqlx::query_as(
        "select count(*) filter (where purpose = 'chat_message'), count(*) filter (where generation_id is not null)
         from holds",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let assistant_calls: Vec<Value> =
        app.client.get(app.url("/sim/openrouter/_control/requests")).send().await.unwrap().json().await.unwrap();
    // A charged turn may call the assistant up to max_attempts times plus one repair.
    let per_turn = i64::from(app.settings.file.chat.max_attempts + 1);
    assert!(
        assistant_calls.len() as i64 <= chat_holds * per_turn,
        "{} assistant calls for {chat_holds} reserved chat credits",
        assistant_calls.len()
    );
    let creates = app.kie_stats().await["creates"].as_i64().unwrap_or(0);
    assert!(creates <= generation_holds, "kie.ai tasks ({creates}) ≤ held generations ({generation_holds})");
}
