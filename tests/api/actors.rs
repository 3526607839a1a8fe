//! The actor shape under stress (issue 14): every core actor restarts under its supervisor with
//! its work resumed; per-user limits are released however a request ends; a generation and its
//! hold are one write; a Stars payment is never lost.

use std::time::Duration;

use primerka::domain::ids::UserId;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, new_user_id, spawn_app, spawn_app_with, stars_paid_update, wait_until};

/// Waits until the supervisor has put a running actor back in place.
async fn ready(app: &TestApp) {
    assert!(
        wait_until(Duration::from_secs(5), || async { app.actors.health.dead_children().is_empty() }).await,
        "the supervisor restarted the actor"
    );
}

async fn restarts_of(app: &TestApp, actor: &str) -> bool {
    let metrics = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    metrics.lines().any(|l| l.starts_with(&format!("primerka_actor_restarts_total{{actor=\"{actor}\"}}")))
}

async fn all_finished(app: &TestApp, count: i64) -> bool {
    wait_until(Duration::from_secs(30), || async {
        let done: i64 = sqlx::query_scalar("select count(*) from generations where status in ('succeeded', 'failed')")
            .fetch_one(&app.pool)
            .await
            .unwrap();
        done == count
    })
    .await
}

#[tokio::test]
async fn a_crashed_generator_pool_restarts_and_its_queued_jobs_still_finish() {
    let app = spawn_app_with(|env| {
        // One worker: the second and third jobs wait in the queue when the pool dies.
        env.insert("APP__GENERATION__WORKERS".into(), "1".into());
    })
    .await;
    let mut tokens = Vec::new();
    for _ in 0..3 {
        let token = app.login(new_user_id()).await;
        let (person, garment) = (app.upload_photo(&token).await, app.upload_photo(&token).await);
        assert_eq!(app.post_tryon(&token, &person, &[&garment]).await.status(), StatusCode::ACCEPTED);
        tokens.push(token);
    }
    app.actors.crash_for_test("generator_pool").await;
    ready(&app).await;
    assert!(all_finished(&app, 3).await, "every queued job finished after the restart");
    let succeeded: i64 = sqlx::query_scalar("select count(*) from generations where status = 'succeeded'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(succeeded, 3);
    assert_eq!(app.kie_stats().await["creates"], 3, "one task per job, none twice");
    assert!(restarts_of(&app, "generator_pool").await);
    // The next request succeeds.
    let (person, garment) = (app.upload_photo(&tokens[0]).await, app.upload_photo(&tokens[0]).await);
    assert_eq!(app.post_tryon(&tokens[0], &person, &[&garment]).await.status(), StatusCode::ACCEPTED);
    assert!(all_finished(&app, 4).await);
    assert!(app.ledger_differences().await.is_empty());
}

#[tokio::test]
async fn a_crashed_payment_actor_restarts_and_a_notification_during_the_restart_is_granted_once() {
    let app = spawn_app().await;
    let token = app.login(new_user_id()).await;
    let payment = app.buy(&token, "pack_100").await;
    let provider_id = payment["confirmation_url"].as_str().unwrap().rsplit('/').next().unwrap().to_string();
    // The actor dies; the simulated YooKassa pays and notifies at once (and again until 200).
    app.actors.crash_for_test("payments").await;
    let paid = app.client.post(app.url(&format!("/sim/yookassa/payments/{provider_id}/succeed"))).send().await.unwrap();
    assert!(paid.status().is_success());
    assert!(
        wait_until(Duration::from_secs(10), || async { app.balance_total(&token).await == 110 }).await,
        "the notification that arrived during the restart was granted"
    );
    ready(&app).await;
    assert!(restarts_of(&app, "payments").await);
    let status = app.get(&format!("/api/payments/{}", payment["payment_id"].as_str().unwrap()), &token).await;
    assert_eq!(status.status(), StatusCode::OK);
    let grants: i64 =
        sqlx::query_scalar("select count(*) from ledger where kind = 'purchase'").fetch_one(&app.pool).await.unwrap();
    assert_eq!(grants, 1, "granted once");
    // The next request succeeds.
    app.buy(&token, "pack_100").await;
    assert!(app.ledger_differences().await.is_empty());
}

#[tokio::test]
async fn a_crashed_notifier_restarts_and_still_delivers_what_it_held() {
    let app = spawn_app_with(|env| {
        // One message per second: the queue is still full when the notifier dies.
        env.insert("APP__TELEGRAM__SENDS_PER_SECOND".into(), "2".into());
    })
    .await;
    let chats: Vec<i64> = (0..6).map(|_| new_user_id()).collect();
    for chat in &chats {
        app.actors.notifier.send_text(*chat, format!("сообщение для {chat}"), None);
    }
    app.actors.crash_for_test("notifier").await;
    ready(&app).await;
    let delivered = wait_until(Duration::from_secs(15), || async {
        let sent = app.sim_telegram_calls("sendMessage").await;
        chats.iter().all(|chat| sent.iter().any(|m| m["chat_id"] == *chat))
    })
    .await;
    assert!(delivered, "every queued message was delivered after the restart");
    assert!(restarts_of(&app, "notifier").await);
    let sent = app.sim_telegram_calls("sendMessage").await;
    for chat in &chats {
        assert_eq!(sent.iter().filter(|m| m["chat_id"] == *chat).count(), 1, "delivered once to {chat}");
    }
}

#[tokio::test]
async fn a_crashed_scheduler_restarts_and_its_jobs_keep_running() {
    let app = spawn_app_with(|env| {
        env.insert("APP__CREDITS__HOLD_SWEEP_INTERVAL_SECS".into(), "1".into());
    })
    .await;
    let user = new_user_id();
    let token = app.login(user).await;
    app.actors.crash_for_test("scheduler").await;
    ready(&app).await;
    // A hold whose operation is long gone: the restarted scheduler's sweep releases it.
    let session = app.actors.sessions.session(UserId(user));
    let hold = session
        .reserve(primerka::actors::session::ReserveCmd {
            cost: 3,
            purpose: "tryon".into(),
            key: format!("test:{}", uuid::Uuid::new_v4()),
            generation_id: None,
        })
        .await
        .unwrap();
    sqlx::query("update holds set expires_at = now() - interval '1 minute' where id = $1")
        .bind(hold.id)
        .execute(&app.pool)
        .await
        .unwrap();
    assert!(
        wait_until(Duration::from_secs(10), || async { app.balance_total(&token).await == 10 }).await,
        "the expired hold was released by the restarted scheduler"
    );
    assert!(restarts_of(&app, "scheduler").await);
}

#[tokio::test]
async fn a_crashed_session_registry_restarts_and_the_user_carries_on() {
    let app = spawn_app().await;
    let user = new_user_id();
    let token = app.login(user).await;
    let (person, garment) = (app.upload_photo(&token).await, app.upload_photo(&token).await);
    assert_eq!(app.post_tryon(&token, &person, &[&garment]).await.status(), StatusCode::ACCEPTED);
    app.actors.crash_for_test("session_registry").await;
    ready(&app).await;
    assert!(all_finished(&app, 1).await, "the job started before the crash finished");
    assert_eq!(app.get("/api/me", &token).await.status(), StatusCode::OK, "the next request succeeds");
    assert!(
        wait_until(Duration::from_secs(5), || async { app.balance_total(&token).await == 8 }).await,
        "the try-on was paid once"
    );
    // The per-user cap is counted right by the new session: two more try-ons start.
    for _ in 0..2 {
        assert_eq!(app.post_tryon(&token, &person, &[&garment]).await.status(), StatusCode::ACCEPTED);
    }
    assert!(all_finished(&app, 3).await);
    assert!(restarts_of(&app, "session_registry").await);
    assert!(app.ledger_differences().await.is_empty());
}

#[tokio::test]
async fn chat_requests_abandoned_while_waiting_leave_the_user_able_to_chat() {
    let app = spawn_app().await;
    let token = app.login(new_user_id()).await;
    app.attach_photo(&token).await;
    // Every answer takes 1.5 s: the first request runs, the others wait behind it.
    app.openrouter_fault(json!({"delay_ms": 1500})).await;
    let impatient = reqwest::Client::builder().timeout(Duration::from_millis(300)).build().unwrap();
    for i in 0..3 {
        // Given up by the client's timeout while waiting.
        let _ = impatient
            .post(app.url("/api/chat/messages"))
            .bearer_auth(&token)
            .json(&json!({"text": format!("нетерпеливо {i}")}))
            .send()
            .await;
    }
    for i in 0..2 {
        // Dropped by the client: the connection closes while the request waits.
        let request = app
            .client
            .post(app.url("/api/chat/messages"))
            .bearer_auth(&token)
            .json(&json!({"text": format!("брошено {i}")}))
            .send();
        let _ = tokio::time::timeout(Duration::from_millis(100), request).await;
    }
    // The user writes again: not locked out (chat_busy), answered once the running turn ends.
    app.openrouter_fault(json!({"delay_ms": 0})).await;
    let started = std::time::Instant::now();
    let response = app.post_chat_message(&token, "я здесь").await;
    assert_eq!(response.status(), StatusCode::OK, "the user can chat at once");
    assert!(started.elapsed() < Duration::from_secs(5), "behind at most the one running turn");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["charged"], true);
    // Only turns that ran were charged: the abandoned waiting ones cost nothing.
    let answered: i64 = sqlx::query_scalar("select count(*) from assistant_requests where outcome = 'ok'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(
        wait_until(Duration::from_secs(5), || async { app.balance_total(&token).await == 10 - answered }).await,
        "one credit per answer that ran ({answered}), none for abandoned requests"
    );
    let holds: i64 =
        sqlx::query_scalar("select count(*) from holds where status = 'held'").fetch_one(&app.pool).await.unwrap();
    assert_eq!(holds, 0, "no hold left open");
    assert!(app.ledger_differences().await.is_empty());
}

#[tokio::test]
async fn generations_abandoned_at_every_stage_leave_the_user_able_to_start_more() {
    let app = spawn_app_with(|env| {
        env.insert("APP__GENERATION__MAX_WAIT_SECS".into(), "3".into());
        env.insert("APP__GENERATION__MAX_QUEUE".into(), "2".into());
        env.insert("APP__GENERATION__WORKERS".into(), "2".into());
    })
    .await;
    let token = app.login(new_user_id()).await;
    let (person, garment) = (app.upload_photo(&token).await, app.upload_photo(&token).await);
    // One job hangs at kie.ai until it times out (refunded); one fails at kie.ai (refunded); the
    // clients of both give up at once, and more requests are dropped mid-flight.
    app.kie_fault(json!({"hang_tasks": 1, "fail_tasks": 1})).await;
    let body = json!({"person_upload_id": person, "garment_upload_ids": [garment], "category": "top"});
    let requests = [5u64, 20, 60, 150].map(|ms| {
        let (url, token, body) = (app.url("/api/tryon"), token.clone(), body.clone());
        tokio::spawn(async move {
            let impatient = reqwest::Client::builder().timeout(Duration::from_millis(ms)).build().unwrap();
            let _ = impatient.post(url).bearer_auth(token).json(&body).send().await;
        })
    });
    for request in requests {
        request.await.unwrap();
    }
    assert!(
        wait_until(Duration::from_secs(30), || async {
            let (started, unfinished): (i64, i64) = sqlx::query_as(
                "select count(*), count(*) filter (where status in ('queued', 'submitted', 'running'))
                 from generations",
            )
            .fetch_one(&app.pool)
            .await
            .unwrap();
            started == 2 && unfinished == 0
        })
        .await,
        "two jobs were accepted (the cap) although their clients went away, and both ended"
    );
    let outcomes: Vec<(String, Option<String>)> =
        sqlx::query_as("select status, error_code from generations order by created_at")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert!(outcomes.iter().all(|(s, _)| s == "failed"), "the hung and the failed task were refunded: {outcomes:?}");
    // The cap (2) is free again: two new try-ons start at once.
    app.kie_fault(json!({"hang_tasks": 0, "fail_tasks": 0})).await;
    for _ in 0..2 {
        let response = app.post_tryon(&token, &person, &[&garment]).await;
        assert_eq!(response.status(), StatusCode::ACCEPTED, "{}", response.text().await.unwrap_or_default());
    }
    let holds: i64 = sqlx::query_scalar(
        "select count(*) from holds h join generations g on g.hold_id = h.id
         where h.status = 'held' and g.status in ('succeeded', 'failed')",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(holds, 0, "every finished job's hold was settled");
    assert!(app.ledger_differences().await.is_empty());
}

/// Makes the next writes to `table` fail inside the database (one statement each).
async fn sabotage(app: &TestApp, table: &str) {
    sqlx::query(
        "create or replace function sabotage() returns trigger language plpgsql as $$
         begin raise exception 'sabotaged'; end; $$",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    sqlx::query(&format!("create trigger sabotage before insert on {table} for each row execute function sabotage()"))
        .execute(&app.pool)
        .await
        .unwrap();
}

async fn repair(app: &TestApp, table: &str) {
    sqlx::query(&format!("drop trigger if exists sabotage on {table}")).execute(&app.pool).await.unwrap();
}

#[tokio::test]
async fn a_generation_and_its_hold_are_written_together_or_not_at_all() {
    let app = spawn_app().await;
    let token = app.login(new_user_id()).await;
    let (person, garment) = (app.upload_photo(&token).await, app.upload_photo(&token).await);
    for table in ["holds", "generations", "ledger"] {
        sabotage(&app, table).await;
        let refused = app.post_tryon(&token, &person, &[&garment]).await;
        assert!(refused.status().is_server_error(), "{table}: {}", refused.status());
        let (generations, holds): (i64, i64) =
            sqlx::query_as("select (select count(*) from generations), (select count(*) from holds)")
                .fetch_one(&app.pool)
                .await
                .unwrap();
        assert_eq!((generations, holds), (0, 0), "a failed write of {table} leaves neither row behind");
        assert_eq!(app.balance_total(&token).await, 10, "nothing was charged ({table})");
        repair(&app, table).await;
    }
    assert_eq!(app.post_tryon(&token, &person, &[&garment]).await.status(), StatusCode::ACCEPTED);
    let linked: i64 = sqlx::query_scalar(
        "select count(*) from generations g join holds h on h.id = g.hold_id and h.generation_id = g.id",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(linked, 1, "the row and its hold point at each other");
}

#[tokio::test]
async fn a_stars_payment_whose_first_apply_fails_is_granted_exactly_once() {
    let app = spawn_app().await;
    let user = new_user_id();
    let token = app.login(user).await;
    let invoice: Value = app
        .post_json("/api/payments", &token, &json!({"product": "pack_100", "method": "stars"}))
        .await
        .json()
        .await
        .unwrap();
    let id = invoice["payment_id"].as_str().unwrap();
    assert_eq!(app.balance_total(&token).await, 10, "the month's free credits are in the ledger already");
    // The database refuses the grant (as if briefly unavailable), but stores the inbox row.
    sabotage(&app, "ledger").await;
    let update = stars_paid_update(user, id, 130, "tg-charge-once", false);
    assert_eq!(app.telegram_update(&update).await, StatusCode::OK, "stored, so Telegram may stop sending it");
    let purchases: i64 =
        sqlx::query_scalar("select count(*) from ledger where kind = 'purchase'").fetch_one(&app.pool).await.unwrap();
    assert_eq!(purchases, 0, "not granted yet");
    let stored: (Option<chrono::DateTime<chrono::Utc>>, i32) =
        sqlx::query_as("select applied_at, attempts from stars_inbox where charge_id = 'tg-charge-once'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!((stored.0.is_none(), stored.1), (true, 1), "kept unapplied after one failed attempt");
    // The database is back; the scheduler's reconciliation applies it.
    repair(&app, "ledger").await;
    app.actors.payments.reconcile_stars().await.unwrap();
    assert_eq!(app.balance_total(&token).await, 110, "granted");
    // Telegram's duplicate delivery and another reconciliation change nothing.
    assert_eq!(app.telegram_update(&update).await, StatusCode::OK);
    app.actors.payments.reconcile_stars().await.unwrap();
    assert_eq!(app.balance_total(&token).await, 110, "granted exactly once");
    assert!(app.ledger_differences().await.is_empty());
}

#[tokio::test]
async fn a_stars_payment_that_cannot_be_stored_is_answered_with_an_error_so_telegram_retries() {
    let app = spawn_app().await;
    let user = new_user_id();
    let token = app.login(user).await;
    let invoice: Value = app
        .post_json("/api/payments", &token, &json!({"product": "pack_100", "method": "stars"}))
        .await
        .json()
        .await
        .unwrap();
    let update = stars_paid_update(user, invoice["payment_id"].as_str().unwrap(), 130, "tg-charge-retry", false);
    sabotage(&app, "stars_inbox").await;
    assert!(app.telegram_update(&update).await.is_server_error(), "not stored: Telegram must send it again");
    repair(&app, "stars_inbox").await;
    assert_eq!(app.telegram_update(&update).await, StatusCode::OK);
    assert_eq!(app.balance_total(&token).await, 110);
}

#[tokio::test]
async fn a_stars_payment_whose_update_never_came_is_found_in_the_transactions() {
    let app = spawn_app().await;
    let user = new_user_id();
    let token = app.login(user).await;
    let invoice: Value = app
        .post_json("/api/payments", &token, &json!({"product": "pack_100", "method": "stars"}))
        .await
        .json()
        .await
        .unwrap();
    let added = app
        .client
        .post(app.url("/sim/telegram/_control/star_transactions"))
        .json(&json!({"id": "tg-lost-update", "user_id": user, "amount": 130,
                      "invoice_payload": invoice["payment_id"]}))
        .send()
        .await
        .unwrap();
    assert!(added.status().is_success());
    app.actors.payments.reconcile_stars().await.unwrap();
    assert_eq!(app.balance_total(&token).await, 110, "granted from getStarTransactions");
    app.actors.payments.reconcile_stars().await.unwrap();
    assert_eq!(app.balance_total(&token).await, 110, "once");
    let source: String = sqlx::query_scalar("select source from stars_inbox").fetch_one(&app.pool).await.unwrap();
    assert_eq!(source, "transactions");
}
