//! Issue 17: the legal documents, consents, the receipt contact, receipts at the simulated
//! YooKassa, refunds in the books (the operator's and the dashboard's) and the НПД cap.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, new_user_id, spawn_app, spawn_app_with, wait_until};

async fn versions(app: &TestApp, token: &str) -> Value {
    let consents: Value = app.get("/api/me/consents", token).await.json().await.unwrap();
    consents["versions"].clone()
}

async fn error_code(response: reqwest::Response) -> (StatusCode, String) {
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    (status, body["error"]["code"].as_str().unwrap_or("").to_string())
}

fn provider_id(payment: &Value) -> String {
    payment["confirmation_url"].as_str().unwrap().rsplit('/').next().unwrap().to_string()
}

/// Pays a created YooKassa payment at the simulator and waits until it is granted.
async fn pay(app: &TestApp, token: &str, payment: &Value) {
    let paid = app
        .client
        .post(app.url(&format!("/sim/yookassa/payments/{}/succeed", provider_id(payment))))
        .send()
        .await
        .unwrap();
    assert_eq!(paid.status(), StatusCode::OK);
    let id = payment["payment_id"].as_str().unwrap().to_string();
    let settled = wait_until(Duration::from_secs(10), || async {
        let status: Value = app.get(&format!("/api/payments/{id}"), token).await.json().await.unwrap();
        status["status"] == "succeeded"
    })
    .await;
    assert!(settled, "the payment was granted");
}

/// The bodies of the requests the simulated YooKassa received at `path`.
async fn sim_requests(app: &TestApp, path: &str) -> Vec<Value> {
    let all: Value =
        app.client.get(app.url("/sim/yookassa/_control/requests")).send().await.unwrap().json().await.unwrap();
    all.as_array().unwrap().iter().filter(|r| r["path"] == path).map(|r| r["body"].clone()).collect()
}

#[tokio::test]
async fn the_documents_are_public_in_both_languages_with_the_owners_details() {
    let app = spawn_app_with(|env| {
        env.insert("APP__LEGAL__OWNER_NAME".into(), "Петрова Анна Сергеевна".into());
        env.insert("APP__LEGAL__OWNER_INN".into(), "771234567890".into());
        env.insert("APP__LEGAL__OWNER_CONTACT".into(), "owner@example.com".into());
    })
    .await;
    let ru: Value = app.client.get(app.url("/api/legal")).send().await.unwrap().json().await.unwrap();
    assert_eq!(ru["language"], "ru", "Russian by default, no login needed");
    let docs = ru["documents"].as_array().unwrap();
    let kinds: Vec<&str> = docs.iter().map(|d| d["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["offer", "privacy", "autorenew"]);
    for doc in docs {
        assert_eq!(doc["language"], "ru");
        assert!(!doc["version"].as_str().unwrap().is_empty());
        let text = doc["text"].as_str().unwrap();
        assert!(text.contains("Петрова Анна Сергеевна") && text.contains("771234567890"), "{text}");
        assert!(!text.contains("{{"), "every placeholder is filled: {text}");
    }
    let privacy = docs[1]["text"].as_str().unwrap();
    assert!(privacy.contains("152-ФЗ") && privacy.contains("7 дн.") && privacy.contains("Удалить мои данные"));
    let autorenew = docs[2]["text"].as_str().unwrap();
    assert!(autorenew.contains("299.00 ₽") && autorenew.contains("Отключить автопродление"), "{autorenew}");

    let en: Value = app
        .client
        .get(app.url("/api/legal"))
        .header("accept-language", "en-GB,en;q=0.9")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!((en["language"].as_str(), en["documents"][0]["language"].as_str()), (Some("en"), Some("en")));
    assert!(en["documents"][1]["text"].as_str().unwrap().contains("152-FZ"));
    assert_eq!(en["documents"][0]["version"], ru["documents"][0]["version"], "one version for both languages");

    let page = app.client.get(app.url("/api/legal/offer?lang=en")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    assert!(page.text().await.unwrap().contains("Public offer"));
    assert_eq!(app.client.get(app.url("/api/legal/cookies")).send().await.unwrap().status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_first_upload_needs_the_privacy_consent_stored_with_its_time_and_version() {
    let app = spawn_app().await;
    let user = new_user_id();
    let token = app.login_new(user).await;
    let part = |b: Vec<u8>| reqwest::multipart::Part::bytes(b).file_name("me.png").mime_str("image/png").unwrap();
    let upload = |token: String| {
        let (client, url) = (app.client.clone(), app.url("/api/uploads"));
        let file = part(crate::helpers::solid_png([120, 90, 60, 255]));
        async move {
            client
                .post(url)
                .bearer_auth(token)
                .multipart(reqwest::multipart::Form::new().part("file", file))
                .send()
                .await
                .unwrap()
        }
    };
    let refused = upload(token.clone()).await;
    let (status, code) = error_code(refused).await;
    assert_eq!((status, code.as_str()), (StatusCode::FORBIDDEN, "consent_required"));
    let before: Value = app.get("/api/me/consents", &token).await.json().await.unwrap();
    assert_eq!(before["missing"], json!(["offer", "privacy", "autorenew"]));

    let version = versions(&app, &token).await["privacy"].as_str().unwrap().to_string();
    for (body, field) in [
        (json!({"kind": "privacy", "version": "1999-01-01"}), "version"),
        (json!({"kind": "cookies", "version": version}), "kind"),
    ] {
        let response = app.post_json("/api/me/consents", &token, &body).await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["details"]["field"], field);
    }
    let given = app.post_json("/api/me/consents", &token, &json!({"kind": "privacy", "version": version})).await;
    assert_eq!(given.status(), StatusCode::CREATED);
    let given: Value = given.json().await.unwrap();
    assert_eq!((given["kind"].as_str(), given["version"].as_str()), (Some("privacy"), Some(version.as_str())));
    tokio::time::sleep(Duration::from_millis(20)).await;
    let again: Value = app
        .post_json("/api/me/consents", &token, &json!({"kind": "privacy", "version": version}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again["accepted_at"], given["accepted_at"], "the first time is kept");
    let (stored_version, at): (String, chrono::DateTime<chrono::Utc>) =
        sqlx::query_as("select version, accepted_at from consents where user_id = $1 and kind = 'privacy'")
            .bind(user)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(stored_version, version);
    assert!((chrono::Utc::now() - at).num_seconds() < 60);

    assert_eq!(upload(token.clone()).await.status(), StatusCode::CREATED, "with the consent the upload goes through");

    // A consent to an older version of the policy does not count: a new text asks again.
    let other = new_user_id();
    let other_token = app.login_new(other).await;
    sqlx::query("insert into consents (user_id, kind, version) values ($1, 'privacy', '2000-01-01')")
        .bind(other)
        .execute(&app.pool)
        .await
        .unwrap();
    let (status, code) = error_code(upload(other_token.clone()).await).await;
    assert_eq!((status, code.as_str()), (StatusCode::FORBIDDEN, "consent_required"));
    let other_consents: Value = app.get("/api/me/consents", &other_token).await.json().await.unwrap();
    assert_eq!(other_consents["missing"], json!(["offer", "privacy", "autorenew"]));
    let after: Value = app.get("/api/me/consents", &token).await.json().await.unwrap();
    assert_eq!(after["missing"], json!(["offer", "autorenew"]));
    assert_eq!(after["consents"][0]["kind"], "privacy");
}

#[tokio::test]
async fn a_subscription_needs_the_autorenew_consent_on_either_rail() {
    let app = spawn_app().await;
    let token = app.login_new(new_user_id()).await;
    app.set_contact(&token, &json!({"email": "anna@example.com"})).await;
    for body in [json!({"product": "sub_basic"}), json!({"product": "sub_basic", "method": "stars"})] {
        let (status, code) = error_code(app.post_json("/api/payments", &token, &body).await).await;
        assert_eq!((status, code.as_str()), (StatusCode::FORBIDDEN, "consent_required"), "{body}");
    }
    assert_eq!(
        app.post_json("/api/payments", &token, &json!({"product": "pack_100"})).await.status(),
        StatusCode::CREATED,
        "a pack renews nothing: no renewal consent needed"
    );
    let version = versions(&app, &token).await["autorenew"].as_str().unwrap().to_string();
    app.consent(&token, "autorenew", &version).await;
    assert_eq!(
        app.post_json("/api/payments", &token, &json!({"product": "sub_basic"})).await.status(),
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn a_rouble_payment_needs_a_contact_and_every_request_carries_it_renewals_included() {
    let app = spawn_app().await;
    let user = new_user_id();
    let token = app.login_new(user).await;
    let v = versions(&app, &token).await;
    app.consent(&token, "autorenew", v["autorenew"].as_str().unwrap()).await;

    let (status, code) =
        error_code(app.post_json("/api/payments", &token, &json!({"product": "pack_100"})).await).await;
    assert_eq!((status, code.as_str()), (StatusCode::CONFLICT, "contact_required"));
    let stars = app.post_json("/api/payments", &token, &json!({"product": "pack_100", "method": "stars"})).await;
    assert_eq!(stars.status(), StatusCode::CREATED, "Stars need no receipt contact");

    let put = |body: Value| {
        let (client, url, token) = (app.client.clone(), app.url("/api/me/contact"), token.clone());
        async move { client.put(url).bearer_auth(token).json(&body).send().await.unwrap() }
    };
    for (body, field) in [
        (json!({"email": "not-an-email"}), "email"),
        (json!({"phone": "12"}), "phone"),
        (json!({}), "email"),
        (json!({"email": "a@b.ru", "phone": "+79001234567"}), "phone"),
    ] {
        let response = put(body.clone()).await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer["error"]["details"]["field"], field, "{body}");
    }
    let saved: Value = put(json!({"phone": "+7 (900) 123-45-67"})).await.json().await.unwrap();
    assert_eq!(saved, json!({"email": null, "phone": "79001234567"}));
    let read: Value = app.get("/api/me/contact", &token).await.json().await.unwrap();
    assert_eq!(read, saved);

    let payment = app.buy(&token, "sub_basic").await;
    let sent = sim_requests(&app, "/v3/payments").await;
    let receipt = &sent.last().unwrap()["receipt"];
    assert_eq!(receipt["customer"], json!({"phone": "79001234567"}), "{receipt}");
    assert_eq!(receipt["items"][0]["amount"]["value"], "299.00");
    pay(&app, &token, &payment).await;

    // The renewal charge carries the contact too (now an e-mail: the latest one given).
    put(json!({"email": "Anna@Example.COM"})).await;
    sqlx::query("update subscriptions set period_start = now() - interval '31 days', period_end = now() - interval '1 minute' where user_id = $1")
        .bind(user)
        .execute(&app.pool)
        .await
        .unwrap();
    app.actors.payments.run_renewals().await.unwrap();
    let sent = sim_requests(&app, "/v3/payments").await;
    let renewal = sent.last().unwrap();
    assert!(renewal["payment_method_id"].is_string(), "{renewal}");
    assert_eq!(renewal["receipt"]["customer"], json!({"email": "Anna@example.com"}));
    let renewed: i64 = sqlx::query_scalar(
        "select count(*) from payments where purpose = 'renewal' and status = 'succeeded' and receipt_customer is not null",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(renewed, 1);

    // "Delete my data" forgets the contact; the consents stay as the proof they were given.
    let deleted = app.client.delete(app.url("/api/me")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    // The old token was revoked with the data; the user logs in afresh.
    let token = app.login_new(user).await;
    let read: Value = app.get("/api/me/contact", &token).await.json().await.unwrap();
    assert_eq!(read, json!({"email": null, "phone": null}));
    let consents: Value = app.get("/api/me/consents", &token).await.json().await.unwrap();
    assert_eq!(consents["consents"][0]["kind"], "autorenew");
}

#[tokio::test]
async fn the_simulator_refuses_a_receipt_without_a_contact_like_yookassa() {
    let app = spawn_app().await;
    let send = |key: &str, body: Value| {
        let request = app
            .client
            .post(app.url("/sim/yookassa/v3/payments"))
            .basic_auth("shop", Some("secret"))
            .header("Idempotence-Key", key)
            .json(&body);
        async move { request.send().await.unwrap() }
    };
    let item = json!({"description": "100 кредитов", "quantity": "1.00",
        "amount": {"value": "199.00", "currency": "RUB"}, "vat_code": 1});
    let base = json!({"amount": {"value": "199.00", "currency": "RUB"}, "capture": true,
        "confirmation": {"type": "redirect", "return_url": "https://example.com/"}});
    let with = |receipt: Value| {
        let mut body = base.clone();
        if !receipt.is_null() {
            body["receipt"] = receipt;
        }
        body
    };
    for (key, body, parameter) in [
        ("k1", with(json!({"items": [item.clone()]})), "receipt.customer"),
        ("k2", with(json!({"customer": {"email": ""}, "items": [item.clone()]})), "receipt.customer"),
        ("k3", with(Value::Null), "receipt"),
        (
            "k4",
            with(json!({"customer": {"email": "a@b.ru"}, "items": [{"description": "x", "quantity": "2.00",
            "amount": {"value": "199.00", "currency": "RUB"}, "vat_code": 1}]})),
            "receipt.items",
        ),
    ] {
        let response = send(key, body).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{key}");
        let error: Value = response.json().await.unwrap();
        assert_eq!((error["type"].as_str(), error["code"].as_str()), (Some("error"), Some("invalid_request")));
        assert_eq!(error["parameter"], parameter, "{key}: {error}");
        assert!(error["id"].is_string() && error["description"].is_string());
    }
    let ok = send("k5", with(json!({"customer": {"phone": "79001234567"}, "items": [item]}))).await;
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(ok.json::<Value>().await.unwrap()["status"], "pending");
}

async fn admin_app(customize: impl FnOnce(&mut primerka::config::EnvMap)) -> (TestApp, i64, String) {
    let admin = new_user_id();
    let app = spawn_app_with(|env| {
        env.insert("ADMIN_TELEGRAM_IDS".into(), admin.to_string());
        customize(env);
    })
    .await;
    let token = app.login(admin).await;
    (app, admin, token)
}

async fn report_line(app: &TestApp, admin: &str) -> Value {
    let today = app.report_today();
    let report: Value = app
        .get(&format!("/api/admin/revenue?from={}&to={}", today - chrono::Duration::days(1), today), admin)
        .await
        .json()
        .await
        .unwrap();
    report
}

#[tokio::test]
async fn a_refund_reverses_tax_and_fee_in_the_report_with_the_receipt_fee_in_the_fee() {
    let (app, _, admin) = admin_app(|env| {
        env.insert("APP__TAX__RECEIPT_FEE_BP".into(), "80".into());
    })
    .await;
    let token = app.login(new_user_id()).await;
    let (first, second) = (app.buy(&token, "pack_100").await, app.buy(&token, "pack_100").await);
    pay(&app, &token, &first).await;
    pay(&app, &token, &second).await;
    let refund = app
        .post_json(
            &format!("/api/admin/payments/{}/refund", first["payment_id"].as_str().unwrap()),
            &admin,
            &json!({"reason": "просьба клиента"}),
        )
        .await;
    assert_eq!(refund.status(), StatusCode::OK);
    let refunds = sim_requests(&app, "/v3/refunds").await;
    assert_eq!(refunds[0]["receipt"]["customer"], json!({"email": "buyer@example.com"}), "the refund's receipt");

    let report = report_line(&app, &admin).await;
    let line = &report["lines"][0];
    // 199 ₽: fee 2.8 % + 0.8 % receipts = 716 kopecks, НПД 4 % = 796; the refunded one is reversed.
    assert_eq!(line["payments"], 2);
    assert_eq!((line["gross_kopecks"].as_i64(), line["refunded_kopecks"].as_i64()), (Some(39800), Some(19900)));
    assert_eq!((line["commission_kopecks"].as_i64(), line["tax_kopecks"].as_i64()), (Some(716), Some(796)));
    assert_eq!(line["net_kopecks"], 19900 - 716 - 796);
    assert_eq!(
        (line["commission_reversed_kopecks"].as_i64(), line["tax_reversed_kopecks"].as_i64()),
        (Some(716), Some(796))
    );
    assert_eq!(report["npd_cap"]["income_rub"], "199.00", "refunds do not count towards the cap");
}

#[tokio::test]
async fn a_refund_made_in_the_yookassa_dashboard_is_applied_once() {
    let (app, _, admin) = admin_app(|_| {}).await;
    let token = app.login(new_user_id()).await;
    let payment = app.buy(&token, "pack_100").await;
    pay(&app, &token, &payment).await;
    assert_eq!(app.get_me(&token).await["balance"]["purchased"], 100);
    let id = payment["payment_id"].as_str().unwrap().to_string();

    // A partial refund in the dashboard changes nothing here (the operator settles it by hand).
    let partial = app
        .client
        .post(app.url("/sim/yookassa/_control/refund"))
        .json(&json!({"payment_id": provider_id(&payment), "amount": "50.00"}))
        .send()
        .await
        .unwrap();
    assert_eq!(partial.status(), StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.get_me(&token).await["balance"]["purchased"], 100);

    let refund_rows = |id: String| {
        let pool = app.pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(
                "select count(*) from ledger where kind = 'payment_refund' and payment_id = $1",
            )
            .bind(uuid::Uuid::parse_str(&id).unwrap())
            .fetch_one(&pool)
            .await
            .unwrap()
        }
    };
    assert_eq!(refund_rows(id.clone()).await, 0, "a partial refund is left to the operator");

    // Every notification delivered three times from now on.
    let delivery = app.client.post(app.url("/sim/yookassa/_control/delivery")).json(&json!({"duplicates": 2})).send();
    assert!(delivery.await.unwrap().status().is_success());

    // A whole-payment refund from the dashboard: applied once, however often it is notified.
    let token2 = app.login(new_user_id()).await;
    let payment2 = app.buy(&token2, "pack_100").await;
    pay(&app, &token2, &payment2).await;
    let id2 = payment2["payment_id"].as_str().unwrap().to_string();
    let whole = app
        .client
        .post(app.url("/sim/yookassa/_control/refund"))
        .json(&json!({"payment_id": provider_id(&payment2)}))
        .send();
    assert_eq!(whole.await.unwrap().status(), StatusCode::OK);
    let refunded = wait_until(Duration::from_secs(10), || async {
        let status: Value = app.get(&format!("/api/payments/{id2}"), &token2).await.json().await.unwrap();
        status["status"] == "refunded"
    })
    .await;
    assert!(refunded, "the dashboard refund was applied");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.get_me(&token2).await["balance"]["purchased"], 0, "the credits were taken back");
    assert_eq!(refund_rows(id2.clone()).await, 1, "three notifications, one refund");
    let refund_id: Option<String> = sqlx::query_scalar("select provider_refund_id from payments where id = $1")
        .bind(uuid::Uuid::parse_str(&id2).unwrap())
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(refund_id.is_some());
    let operator =
        app.post_json(&format!("/api/admin/payments/{id2}/refund"), &admin, &json!({"reason": "ещё раз"})).await;
    assert_eq!(operator.status(), StatusCode::CONFLICT, "already refunded");
    let line = &report_line(&app, &admin).await["lines"][0];
    assert_eq!((line["refunded_payments"].as_i64(), line["tax_reversed_kopecks"].as_i64()), (Some(1), Some(796)));
    assert!(app.ledger_differences().await.is_empty());
}

/// The operator's bot messages about the НПД cap.
async fn cap_warnings(app: &TestApp, admin: i64) -> Vec<String> {
    app.sim_telegram_calls("sendMessage")
        .await
        .into_iter()
        .filter(|c| c["chat_id"].as_i64() == Some(admin))
        .filter_map(|c| c["params"]["text"].as_str().map(str::to_string))
        .filter(|t| t.contains("лимита НПД"))
        .collect()
}

#[tokio::test]
async fn the_npd_cap_warns_the_operator_at_80_and_95_percent_once_each_and_stops_rouble_sales() {
    // A 240 ₽ cap: one 199 ₽ pack is 82.9 % of it.
    let (app, admin_id, admin) = admin_app(|env| {
        env.insert("APP__TAX__NPD_ANNUAL_CAP_KOPECKS".into(), "24000".into());
    })
    .await;
    let token = app.login(new_user_id()).await;
    let payment = app.buy(&token, "pack_100").await;
    pay(&app, &token, &payment).await;
    let warned = wait_until(Duration::from_secs(5), || async { cap_warnings(&app, admin_id).await.len() == 1 }).await;
    assert!(warned, "the 80 % warning");
    assert!(cap_warnings(&app, admin_id).await[0].contains("82 %"));

    // The next pack would take the income above the cap: rouble sales stop, Stars go on.
    let response = app.post_json("/api/payments", &token, &json!({"product": "pack_100"})).await;
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("rub_sales_paused")));
    assert!(body["error"]["message"].as_str().unwrap().contains("звёздами"), "{body}");
    let stars = app.post_json("/api/payments", &token, &json!({"product": "pack_100", "method": "stars"})).await;
    assert_eq!(stars.status(), StatusCode::CREATED);
    let report = report_line(&app, &admin).await;
    let cap = &report["npd_cap"];
    assert_eq!((cap["cap_rub"].as_str(), cap["income_rub"].as_str()), (Some("240.00"), Some("199.00")));
    assert_eq!((cap["percent"].as_f64(), cap["stopped"].as_bool()), (Some(82.91), Some(true)));

    // The operator raises the cap to 410 ₽: sales resume; the second pack is 97 %: one 95 % warning.
    let bad = app.post_json("/api/admin/npd-cap", &admin, &json!({"cap_rub": "lots"})).await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let raised: Value =
        app.post_json("/api/admin/npd-cap", &admin, &json!({"cap_rub": "410.00"})).await.json().await.unwrap();
    assert_eq!((raised["cap_rub"].as_str(), raised["stopped"].as_bool()), (Some("410.00"), Some(false)));
    let payment = app.buy(&token, "pack_100").await;
    pay(&app, &token, &payment).await;
    let warned = wait_until(Duration::from_secs(5), || async { cap_warnings(&app, admin_id).await.len() == 2 }).await;
    assert!(warned, "the 95 % warning");
    assert!(cap_warnings(&app, admin_id).await[1].contains("97 %"));
    let (status, _) = (app.post_json("/api/payments", &token, &json!({"product": "pack_100"})).await.status(), ());
    assert_eq!(status, StatusCode::CONFLICT, "597 ₽ would be above 410 ₽");

    // A reset counts the income from now: sales resume, and no warning is repeated meanwhile.
    let reset: Value = app.post_json("/api/admin/npd-cap", &admin, &json!({"reset": true})).await.json().await.unwrap();
    assert_eq!((reset["income_rub"].as_str(), reset["stopped"].as_bool()), (Some("0.00"), Some(false)));
    assert!(reset["counted_from"].is_string());
    assert_eq!(
        app.post_json("/api/payments", &token, &json!({"product": "pack_100"})).await.status(),
        StatusCode::CREATED
    );
    let read: Value = app.get("/api/admin/npd-cap", &admin).await.json().await.unwrap();
    assert_eq!(read["mode"], "npd");
    assert_eq!(cap_warnings(&app, admin_id).await.len(), 2, "each warning once");
    let user = app.get("/api/admin/npd-cap", &token).await;
    assert_eq!(user.status(), StatusCode::FORBIDDEN, "operators only");
}

#[tokio::test]
async fn the_bot_links_the_documents_on_terms() {
    let app = spawn_app().await;
    let user = new_user_id();
    let update = json!({"update_id": 1, "message": {"message_id": 1, "chat": {"id": user, "type": "private"},
        "from": {"id": user, "is_bot": false, "language_code": "en"}, "text": "/terms"}});
    assert_eq!(app.telegram_update(&update).await, StatusCode::OK);
    let sent = wait_until(Duration::from_secs(5), || async {
        app.sim_telegram_calls("sendMessage")
            .await
            .iter()
            .any(|c| c["params"]["text"].as_str().is_some_and(|t| t.contains("/api/legal/privacy?lang=en")))
    })
    .await;
    assert!(sent, "/terms answers with the links");
    let calls = app.sim_telegram_calls("sendMessage").await;
    let text = calls.iter().filter_map(|c| c["params"]["text"].as_str()).find(|t| t.contains("/api/legal/")).unwrap();
    assert!(
        text.contains("Public offer")
            && text.contains("/api/legal/offer?lang=en")
            && text.contains("/api/legal/autorenew?lang=en")
    );
}
