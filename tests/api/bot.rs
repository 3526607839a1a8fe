use std::time::Duration;

use reqwest::StatusCode;
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use crate::helpers::{TestApp, new_user_id, spawn_app, spawn_app_with, wait_until};

fn start_update(user_id: i64, text: &str) -> Value {
    json!({
        "update_id": rand::random::<u32>(),
        "message": {
            "message_id": 1,
            "date": chrono::Utc::now().timestamp(),
            "chat": {"id": user_id, "type": "private"},
            "from": {"id": user_id, "is_bot": false, "first_name": "Аня", "language_code": "ru"},
            "text": text
        }
    })
}

async fn post_update(app: &TestApp, secret: &str, update: &Value) -> reqwest::Response {
    app.client
        .post(app.url("/webhooks/telegram"))
        .header("x-telegram-bot-api-secret-token", secret)
        .json(update)
        .send()
        .await
        .unwrap()
}

async fn messages_to(app: &TestApp, chat: i64) -> Vec<Value> {
    app.sim_telegram_calls("sendMessage").await.into_iter().filter(|c| c["chat_id"] == chat).collect()
}

#[tokio::test]
async fn start_answers_with_a_button_that_opens_the_mini_app() {
    let app = spawn_app().await;
    let user = new_user_id();
    let secret = app.settings.secrets.telegram_webhook_secret.expose_secret().to_string();

    let response = post_update(&app, &secret, &start_update(user, "/start")).await;
    assert_eq!(response.status(), StatusCode::OK);

    assert!(
        wait_until(Duration::from_secs(5), || async { !messages_to(&app, user).await.is_empty() }).await,
        "the bot answered"
    );
    let sent = &messages_to(&app, user).await[0];
    let button = &sent["params"]["reply_markup"]["inline_keyboard"][0][0];
    assert_eq!(button["web_app"]["url"], app.settings.public_base_url.as_str(), "{sent}");
    assert!(sent["params"]["text"].as_str().unwrap().starts_with("Привет"), "Russian for a Russian user");
}

#[tokio::test]
async fn a_wrong_secret_token_is_refused() {
    let app = spawn_app().await;
    let user = new_user_id();
    for secret in ["wrong", ""] {
        let response = post_update(&app, secret, &start_update(user, "/start")).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(messages_to(&app, user).await.is_empty(), "nothing was sent");
}

#[tokio::test]
async fn the_webhook_and_menu_button_are_set_at_start_up() {
    let app = spawn_app_with(|env| {
        env.insert("APP__TELEGRAM__CONFIGURE_ON_START".into(), "true".into());
    })
    .await;
    assert!(
        wait_until(Duration::from_secs(5), || async { !app.sim_telegram_calls("setChatMenuButton").await.is_empty() })
            .await
    );
    let menu = &app.sim_telegram_calls("setChatMenuButton").await[0];
    assert_eq!(menu["params"]["menu_button"]["type"], "web_app");
    assert_eq!(menu["params"]["menu_button"]["web_app"]["url"], app.settings.public_base_url.as_str());
    let webhook = &app.sim_telegram_calls("setWebhook").await[0];
    assert_eq!(webhook["params"]["url"], format!("{}/webhooks/telegram", app.settings.public_base_url));
    assert_eq!(webhook["params"]["secret_token"], app.settings.secrets.telegram_webhook_secret.expose_secret());
}

#[tokio::test]
async fn a_rate_limited_message_is_retried_after_the_wait_telegram_asks_for() {
    let app = spawn_app().await;
    let user = new_user_id();
    app.client
        .post(app.url("/sim/telegram/_control/faults"))
        .json(&json!({"method": "sendMessage", "error_code": 429, "retry_after": 1, "count": 1}))
        .send()
        .await
        .unwrap();

    app.actors.notifier.send_text(user, "hello", None);

    assert!(
        wait_until(Duration::from_secs(6), || async { messages_to(&app, user).await.iter().any(|c| c["ok"] == true) })
            .await
    );
    let calls = messages_to(&app, user).await;
    assert_eq!(calls.len(), 2, "one refused, one delivered");
    let gap = calls[1]["at"].as_str().unwrap().parse::<chrono::DateTime<chrono::Utc>>().unwrap()
        - calls[0]["at"].as_str().unwrap().parse::<chrono::DateTime<chrono::Utc>>().unwrap();
    assert!(gap >= chrono::Duration::milliseconds(950), "waited retry_after: {gap}");
}

#[tokio::test]
async fn a_user_who_blocked_the_bot_is_marked_and_not_retried() {
    let app = spawn_app().await;
    let user = new_user_id();
    app.login(user).await;
    app.client.post(app.url("/sim/telegram/_control/block")).json(&json!({"chat_id": user})).send().await.unwrap();

    app.actors.notifier.send_text(user, "your result is ready", None);

    let marked = wait_until(Duration::from_secs(5), || async {
        sqlx::query_scalar::<_, bool>("select bot_blocked from users where telegram_id = $1")
            .bind(user)
            .fetch_one(&app.pool)
            .await
            .unwrap()
    })
    .await;
    assert!(marked);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(messages_to(&app, user).await.len(), 1, "a 403 is not retried");
}

#[tokio::test]
async fn paysupport_names_the_contact_for_payment_questions() {
    let app = spawn_app().await;
    let user = new_user_id();
    let secret = app.settings.secrets.telegram_webhook_secret.expose_secret().to_string();
    let response = post_update(&app, &secret, &start_update(user, "/paysupport")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        wait_until(Duration::from_secs(5), || async { !messages_to(&app, user).await.is_empty() }).await,
        "the bot answered"
    );
    let text = messages_to(&app, user).await[0]["params"]["text"].as_str().unwrap().to_string();
    assert!(text.contains(&app.settings.file.telegram.support_contact) && text.contains("возвратах"), "{text}");
}

/// A finished try-on of a new user; returns the user's token and the generation id.
async fn user_with_a_result(app: &TestApp) -> (String, String) {
    let token = app.login(new_user_id()).await;
    let (person, garment) = (app.upload_photo(&token).await, app.upload_photo(&token).await);
    let accepted: Value = app.post_tryon(&token, &person, &[&garment]).await.json().await.unwrap();
    let id = accepted["generation_id"].as_str().unwrap().to_string();
    assert!(
        wait_until(Duration::from_secs(20), || async {
            let row: Value = app.get(&format!("/api/generations/{id}"), &token).await.json().await.unwrap();
            row["status"] == "succeeded"
        })
        .await
    );
    (token, id)
}

#[tokio::test]
async fn a_send_to_chat_flood_cannot_delay_another_users_payment_message() {
    let app = spawn_app().await;
    let mut flooders = Vec::new();
    for _ in 0..3 {
        flooders.push(user_with_a_result(&app).await);
    }
    // Three users hammer "send to chat" at once.
    let mut floods = Vec::new();
    for (token, id) in &flooders {
        let (client, url, token) = (app.client.clone(), app.url(&format!("/api/generations/{id}/send")), token.clone());
        floods.push(tokio::spawn(async move {
            let (mut accepted, mut refused) = (0, 0);
            for _ in 0..60 {
                let response = client.post(&url).bearer_auth(&token).send().await.unwrap();
                match response.status() {
                    StatusCode::ACCEPTED => accepted += 1,
                    StatusCode::TOO_MANY_REQUESTS => {
                        let body: Value = response.json().await.unwrap();
                        assert_eq!(body["error"]["code"], "rate_limited");
                        refused += 1;
                    }
                    other => panic!("unexpected {other}"),
                }
            }
            (accepted, refused)
        }));
    }
    // Meanwhile a fourth user pays: the thank-you must not wait behind the flood.
    let buyer = new_user_id();
    let token = app.login(buyer).await;
    let payment = app.buy(&token, "pack_100").await;
    let provider_id = payment["confirmation_url"].as_str().unwrap().rsplit('/').next().unwrap().to_string();
    app.client.post(app.url(&format!("/sim/yookassa/payments/{provider_id}/succeed"))).send().await.unwrap();
    assert!(wait_until(Duration::from_secs(10), || async { app.balance_total(&token).await == 110 }).await);
    let granted_at = std::time::Instant::now();
    let delivered = wait_until(Duration::from_secs(10), || async {
        messages_to(&app, buyer)
            .await
            .iter()
            .any(|m| m["params"]["text"].as_str().unwrap_or("").contains("Оплата прошла"))
    })
    .await;
    let waited = granted_at.elapsed();
    assert!(delivered, "the payment message was delivered");
    assert!(waited < Duration::from_secs(3), "delivered {waited:?} after the grant, ahead of the flood");
    for flood in floods {
        let (accepted, refused) = flood.await.unwrap();
        // Each send queues a photo and a file; a user may have 4 queued (2 sends), the rest wait
        // for their chat's pace (1 message per second) or are refused.
        assert!(accepted <= 10, "a flooder got only a few sends through: {accepted}");
        assert!(refused >= 50, "the rest were refused: {refused}");
    }
    // The queue held at most 4 media per flooder: its memory is bounded (keys, not bytes).
    let metrics = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    let queued_media = metrics
        .lines()
        .find(|l| l.starts_with("primerka_bot_queue{class=\"media\"}"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0);
    assert!(queued_media <= 12.0, "at most 4 queued media per flooder, {queued_media} queued");
}
