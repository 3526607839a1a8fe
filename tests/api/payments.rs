//! Buying a pack through the simulated YooKassa: the page, the notification, the re-fetch, the
//! single grant, and the webhook's trust checks.

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
    assert!(location.ends_with(&format!("/plans?payment={}", payment["payment_id"].as_str().unwrap())));

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
    // Production's list only: loopback is not YooKassa.
    let app = spawn_app_with(|env| {
        env.insert("APP__YOOKASSA__ALLOWED_NETWORKS".into(), "185.71.76.0/27".into());
    })
    .await;
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
    app.client
        .post(app.url("/sim/yookassa/_control/webhook"))
        .json(&json!({"url": "http://127.0.0.1:9/nowhere"}))
        .send()
        .await
        .unwrap();
    let payment = buy(&app, &token, "pack_100").await;
    app.client
        .post(app.url(&format!("/sim/yookassa/payments/{}/succeed", provider_id(&payment))))
        .send()
        .await
        .unwrap();
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
    let sub = app.post_json("/api/payments", &token, &json!({"product": "sub_basic"})).await;
    assert_eq!(sub.status(), StatusCode::CONFLICT);
}
