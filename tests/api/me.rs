use chrono::Datelike;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{new_user_id, spawn_app};

#[tokio::test]
async fn a_new_user_sees_the_months_ten_free_credits() {
    let app = spawn_app().await;
    let token = app.login(new_user_id()).await;

    let me = app.get_me(&token).await;

    assert_eq!(me["balance"]["free"], 10, "{me}");
    assert_eq!(me["balance"]["subscription"], 0);
    assert_eq!(me["balance"]["purchased"], 0);
    assert_eq!(me["balance"]["total"], 10);
    assert_eq!(me["plan"], Value::Null);
    assert_eq!(me["prices"]["tryon"], 2);
    assert_eq!(me["prices"]["chat_message"], 1);
    assert_eq!(me["prices"]["edit_generation"], 1);
    // The allowance resets at the next first of the month, midnight in Moscow (21:00 UTC the day before).
    let resets: chrono::DateTime<chrono::Utc> = me["balance"]["free_resets_at"].as_str().unwrap().parse().unwrap();
    let moscow = resets.with_timezone(&chrono_tz::Europe::Moscow);
    assert_eq!((moscow.day(), moscow.format("%H:%M").to_string()), (1, "00:00".to_string()));
    assert!(resets > chrono::Utc::now());

    // Reading again grants nothing twice.
    let again = app.get_me(&token).await;
    assert_eq!(again["balance"]["free"], 10);
    assert!(app.ledger_differences().await.is_empty());
}

#[tokio::test]
async fn the_history_shows_the_monthly_grant_in_the_callers_language() {
    let app = spawn_app().await;
    let token = app.login(new_user_id()).await;
    app.get_me(&token).await;

    let ru: Value = app.get("/api/me/ledger", &token).await.json().await.unwrap();
    assert_eq!(ru["items"][0]["kind"], "grant", "{ru}");
    assert_eq!(ru["items"][0]["amount"], 10);
    assert_eq!(ru["items"][0]["description"], "Начислено 10: бесплатные кредиты на месяц");

    let en: Value = app
        .client
        .get(app.url("/api/me/ledger"))
        .bearer_auth(&token)
        .header("accept-language", "en-US,en;q=0.9")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(en["items"][0]["description"], "Added 10: free credits for the month");
    assert_eq!(en["next_cursor"], Value::Null);
}

#[tokio::test]
async fn the_language_setting_is_kept_across_logins() {
    let app = spawn_app().await;
    let id = new_user_id();
    let token = app.login(id).await;

    let response = app.patch_me(&token, &json!({"language_code": "en"})).await;
    assert_eq!(response.status(), StatusCode::OK);
    app.login(id).await;
    assert_eq!(
        app.get_me(&token).await["user"]["language_code"],
        "en",
        "Telegram's 'ru' does not override the chosen language"
    );

    let bad = app.patch_me(&token, &json!({"language_code": "xx"})).await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn deleting_my_data_clears_the_profile_but_keeps_the_ledger() {
    let app = spawn_app().await;
    let id = new_user_id();
    let token = app.login(id).await;
    app.get_me(&token).await;

    let response = app.client.delete(app.url("/api/me")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    let (first_name, username): (String, Option<String>) =
        sqlx::query_as("select first_name, username from users where telegram_id = $1")
            .bind(id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(first_name, "");
    assert_eq!(username, None);
    let ledger_rows: i64 = sqlx::query_scalar("select count(*) from ledger where user_id = $1")
        .bind(id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(ledger_rows > 0, "accounting rows stay");
}
