//! Buying a pack through the simulated YooKassa: the page, the notification, the re-fetch, the
//! single grant, and the webhook's trust checks.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, new_user_id, spawn_app, spawn_app_with, wait_until};
use crate::ws::{connect, next_event_of};

async fn buy(app: &TestApp, token: &str, product: &str) -> Value {
    let response = app.post_json("/api/payments", token, &json!({"product": product})).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    response.json().await.unwrap()
}

async fn total(app: &TestApp, token: &str) -> i64 {
    app.get_me(token).await["balance"]["total"].as_i64().unwrap()
}

/// A pack paid on YooKassa's side whose notification never reaches us.
async fn paid_without_notification(app: &TestApp, token: &str) -> Value {
    app.client
        .post(app.url("/sim/yookassa/_control/webhook"))
        .json(&json!({"url": "http://127.0.0.1:9/nowhere"}))
        .send()
        .await
        .unwrap();
    let payment = buy(app, token, "pack_100").await;
    app.client
        .post(app.url(&format!("/sim/yookassa/payments/{}/succeed", provider_id(&payment))))
        .send()
        .await
        .unwrap();
    payment
}

fn provider_id(payment: &Value) -> String {
    payment["confirmation_url"].as_str().unwrap().rsplit('/').next().unwrap().to_string()
}

#[tokio::test]
async fn paying_on_the_checkout_page_grants_the_pack_once_and_updates_the_socket() {
    let app = spawn_app().await;
    let token = app.login(new_user_id()).await;
    let mut socket = connect(&app, &token).await;
    let plans: Value = app.get("/api/plans", &token).await.json().await.unwrap();
    let pack = plans["products"].as_array().unwrap().iter().find(|p| p["id"] == "pack_100").unwrap().clone();
    assert_eq!((pack["price_rub"].as_str(), pack["available"].as_bool()), (Some("199.00"), Some(true)));

    let payment = buy(&app, &token, "pack_100").await;
    assert_eq!(payment["status"], "pending");
    let page =
        app.client.get(payment["confirmation_url"].as_str().unwrap()).send().await.unwrap().text().await.unwrap();
    assert!(page.contains(r#"id="pay""#) && page.contains("199.00"));
    // Press "Оплатить": the simulator notifies the webhook and redirects back to the app.
    let no_redirect = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let pay_url = format!("{}/pay", payment["confirmation_url"].as_str().unwrap());
    let paid = no_redirect.post(pay_url).send().await.unwrap();
    assert_eq!(paid.status(), StatusCode::SEE_OTHER);
    let location = paid.headers()["location"].to_str().unwrap().to_string();
    let back = format!("{}/plans?payment={}&sig=", app.address, payment["payment_id"].as_str().unwrap());
    assert!(location.starts_with(&back), "{location}");

    let event = next_event_of(&mut socket, "payment.succeeded").await;
    assert_eq!(event["data"]["credits"], 100);
    assert_eq!(total(&app, &token).await, 110);
    // The same notification again, and the return page's status check: no second grant.
    let notifications: Value =
        app.client.get(app.url("/sim/yookassa/_control/notifications")).send().await.unwrap().json().await.unwrap();
    let again = app.client.post(app.url("/webhooks/yookassa")).json(&notifications[0]).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::OK);
    let status: Value = app
        .get(&format!("/api/payments/{}", payment["payment_id"].as_str().unwrap()), &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(status["status"], "succeeded");
    assert_eq!(total(&app, &token).await, 110, "granted exactly once");
    let (gross, commission, tax, net): (i64, i64, i64, i64) =
        sqlx::query_as("select gross_kopecks, commission_kopecks, tax_kopecks, net_kopecks from payments")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!((gross, commission, tax, net), (19900, 557, 796, 18547));
    assert!(
        wait_until(std::time::Duration::from_secs(5), || async {
            !app.sim_telegram_calls("sendMessage").await.is_empty()
        })
        .await
    );
    assert!(app.ledger_differences().await.is_empty());
}

#[tokio::test]
async fn a_forged_notification_for_an_unpaid_payment_grants_nothing() {
    let app = spawn_app().await;
    let token = app.login(new_user_id()).await;
    let payment = buy(&app, &token, "pack_100").await;
    let forged = json!({
        "type": "notification",
        "event": "payment.succeeded",
        "object": {"id": provider_id(&payment), "status": "succeeded", "paid": true, "amount": {"value": "199.00", "currency": "RUB"}},
    });
    let response = app.client.post(app.url("/webhooks/yookassa")).json(&forged).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "answered, but the re-fetch says pending");
    assert_eq!(total(&app, &token).await, 10);
    let status: Value = app
        .get(&format!("/api/payments/{}", payment["payment_id"].as_str().unwrap()), &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(status["status"], "pending");

    // Cancelled on the page: nothing granted, the status says so.
    app.client.post(app.url(&format!("/sim/yookassa/payments/{}/cancel", provider_id(&payment)))).send().await.unwrap();
    let status: Value = app
        .get(&format!("/api/payments/{}", payment["payment_id"].as_str().unwrap()), &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(status["status"], "canceled");
    assert_eq!(total(&app, &token).await, 10);
}

#[tokio::test]
async fn notifications_from_outside_yookassa_are_refused() {
    // With the simulator off (real keys), loopback is not YooKassa: only the configured list.
    let app = spawn_app_with(|env| {
        env.insert("SIMULATOR".into(), "0".into());
        for key in ["KIE_API_KEY", "OPENROUTER_API_KEY", "YOOKASSA_SHOP_ID", "YOOKASSA_SECRET_KEY"] {
            env.insert(key.into(), "not-a-real-key".into());
        }
    })
    .await;
    let direct = app
        .client
        .post(app.url("/webhooks/yookassa"))
        .json(&json!({"event": "payment.succeeded", "object": {"id": "x"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(direct.status(), StatusCode::FORBIDDEN, "loopback is admitted only with SIMULATOR=1");
    let response = app
        .client
        .post(app.url("/webhooks/yookassa"))
        .header("X-Forwarded-For", "185.71.76.1")
        .json(&json!({"event": "payment.succeeded", "object": {"id": "x"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN, "X-Forwarded-For is not trusted from a non-proxy");
}

#[tokio::test]
async fn a_lost_notification_is_settled_when_the_user_returns() {
    let app = spawn_app().await;
    let token = app.login(new_user_id()).await;
    let payment = paid_without_notification(&app, &token).await;
    assert_eq!(total(&app, &token).await, 10, "no notification arrived");
    let status: Value = app
        .get(&format!("/api/payments/{}", payment["payment_id"].as_str().unwrap()), &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(status["status"], "succeeded");
    assert_eq!(total(&app, &token).await, 110);
    let other = app.login(new_user_id()).await;
    let foreign = app.get(&format!("/api/payments/{}", payment["payment_id"].as_str().unwrap()), &other).await;
    assert_eq!(foreign.status(), StatusCode::NOT_FOUND);
    let unknown_rail =
        app.post_json("/api/payments", &token, &json!({"product": "sub_basic", "method": "paypal"})).await;
    assert_eq!(unknown_rail.status(), StatusCode::CONFLICT, "only YooKassa and Stars are sold");
}

#[tokio::test]
async fn the_return_page_shows_the_outcome_without_a_login_for_a_signed_link_only() {
    let app = spawn_app_with(|env| {
        env.insert("APP__TELEGRAM__BOT_USERNAME".into(), "@primerka_bot".into());
        env.insert("APP__TELEGRAM__MINIAPP_SHORT_NAME".into(), "app".into());
    })
    .await;
    let token = app.login(new_user_id()).await;
    // Paid in a browser outside Telegram; the notification is lost on the way.
    app.client
        .post(app.url("/sim/yookassa/_control/webhook"))
        .json(&json!({"url": "http://127.0.0.1:9/nowhere"}))
        .send()
        .await
        .unwrap();
    let payment = buy(&app, &token, "pack_100").await;
    let id = payment["payment_id"].as_str().unwrap().to_string();
    let no_redirect = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let paid = no_redirect.post(format!("{}/pay", payment["confirmation_url"].as_str().unwrap())).send().await.unwrap();
    let location = paid.headers()["location"].to_str().unwrap().to_string();
    let sig = location.split("&sig=").nth(1).expect("the return link is signed").to_string();
    assert_eq!(total(&app, &token).await, 10, "no notification arrived");

    // The return page, in a browser without a login: the payment is re-fetched and settled.
    let anonymous = reqwest::Client::new();
    let read = |path: String| anonymous.get(app.url(&path)).send();
    let outcome = read(format!("/api/payments/{id}/return?sig={sig}")).await.unwrap();
    assert_eq!(outcome.status(), StatusCode::OK);
    let outcome: Value = outcome.json().await.unwrap();
    let simple = uuid::Uuid::parse_str(&id).unwrap().simple().to_string();
    assert_eq!(
        outcome,
        json!({"payment_id": id, "status": "succeeded", "product": "pack_100", "title": "100 кредитов", "credits": 100,
               "telegram_url": format!("https://t.me/primerka_bot/app?startapp=paid_{simple}")}),
        "the outcome and the way back into the Mini App, nothing about the payer"
    );
    assert_eq!(total(&app, &token).await, 110, "settled once");
    // The Mini App reopened by that link reads the payment by the id in startapp.
    let by_simple: Value = app.get(&format!("/api/payments/{simple}"), &token).await.json().await.unwrap();
    assert_eq!(by_simple["status"], "succeeded");

    // Only a link the server signed: no signature, a wrong one, another payment's.
    let other = buy(&app, &token, "pack_100").await;
    let other_id = other["payment_id"].as_str().unwrap();
    for path in [
        format!("/api/payments/{id}/return"),
        format!("/api/payments/{id}/return?sig="),
        format!("/api/payments/{id}/return?sig={}", "0".repeat(64)),
        format!("/api/payments/{other_id}/return?sig={sig}"),
        format!("/api/payments/{}/return?sig={sig}", uuid::Uuid::new_v4()),
    ] {
        let response = read(path.clone()).await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
    }
    assert_eq!(total(&app, &token).await, 110);
    assert!(app.ledger_differences().await.is_empty());
}

async fn subscribe(app: &TestApp, token: &str, product: &str) -> Value {
    let payment = buy(app, token, product).await;
    let paid = app
        .client
        .post(app.url(&format!("/sim/yookassa/payments/{}/succeed", provider_id(&payment))))
        .send()
        .await
        .unwrap();
    assert_eq!(paid.status(), StatusCode::OK);
    let status: Value = app
        .get(&format!("/api/payments/{}", payment["payment_id"].as_str().unwrap()), token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(status["status"], "succeeded");
    payment
}

async fn renewal_payments(app: &TestApp) -> i64 {
    sqlx::query_scalar("select count(*) from payments where purpose = 'renewal'").fetch_one(&app.pool).await.unwrap()
}

async fn renewals(app: &TestApp) {
    app.actors.payments.run_renewals().await.expect("renewals run");
}

/// Moves the user's plan to its period end (as if 30 days passed).
async fn end_period(app: &TestApp, user: i64) {
    sqlx::query("update subscriptions set period_start = now() - interval '31 days', period_end = now() - interval '1 minute' where user_id = $1 and status in ('active', 'canceled', 'past_due')")
        .bind(user)
        .execute(&app.pool)
        .await
        .unwrap();
    sqlx::query("update users set sub_period_end = now() - interval '1 minute' where telegram_id = $1")
        .bind(user)
        .execute(&app.pool)
        .await
        .unwrap();
    app.actors.sessions.reload(primerka::domain::ids::UserId(user));
}

#[tokio::test]
async fn a_plan_is_bought_renewed_through_the_saved_method_and_cancelled() {
    let app = spawn_app().await;
    let user = new_user_id();
    let token = app.login(user).await;
    subscribe(&app, &token, "sub_basic").await;
    let me = app.get_me(&token).await;
    assert_eq!(me["balance"]["subscription"], 50);
    assert_eq!(me["plan"]["product"], "sub_basic");
    assert_eq!(me["plan"]["auto_renew"], true);

    // Spend 5 of the plan's credits, then the period ends: the renewal charges the saved card.
    let photo = app.upload_photo(&token).await;
    let spend = app.post_json("/api/chat/messages", &token, &json!({"text": "раз", "upload_id": photo})).await;
    assert_eq!(spend.status(), StatusCode::OK);
    end_period(&app, user).await;
    renewals(&app).await;
    let me = app.get_me(&token).await;
    assert_eq!(me["balance"]["subscription"], 50, "the old period's rest expired, a fresh 50 arrived");
    let (count, purpose): (i64, String) = sqlx::query_as(
        "select count(*), max(purpose) from payments where status = 'succeeded' and purpose = 'renewal'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!((count, purpose.as_str()), (1, "renewal"));
    renewals(&app).await;
    let count = renewal_payments(&app).await;
    assert_eq!(count, 1, "running the job again charges nothing");

    // Cancel: the plan runs to its end, then ends without a charge.
    let cancelled: Value = app
        .client
        .post(app.url("/api/subscription/cancel"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(cancelled["plan"]["auto_renew"], false);
    end_period(&app, user).await;
    renewals(&app).await;
    let status: String =
        sqlx::query_scalar("select status from subscriptions where user_id = $1 order by created_at desc limit 1")
            .bind(user)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(status, "lapsed");
    let count = renewal_payments(&app).await;
    assert_eq!(count, 1, "a cancelled plan is not charged");
    assert!(app.ledger_differences().await.is_empty());
}

#[tokio::test]
async fn a_declined_renewal_is_retried_then_the_plan_lapses_and_the_user_is_told() {
    let app = spawn_app().await;
    let user = new_user_id();
    let token = app.login(user).await;
    subscribe(&app, &token, "sub_basic").await;
    let method: String = sqlx::query_scalar("select payment_method_id from subscriptions where user_id = $1")
        .bind(user)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    app.client.post(app.url("/sim/yookassa/_control/fail_method")).json(&json!({"id": method})).send().await.unwrap();
    end_period(&app, user).await;
    for attempt in 1..=3 {
        renewals(&app).await;
        sqlx::query("update subscriptions set next_attempt_at = now() - interval '1 second' where user_id = $1 and status = 'past_due'")
            .bind(user)
            .execute(&app.pool)
            .await
            .unwrap();
        let (status, attempts): (String, i32) =
            sqlx::query_as("select status, renewal_attempts from subscriptions where user_id = $1")
                .bind(user)
                .fetch_one(&app.pool)
                .await
                .unwrap();
        assert_eq!(attempts, attempt);
        assert_eq!(status, if attempt < 3 { "past_due" } else { "lapsed" });
    }
    let me = app.get_me(&token).await;
    assert_eq!(me["balance"]["subscription"], 0, "no credits without a paid period");
    assert!(me["plan"].is_null());
    // The Notifier sends at most one message per second to a chat.
    let told = wait_until(std::time::Duration::from_secs(10), || async {
        let messages = app.sim_telegram_calls("sendMessage").await;
        let texts: Vec<String> =
            messages.iter().map(|m| m["params"]["text"].as_str().unwrap_or("").to_string()).collect();
        texts.iter().any(|t| t.contains("Не удалось продлить")) && texts.iter().any(|t| t.contains("не продлена"))
    })
    .await;
    assert!(told, "the user heard about the failed renewal and the lapse");
    assert!(app.ledger_differences().await.is_empty());
}

#[tokio::test]
async fn a_new_plan_over_a_running_one_carries_the_rest_over_once() {
    let app = spawn_app().await;
    let user = new_user_id();
    let token = app.login(user).await;
    subscribe(&app, &token, "sub_basic").await;
    subscribe(&app, &token, "sub_standard").await;
    let me = app.get_me(&token).await;
    assert_eq!(me["balance"]["subscription"], 200, "50 carried over + 150");
    assert_eq!(me["plan"]["product"], "sub_standard");
    subscribe(&app, &token, "sub_pro").await;
    let me = app.get_me(&token).await;
    assert_eq!(me["balance"]["subscription"], 500, "carried once only: the rest expired");
    let replaced: i64 =
        sqlx::query_scalar("select count(*) from subscriptions where user_id = $1 and status = 'replaced'")
            .bind(user)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(replaced, 2);
    assert!(app.ledger_differences().await.is_empty());
}

async fn admin_app() -> (TestApp, String) {
    let admin = new_user_id();
    let app = spawn_app_with(|env| {
        env.insert("ADMIN_TELEGRAM_IDS".into(), admin.to_string());
    })
    .await;
    let token = app.login(admin).await;
    (app, token)
}

#[tokio::test]
async fn the_operator_grants_credits_once_per_key() {
    let (app, admin) = admin_app().await;
    let user = new_user_id();
    let token = app.login(user).await;
    let body = json!({"credits": 25, "reason": "извинение за сбой", "key": "ticket-17"});
    let path = format!("/api/admin/users/{user}/grant");
    let first: Value = app.post_json(&path, &admin, &body).await.json().await.unwrap();
    let again: Value = app.post_json(&path, &admin, &body).await.json().await.unwrap();
    assert_eq!((first["granted"].as_bool(), again["granted"].as_bool()), (Some(true), Some(false)));
    assert_eq!(app.get_me(&token).await["balance"]["purchased"], 25);
    let forbidden = app.post_json(&path, &token, &body).await;
    assert_eq!(forbidden.status(), StatusCode::FORBIDDEN, "only operators grant");
    assert!(app.ledger_differences().await.is_empty());
}

#[tokio::test]
async fn a_refund_returns_the_money_and_takes_back_only_the_credits_left() {
    let (app, admin) = admin_app().await;
    let user = new_user_id();
    let token = app.login(user).await;
    let payment = buy(&app, &token, "pack_100").await;
    app.client
        .post(app.url(&format!("/sim/yookassa/payments/{}/succeed", provider_id(&payment))))
        .send()
        .await
        .unwrap();
    let id = payment["payment_id"].as_str().unwrap();
    app.get(&format!("/api/payments/{id}"), &token).await;
    // The user spends 95 of the 100 bought credits (purchased credits are spent before free ones).
    let session = app.actors.sessions.session(primerka::domain::ids::UserId(user));
    let hold = session
        .reserve(primerka::actors::session::ReserveCmd {
            cost: 95,
            purpose: "tryon".into(),
            key: "spend-95".into(),
            generation_id: None,
        })
        .await
        .unwrap();
    session.commit(hold.id).await.unwrap();
    assert_eq!(app.get_me(&token).await["balance"]["purchased"], 5);

    let response =
        app.post_json(&format!("/api/admin/payments/{id}/refund"), &admin, &json!({"reason": "просьба клиента"})).await;
    assert_eq!(response.status(), StatusCode::OK);
    let outcome: Value = response.json().await.unwrap();
    assert_eq!(outcome["credits_removed"], 5, "never below zero: only what was left");
    assert_eq!(outcome["refunded_rub"], "199.00");
    let me = app.get_me(&token).await;
    assert_eq!((me["balance"]["purchased"].as_i64(), me["balance"]["free"].as_i64()), (Some(0), Some(10)));
    let twice = app.post_json(&format!("/api/admin/payments/{id}/refund"), &admin, &json!({"reason": "ещё раз"})).await;
    assert_eq!(twice.status(), StatusCode::CONFLICT, "a payment is refunded once");
    assert!(app.ledger_differences().await.is_empty());

    let today = app.report_today();
    let report: Value = app
        .get(
            &format!(
                "/api/admin/revenue?from={}&to={}",
                today - chrono::Duration::days(1),
                today + chrono::Duration::days(1)
            ),
            &admin,
        )
        .await
        .json()
        .await
        .unwrap();
    let line = &report["lines"][0];
    assert_eq!((line["provider"].as_str(), line["payments"].as_i64()), (Some("yookassa"), Some(1)));
    assert_eq!(line["product"], "pack_100");
    assert_eq!((line["gross_kopecks"].as_i64(), line["refunded_kopecks"].as_i64()), (Some(19900), Some(19900)));
    assert_eq!(report["near_npd_cap"], false);
    let csv =
        app.get(&format!("/api/admin/revenue?from={today}&to={today}&format=csv"), &admin).await.text().await.unwrap();
    assert!(csv.starts_with("month,provider,product,payments,gross_rub"), "{csv}");
    // The refund reversed the payment's commission and tax: nothing is left in the books.
    assert_eq!(
        (line["commission_kopecks"].as_i64(), line["tax_kopecks"].as_i64(), line["net_kopecks"].as_i64()),
        (Some(0), Some(0), Some(0))
    );
    assert!(csv.contains(",yookassa,pack_100,1,199.00,0.00,0.00,0.00,1,199.00,5.57,7.96"), "{csv}");
}

async fn telegram_update(app: &TestApp, update: &Value) {
    assert_eq!(app.telegram_update(update).await, StatusCode::OK);
}

#[tokio::test]
async fn a_pack_bought_with_telegram_stars_is_granted_once_and_can_be_refunded() {
    let (app, admin) = admin_app().await;
    let user = new_user_id();
    let token = app.login(user).await;
    let response = app.post_json("/api/payments", &token, &json!({"product": "pack_100", "method": "stars"})).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let invoice: Value = response.json().await.unwrap();
    assert!(invoice["invoice_link"].as_str().unwrap().starts_with("https://t.me/$"));
    let id = invoice["payment_id"].as_str().unwrap().to_string();
    let created = app.sim_telegram_calls("createInvoiceLink").await;
    assert_eq!(created[0]["params"]["currency"], "XTR");
    assert_eq!(created[0]["params"]["prices"][0]["amount"], 130);
    assert_eq!(created[0]["params"]["payload"], id.as_str());

    // A pre-checkout for the wrong amount is refused; the right one is accepted.
    let query = |amount: i64, qid: &str| {
        json!({"update_id": 1, "pre_checkout_query": {"id": qid, "from": {"id": user, "is_bot": false, "language_code": "ru"},
               "currency": "XTR", "total_amount": amount, "invoice_payload": id}})
    };
    telegram_update(&app, &query(1, "q-bad")).await;
    telegram_update(&app, &query(130, "q-ok")).await;
    assert!(
        wait_until(Duration::from_secs(5), || async {
            app.sim_telegram_calls("answerPreCheckoutQuery").await.len() == 2
        })
        .await,
        "both queries are answered"
    );
    let answers = app.sim_telegram_calls("answerPreCheckoutQuery").await;
    let answer =
        |qid: &str| answers.iter().find(|a| a["params"]["pre_checkout_query_id"] == qid).unwrap()["params"].clone();
    assert_eq!(answer("q-bad")["ok"], false);
    assert!(answer("q-bad")["error_message"].as_str().unwrap().contains("не списаны"));
    assert_eq!(answer("q-ok")["ok"], true);

    let paid = json!({"update_id": 2, "message": {"message_id": 9, "chat": {"id": user, "type": "private"},
        "from": {"id": user, "is_bot": false},
        "successful_payment": {"currency": "XTR", "total_amount": 130, "invoice_payload": id,
                               "telegram_payment_charge_id": "tg-charge-1", "provider_payment_charge_id": ""}}});
    telegram_update(&app, &paid).await;
    telegram_update(&app, &paid).await;
    assert_eq!(app.get_me(&token).await["balance"]["purchased"], 100, "granted once");
    let status: Value = app.get(&format!("/api/payments/{id}"), &token).await.json().await.unwrap();
    assert_eq!(status["status"], "succeeded");
    let gross: i64 = sqlx::query_scalar("select gross_kopecks from payments where provider = 'stars'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(gross, 130 * 150, "valued at the configured kopecks per star");

    let refund: Value = app
        .post_json(&format!("/api/admin/payments/{id}/refund"), &admin, &json!({"reason": "тест"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(refund["credits_removed"], 100);
    let refunds = app.sim_telegram_calls("refundStarPayment").await;
    assert_eq!(refunds[0]["params"]["telegram_payment_charge_id"], "tg-charge-1");
    assert_eq!(app.get_me(&token).await["balance"]["purchased"], 0);
    assert!(app.ledger_differences().await.is_empty());
}

#[tokio::test]
async fn five_hundred_concurrent_deliveries_of_one_notification_grant_once() {
    let app = spawn_app().await;
    let token = app.login(new_user_id()).await;
    let payment = paid_without_notification(&app, &token).await;
    let notification = json!({"type": "notification", "event": "payment.succeeded",
                              "object": {"id": provider_id(&payment), "status": "succeeded"}});
    let deliveries = (0..500).map(|_| {
        let (client, url, body) = (app.client.clone(), app.url("/webhooks/yookassa"), notification.clone());
        tokio::spawn(async move { client.post(url).json(&body).send().await.map(|r| r.status()) })
    });
    let statuses = futures::future::join_all(deliveries).await;
    let ok = statuses.into_iter().filter(|s| matches!(s, Ok(Ok(s)) if s.is_success())).count();
    assert_eq!(ok, 500, "every delivery answered 200");
    assert_eq!(total(&app, &token).await, 110, "exactly one grant of 100");
    let grants: i64 =
        sqlx::query_scalar("select count(*) from ledger where kind = 'purchase'").fetch_one(&app.pool).await.unwrap();
    assert_eq!(grants, 1);
    assert!(app.ledger_differences().await.is_empty());
}

async fn sim_post(app: &TestApp, path: &str, body: Value) {
    let response = app.client.post(app.url(&format!("/sim/yookassa{path}"))).json(&body).send().await.unwrap();
    assert!(response.status().is_success(), "{path}: {}", response.status());
}

async fn grants(app: &TestApp) -> i64 {
    sqlx::query_scalar("select count(*) from ledger where kind = 'purchase'").fetch_one(&app.pool).await.unwrap()
}

#[tokio::test]
async fn the_embedded_widget_gets_a_confirmation_token_and_the_payment_settles_the_same_way() {
    let app = spawn_app().await;
    let token = app.login(new_user_id()).await;
    let response = app
        .post_json(
            "/api/payments",
            &token,
            &json!({"product": "pack_100", "rail": "yookassa", "confirmation": "embedded"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let payment: Value = response.json().await.unwrap();
    let confirmation = payment["confirmation_token"].as_str().expect("a confirmation_token for the widget");
    assert!(payment["confirmation_url"].is_null(), "{payment}");
    assert!(payment["return_url"].as_str().unwrap().contains("/plans?payment="));
    let provider_id = confirmation.strip_prefix("ct-").unwrap();
    sim_post(&app, &format!("/payments/{provider_id}/succeed"), json!({})).await;
    assert!(wait_until(std::time::Duration::from_secs(5), || async { total(&app, &token).await == 110 }).await);
    let unknown = app.post_json("/api/payments", &token, &json!({"product": "pack_100", "confirmation": "qr"})).await;
    assert_eq!(unknown.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn duplicated_and_out_of_order_notifications_grant_each_payment_once() {
    let app = spawn_app().await;
    let token = app.login(new_user_id()).await;
    sim_post(&app, "/_control/delivery", json!({"hold": true, "duplicates": 4})).await;
    let first = buy(&app, &token, "pack_100").await;
    let second = buy(&app, &token, "pack_100").await;
    for payment in [&first, &second] {
        sim_post(&app, &format!("/payments/{}/succeed", provider_id(payment)), json!({})).await;
    }
    assert_eq!(total(&app, &token).await, 10, "nothing arrived yet");
    // The second payment's notifications first, each five times at once.
    sim_post(&app, "/_control/release", json!({"reverse": true})).await;
    assert!(wait_until(std::time::Duration::from_secs(5), || async { total(&app, &token).await == 210 }).await);
    assert_eq!(grants(&app).await, 2, "one grant per payment, not per notification");
    assert!(app.ledger_differences().await.is_empty());
}

#[tokio::test]
async fn a_late_notification_still_grants_once() {
    let app = spawn_app().await;
    let token = app.login(new_user_id()).await;
    sim_post(&app, "/_control/delivery", json!({"delay_ms": 800, "duplicates": 2})).await;
    let payment = buy(&app, &token, "pack_100").await;
    sim_post(&app, &format!("/payments/{}/succeed", provider_id(&payment)), json!({})).await;
    assert_eq!(total(&app, &token).await, 10, "the notification is still on its way");
    assert!(wait_until(std::time::Duration::from_secs(5), || async { total(&app, &token).await == 110 }).await);
    assert_eq!(grants(&app).await, 1);
}

#[tokio::test]
async fn the_reconciliation_job_settles_a_payment_whose_notification_was_lost() {
    let app = spawn_app().await;
    let token = app.login(new_user_id()).await;
    let payment = paid_without_notification(&app, &token).await;
    let id = uuid::Uuid::parse_str(payment["payment_id"].as_str().unwrap()).unwrap();
    // Too young for the job: left alone (the notification may still come).
    app.actors.payments.reconcile_pending().await.expect("reconciliation runs");
    assert_eq!(total(&app, &token).await, 10);
    sqlx::query("update payments set created_at = now() - interval '10 minutes' where id = $1")
        .bind(id)
        .execute(&app.pool)
        .await
        .unwrap();
    app.actors.payments.reconcile_pending().await.expect("reconciliation runs");
    assert_eq!(total(&app, &token).await, 110, "granted without the user coming back");
    // A pending payment the user abandoned is recorded as canceled once YooKassa says so.
    let abandoned = buy(&app, &token, "pack_100").await;
    sim_post(&app, &format!("/payments/{}/cancel", provider_id(&abandoned)), json!({})).await;
    sqlx::query("update payments set created_at = now() - interval '10 minutes', status = 'pending' where id = $1")
        .bind(uuid::Uuid::parse_str(abandoned["payment_id"].as_str().unwrap()).unwrap())
        .execute(&app.pool)
        .await
        .unwrap();
    app.actors.payments.reconcile_pending().await.expect("reconciliation runs");
    let status: String = sqlx::query_scalar("select status from payments where id = $1")
        .bind(uuid::Uuid::parse_str(abandoned["payment_id"].as_str().unwrap()).unwrap())
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(status, "canceled");
    assert_eq!(grants(&app).await, 1);
    assert!(app.ledger_differences().await.is_empty());
}

fn stars_paid(user: i64, payload: &str, amount: i64, charge: &str, first: bool) -> Value {
    crate::helpers::stars_paid_update(user, payload, amount, charge, first)
}

#[tokio::test]
async fn a_plan_paid_in_stars_renews_with_telegrams_charges_and_cancels_in_telegram() {
    let app = spawn_app().await;
    let user = new_user_id();
    let token = app.login(user).await;
    let plans: Value = app.get("/api/plans", &token).await.json().await.unwrap();
    let basic = plans["products"].as_array().unwrap().iter().find(|p| p["id"] == "sub_basic").unwrap().clone();
    assert_eq!(basic["stars_available"], true);
    let invoice: Value = app
        .post_json("/api/payments", &token, &json!({"product": "sub_basic", "rail": "stars"}))
        .await
        .json()
        .await
        .unwrap();
    let id = invoice["payment_id"].as_str().unwrap().to_string();
    let created = app.sim_telegram_calls("createInvoiceLink").await;
    assert_eq!(created[0]["params"]["subscription_period"], 2_592_000, "Telegram's only period: 30 days");
    assert_eq!(created[0]["params"]["prices"][0]["amount"], 200);

    // The first payment starts the plan (twice delivered, applied once).
    let first = stars_paid(user, &id, 200, "tg-sub-1", true);
    telegram_update(&app, &first).await;
    telegram_update(&app, &first).await;
    let me = app.get_me(&token).await;
    assert_eq!(me["balance"]["subscription"], 50, "{me}");
    let sub: (String, String, Option<String>) =
        sqlx::query_as("select rail, status, payment_method_id from subscriptions where user_id = $1")
            .bind(user)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(sub, ("stars".into(), "active".into(), Some("tg-sub-1".into())));

    // Our own renewal job never charges a Stars plan through YooKassa, even when due.
    sqlx::query(
        "update subscriptions set period_end = now() - interval '1 minute', period_start = now() - interval '30 days'",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    app.actors.payments.run_renewals().await.expect("renewals run");
    let yookassa_payments: i64 = sqlx::query_scalar("select count(*) from payments where provider = 'yookassa'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(yookassa_payments, 0);

    // Telegram's renewal: the same payload, a new charge, twice delivered → one new period.
    let renewal = stars_paid(user, &id, 200, "tg-sub-2", false);
    telegram_update(&app, &renewal).await;
    telegram_update(&app, &renewal).await;
    let periods: i64 =
        sqlx::query_scalar("select count(*) from ledger where kind = 'grant' and reason = 'subscription'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(periods, 2, "the first period and one renewal");
    let status: (String, bool) =
        sqlx::query_as("select status, period_end > now() from subscriptions where user_id = $1")
            .bind(user)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(status, ("active".into(), true), "the plan runs another 30 days");
    let stars_payments: i64 =
        sqlx::query_scalar("select count(*) from payments where provider = 'stars' and status = 'succeeded'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(stars_payments, 2, "the renewal is its own payment in the report");

    // Cancelling stops Telegram's renewals with the first charge's id; the plan runs to its end.
    let cancelled = app.post_json("/api/subscription/cancel", &token, &json!({})).await;
    assert_eq!(cancelled.status(), StatusCode::OK);
    let edits = app.sim_telegram_calls("editUserStarSubscription").await;
    assert_eq!(edits.len(), 1);
    assert_eq!(edits[0]["params"]["telegram_payment_charge_id"], "tg-sub-1");
    assert_eq!(edits[0]["params"]["is_canceled"], true);
    assert_eq!(app.get_me(&token).await["balance"]["subscription"], 50, "the period's credits stay");
    assert!(app.ledger_differences().await.is_empty());
}

#[tokio::test]
async fn a_stars_plan_without_telegrams_renewal_lapses_after_the_grace() {
    let app = spawn_app().await;
    let user = new_user_id();
    let token = app.login(user).await;
    let invoice: Value = app
        .post_json("/api/payments", &token, &json!({"product": "sub_pro", "rail": "stars"}))
        .await
        .json()
        .await
        .unwrap();
    telegram_update(&app, &stars_paid(user, invoice["payment_id"].as_str().unwrap(), 600, "tg-pro-1", true)).await;
    sqlx::query(
        "update subscriptions set period_end = now() - interval '2 days', period_start = now() - interval '32 days'",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    app.actors.payments.run_renewals().await.expect("renewals run");
    let status: String = sqlx::query_scalar("select status from subscriptions where user_id = $1")
        .bind(user)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(status, "lapsed");
    let told = wait_until(std::time::Duration::from_secs(5), || async {
        app.sim_telegram_calls("sendMessage").await.iter().any(|m| {
            m["params"]["chat_id"] == user && m["params"]["text"].as_str().unwrap_or("").contains("закончилась")
        })
    })
    .await;
    assert!(told, "the user is told the plan ended");
}
