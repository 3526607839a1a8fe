use base64::Engine;
use primerka::auth::init_data;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{JWT_SECRET, new_user_id, spawn_app, spawn_app_with};

#[tokio::test]
async fn valid_init_data_logs_in_and_creates_the_user() {
    let app = spawn_app().await;
    let id = new_user_id();

    let response = app.post_login(&app.init_data_for(id)).await;

    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().contains_key("x-request-id"), "every response carries a request id");
    let body: Value = response.json().await.unwrap();
    assert!(body["token"].as_str().is_some_and(|t| t.split('.').count() == 3), "a JWT: {body}");
    assert_eq!(body["user"]["id"], id);
    assert_eq!(body["user"]["first_name"], "Тест");
    assert!(body["expires_at"].is_string());
    assert_eq!(app.user_rows(id).await, 1);
}

/// Each bad login must be refused with its stable code, and write no user row.
#[tokio::test]
async fn bad_init_data_is_refused_with_a_stable_code_and_writes_nothing() {
    let app = spawn_app().await;
    let now = chrono::Utc::now().timestamp();
    let user = |id: i64| json!({"id": id, "first_name": "Eve"});
    let other_bot = init_data::secret_key("999999:ANOTHER-BOT");

    let mut cases: Vec<(&str, i64, Option<String>, StatusCode, &str)> = Vec::new();
    let id = new_user_id();
    let valid = init_data::sign_for_user(&user(id), now, &app.init_secret);
    cases.push((
        "tampered field",
        id,
        Some(valid.replace("Eve", "Mallory")),
        StatusCode::UNAUTHORIZED,
        "init_data_hash_invalid",
    ));
    let id = new_user_id();
    let valid = init_data::sign_for_user(&user(id), now, &app.init_secret);
    let wrong_hash = format!("{}&hash={}", valid.split("&hash=").next().unwrap(), "0".repeat(64));
    cases.push(("wrong hash", id, Some(wrong_hash), StatusCode::UNAUTHORIZED, "init_data_hash_invalid"));
    let id = new_user_id();
    let valid = init_data::sign_for_user(&user(id), now, &app.init_secret);
    cases.push((
        "missing hash",
        id,
        Some(valid.split("&hash=").next().unwrap().to_string()),
        StatusCode::UNAUTHORIZED,
        "init_data_hash_missing",
    ));
    let id = new_user_id();
    cases.push((
        "stale auth_date",
        id,
        Some(init_data::sign_for_user(&user(id), now - 86_400 - 10, &app.init_secret)),
        StatusCode::UNAUTHORIZED,
        "init_data_expired",
    ));
    let id = new_user_id();
    cases.push((
        "future auth_date",
        id,
        Some(init_data::sign_for_user(&user(id), now + 3_600, &app.init_secret)),
        StatusCode::UNAUTHORIZED,
        "init_data_from_future",
    ));
    let id = new_user_id();
    cases.push((
        "another bot's token",
        id,
        Some(init_data::sign_for_user(&user(id), now, &other_bot)),
        StatusCode::UNAUTHORIZED,
        "init_data_hash_invalid",
    ));
    let id = new_user_id();
    let malformed_user = init_data::sign(
        &[("auth_date", now.to_string()), ("user", format!("{{\"id\":{id},\"first_name\":"))],
        &app.init_secret,
    );
    cases.push(("malformed user JSON", id, Some(malformed_user), StatusCode::BAD_REQUEST, "init_data_user_invalid"));
    let id = new_user_id();
    let no_user = init_data::sign(&[("auth_date", now.to_string()), ("query_id", "x".into())], &app.init_secret);
    cases.push(("no user", id, Some(no_user), StatusCode::BAD_REQUEST, "init_data_user_invalid"));
    cases.push(("empty init_data", new_user_id(), Some(String::new()), StatusCode::BAD_REQUEST, "invalid_body"));

    for (name, id, init, status, code) in cases {
        let response = app.post_login(init.as_deref().unwrap()).await;
        assert_eq!(response.status(), status, "{name}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], code, "{name}: {body}");
        assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{name}: localised message");
        assert_eq!(app.user_rows(id).await, 0, "{name}: no user row");
    }

    // Bodies that are not the expected JSON.
    for (name, body) in [("empty body", ""), ("not JSON", "init_data=abc"), ("wrong field", "{\"initData\": \"x\"}")] {
        let response = app
            .client
            .post(app.url("/api/auth/telegram"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{name}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "invalid_body", "{name}");
    }
    let users: i64 = sqlx::query_scalar("select count(*) from users").fetch_one(&app.pool).await.unwrap();
    assert_eq!(users, 0, "no bad login wrote a user");
}

fn encode_jwt(header: &Value, claims: &Value, secret: &[u8]) -> String {
    use hmac::Mac;
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let signing_input = format!("{}.{}", b64(header), b64(claims));
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret).unwrap();
    mac.update(signing_input.as_bytes());
    let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{signing_input}.{sig}")
}

#[tokio::test]
async fn expired_foreign_and_unsigned_tokens_are_refused() {
    let app = spawn_app().await;
    let id = new_user_id();
    app.login(id).await;
    let now = chrono::Utc::now().timestamp();
    let claims = |exp: i64| json!({"sub": id.to_string(), "iss": "primerka", "aud": "primerka-miniapp", "iat": now - 10, "exp": exp});
    let hs256 = json!({"alg": "HS256", "typ": "JWT"});

    let good = encode_jwt(&hs256, &claims(now + 600), JWT_SECRET.as_bytes());
    assert_eq!(app.get("/api/me", &good).await.status(), StatusCode::OK, "a well-formed token works (control)");

    let expired = encode_jwt(&hs256, &claims(now - 60), JWT_SECRET.as_bytes());
    let response = app.get("/api/me", &expired).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.json::<Value>().await.unwrap()["error"]["code"], "token_expired");

    let other_key = encode_jwt(&hs256, &claims(now + 600), b"some-other-secret-that-is-long-enough-xx");
    assert_eq!(app.get("/api/me", &other_key).await.status(), StatusCode::UNAUTHORIZED);

    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let alg_none = format!("{}.{}.", b64(&json!({"alg": "none", "typ": "JWT"})), b64(&claims(now + 600)));
    assert_eq!(app.get("/api/me", &alg_none).await.status(), StatusCode::UNAUTHORIZED);

    let wrong_audience = encode_jwt(
        &hs256,
        &json!({"sub": id.to_string(), "iss": "primerka", "aud": "someone-else", "iat": now, "exp": now + 600}),
        JWT_SECRET.as_bytes(),
    );
    assert_eq!(app.get("/api/me", &wrong_audience).await.status(), StatusCode::UNAUTHORIZED);

    assert_eq!(app.client.get(app.url("/api/me")).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn fifty_concurrent_first_logins_create_exactly_one_user() {
    let app = spawn_app().await;
    let id = new_user_id();
    let init = app.init_data_for(id);

    let logins = (0..50).map(|_| app.post_login(&init));
    let responses = futures::future::join_all(logins).await;

    for response in responses {
        assert_eq!(response.status(), StatusCode::OK);
    }
    assert_eq!(app.user_rows(id).await, 1);
    let grants: i64 = sqlx::query_scalar("select count(*) from ledger where user_id = $1")
        .bind(id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(grants, 0, "logging in moves no credits by itself");
}

#[tokio::test]
async fn login_is_rate_limited_per_ip() {
    let app = spawn_app_with(|env| {
        env.remove("RATE_LIMITS");
        env.insert("APP__RATE_LIMITS__LOGIN_PER_MINUTE_PER_IP".into(), "3".into());
    })
    .await;
    let id = new_user_id();
    let init = app.init_data_for(id);
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(app.post_login(&init).await.status());
    }
    assert_eq!(&statuses[..3], &[StatusCode::OK; 3]);
    assert_eq!(statuses[4], StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn the_demo_login_signs_init_data_that_the_real_login_accepts() {
    // Demo mode: the simulator plays Telegram too (no bot token configured).
    let app = spawn_app_with(|env| {
        env.remove("TELEGRAM_BOT_TOKEN");
    })
    .await;
    assert!(app.settings.demo_login);
    let status: Value = app.client.get(app.url("/api/auth/demo")).send().await.unwrap().json().await.unwrap();
    assert_eq!(status["enabled"], true);

    let id = new_user_id();
    let response = app
        .client
        .post(app.url("/api/auth/dev-login"))
        .json(&json!({"telegram_id": id, "first_name": "Demo", "language_code": "en"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let init: Value = response.json().await.unwrap();
    let login = app.post_login(init["init_data"].as_str().unwrap()).await;
    assert_eq!(login.status(), StatusCode::OK);
    let body: Value = login.json().await.unwrap();
    assert_eq!(body["user"]["id"], id);
    assert_eq!(body["user"]["language_code"], "en");
}

#[tokio::test]
async fn the_demo_login_is_impossible_with_real_provider_keys() {
    let app = spawn_app_with(|env| {
        env.insert("KIE_API_KEY".into(), "real-looking-key".into());
    })
    .await;
    assert!(!app.settings.demo_login);
    let status: Value = app.client.get(app.url("/api/auth/demo")).send().await.unwrap().json().await.unwrap();
    assert_eq!(status["enabled"], false);
    let response = app.client.post(app.url("/api/auth/dev-login")).json(&json!({})).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(response.json::<Value>().await.unwrap()["error"]["code"], "demo_disabled");
}

#[tokio::test]
async fn a_configured_bot_token_switches_the_demo_login_off() {
    // Production-like: a bot token and a webhook secret, the providers simulated, limits off.
    let app = spawn_app_with(|env| {
        env.insert("TELEGRAM_WEBHOOK_SECRET".into(), "e2e-webhook-secret".into());
    })
    .await;
    assert!(app.settings.simulator, "the providers stay simulated");
    let status: Value = app.client.get(app.url("/api/auth/demo")).send().await.unwrap().json().await.unwrap();
    assert_eq!(status, json!({"enabled": false}));
    let id = new_user_id();
    let response =
        app.client.post(app.url("/api/auth/dev-login")).json(&json!({"telegram_id": id})).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(response.json::<Value>().await.unwrap()["error"]["code"], "demo_disabled");
    // initData signed with the configured token, as Telegram signs it, still logs in.
    assert_eq!(app.post_login(&app.init_data_for(id)).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn issued_tokens_are_hs256_with_the_configured_short_lifetime() {
    let app = spawn_app_with(|env| {
        env.insert("APP__AUTH__JWT_TTL_SECS".into(), "900".into());
    })
    .await;
    let token = app.login(new_user_id()).await;
    let parts: Vec<&str> = token.split('.').collect();
    let decode = |p: &str| -> Value {
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(p).unwrap()).unwrap()
    };
    let (header, claims) = (decode(parts[0]), decode(parts[1]));
    assert_eq!(header["alg"], "HS256");
    assert_eq!(claims["iss"], "primerka");
    assert_eq!(claims["aud"], "primerka-miniapp");
    assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 900);
}

#[tokio::test]
async fn a_returning_user_with_the_same_profile_logs_in_without_a_write_but_a_changed_profile_is_saved() {
    let app = spawn_app().await;
    let id = new_user_id();
    let now = chrono::Utc::now().timestamp();
    let profile = |name: &str| json!({"id": id, "first_name": name, "language_code": "ru"});
    let updated_at = || async {
        sqlx::query_scalar::<_, chrono::DateTime<chrono::Utc>>("select updated_at from users where telegram_id = $1")
            .bind(id)
            .fetch_one(&app.pool)
            .await
            .unwrap()
    };

    assert_eq!(
        app.post_login(&init_data::sign_for_user(&profile("Аня"), now, &app.init_secret)).await.status(),
        StatusCode::OK
    );
    let first = updated_at().await;
    assert_eq!(
        app.post_login(&init_data::sign_for_user(&profile("Аня"), now, &app.init_secret)).await.status(),
        StatusCode::OK
    );
    assert_eq!(updated_at().await, first, "an unchanged profile is not written again");

    let renamed = app.post_login(&init_data::sign_for_user(&profile("Анна"), now, &app.init_secret)).await;
    let body: Value = renamed.json().await.unwrap();
    assert_eq!(body["user"]["first_name"], "Анна");
    assert!(updated_at().await > first, "a changed profile is saved at once");
}

#[tokio::test]
async fn a_returning_users_answer_shows_them_as_the_first_did_and_follows_a_changed_language() {
    let app = spawn_app().await;
    let id = new_user_id();
    let now = chrono::Utc::now().timestamp();
    let signed =
        init_data::sign_for_user(&json!({"id": id, "first_name": "Аня", "language_code": "ru"}), now, &app.init_secret);
    let login = || async {
        let response = app.post_login(&signed).await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json::<Value>().await.unwrap()
    };

    let first = login().await;
    let again = login().await;
    // The second answer comes from the recent-login cache, its user object rendered once.
    assert_eq!(again["user"], first["user"]);
    assert_eq!(again["user"]["id"], id);
    assert_eq!(again["user"]["first_name"], "Аня");
    assert_eq!(again["user"]["is_admin"], false);
    assert!(again["user"]["created_at"].as_str().is_some_and(|at| at.ends_with('Z')));
    assert_ne!(again["token"], Value::Null);

    // Changing the language forgets the cached answer: the next login shows the new one.
    let token = first["token"].as_str().unwrap();
    let patched = app.patch_me(token, &json!({"language_code": "en"})).await;
    assert_eq!(patched.status(), StatusCode::OK);
    let after = login().await;
    assert_eq!(after["user"]["language_code"], "en");
    assert_eq!(after["user"]["created_at"], first["user"]["created_at"]);
}
