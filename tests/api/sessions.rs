use std::time::Duration;

use primerka::actors::session::{ReserveCmd, SessionError};
use primerka::db::credits::Settled;
use primerka::domain::credits::CreditError;
use primerka::domain::ids::UserId;
use reqwest::StatusCode;

use crate::helpers::{new_user_id, spawn_app, spawn_app_with, wait_until};
use crate::ws::{connect, next_event_of};

fn cmd(cost: i32, key: &str) -> ReserveCmd {
    ReserveCmd { cost, purpose: "tryon".into(), key: key.into(), generation_id: None }
}

#[tokio::test]
async fn a_panicking_session_is_restarted_with_its_state_reloaded() {
    let app = spawn_app().await;
    let id = new_user_id();
    let token = app.login(id).await;
    let session = app.actors.sessions.session(UserId(id));
    session.reserve(cmd(2, "crash-test")).await.unwrap();
    let mut socket = connect(&app, &token).await;
    assert_eq!(next_event_of(&mut socket, "balance").await["data"]["free"], 8);

    session.crash_for_test().await.unwrap();

    // The supervisor restarts the session at once, its state reloaded from the database; the
    // socket (registered in the socket hub, not in the session) stays open and hears the
    // restarted session's next change.
    let me = app.get_me(&token).await;
    assert_eq!(me["balance"]["free"], 8, "state reloaded from the database");
    session.reserve(cmd(1, "after-crash")).await.unwrap();
    let again = next_event_of(&mut socket, "balance").await;
    assert_eq!(again["data"]["free"], 7, "the same socket hears the restarted session");
    let restarts = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(
        restarts.lines().any(|l| l.starts_with("primerka_actor_restarts_total{actor=\"session\"}")),
        "restart counted"
    );
    assert!(app.ledger_differences().await.is_empty());
}

#[tokio::test]
async fn idle_sessions_are_stopped_on_time() {
    let app = spawn_app_with(|env| {
        env.insert("APP__SESSIONS__IDLE_TIMEOUT_SECS".into(), "1".into());
        env.insert("APP__SESSIONS__SWEEP_INTERVAL_SECS".into(), "1".into());
    })
    .await;
    let id = new_user_id();
    let token = app.login(id).await;
    app.get_me(&token).await;
    assert!(app.actors.sessions.is_running(UserId(id)));

    assert!(
        wait_until(Duration::from_secs(6), || async { !app.actors.sessions.is_running(UserId(id)) }).await,
        "stopped after the idle timeout"
    );
    // The next request simply starts it again.
    assert_eq!(app.get_me(&token).await["balance"]["free"], 10);
}

#[tokio::test]
async fn a_user_who_only_listens_keeps_no_session_and_still_hears_every_change() {
    let app = spawn_app_with(|env| {
        env.insert("APP__SESSIONS__IDLE_TIMEOUT_SECS".into(), "1".into());
        env.insert("APP__SESSIONS__SWEEP_INTERVAL_SECS".into(), "1".into());
    })
    .await;
    let id = new_user_id();
    let user = UserId(id);
    let token = app.login(id).await;
    // The Mini App's start: the profile (the session grants the month's free allowance), then
    // the socket, opened here once that session stopped as idle.
    assert_eq!(app.get_me(&token).await["balance"]["free"], 10);
    assert!(
        wait_until(Duration::from_secs(6), || async { !app.actors.sessions.is_running(user) }).await,
        "the session stops when idle"
    );
    let mut socket = connect(&app, &token).await;
    assert_eq!(next_event_of(&mut socket, "balance").await["data"]["free"], 10, "the balance comes from a read");
    assert!(!app.actors.sessions.is_running(user), "opening a socket starts no session");

    // A change through the session reaches the socket; the session then stops when idle while
    // the socket stays open.
    app.actors.sessions.session(user).reserve(cmd(2, "listen")).await.unwrap();
    assert_eq!(next_event_of(&mut socket, "balance").await["data"]["free"], 8);
    let session = app.actors.sessions.session(user);
    let hold = sqlx::query_scalar::<_, uuid::Uuid>("select id from holds where idempotency_key = 'listen'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    session.release(primerka::domain::ids::HoldId(hold), "test").await.unwrap();
    assert_eq!(next_event_of(&mut socket, "balance").await["data"]["free"], 10);
    assert!(
        wait_until(Duration::from_secs(6), || async { !app.actors.sessions.is_running(user) }).await,
        "an idle session stops even with a socket open"
    );

    // A grant elsewhere (another node, the payment actor): the balance reaches the socket
    // although no session ran when it happened.
    sqlx::query("update users set purchased_credits = purchased_credits + 5 where telegram_id = $1")
        .bind(id)
        .execute(&app.pool)
        .await
        .unwrap();
    app.actors.sessions.reload(user);
    let granted = next_event_of(&mut socket, "balance").await;
    assert_eq!(granted["data"]["purchased"], 5);
    assert_eq!(granted["data"]["total"], 15);
}

#[tokio::test]
async fn two_hundred_concurrent_reservations_against_ten_credits_let_exactly_five_through() {
    let app = spawn_app().await;
    let id = new_user_id();
    let token = app.login(id).await;
    app.get_me(&token).await;
    let session = app.actors.sessions.session(UserId(id));

    let attempts = (0..200).map(|i| {
        let session = session.clone();
        async move { session.reserve(cmd(2, &format!("race:{i}"))).await }
    });
    let results = futures::future::join_all(attempts).await;

    let ok = results.iter().filter(|r| r.is_ok()).count();
    let short = results
        .iter()
        .filter(|r| matches!(r, Err(SessionError::Credit(CreditError::InsufficientCredits { .. }))))
        .count();
    assert_eq!(ok, 5);
    assert_eq!(short, 195, "every other attempt is told the balance is short");
    assert_eq!(app.get_me(&token).await["balance"]["total"], 0);
    let negative: i64 = sqlx::query_scalar(
        "select count(*) from users where free_credits < 0 or sub_credits < 0 or purchased_credits < 0",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(negative, 0);
    assert!(app.ledger_differences().await.is_empty());
}

#[tokio::test]
async fn holds_settle_exactly_once() {
    let app = spawn_app().await;
    let id = new_user_id();
    let token = app.login(id).await;
    let session = app.actors.sessions.session(UserId(id));

    let first = session.reserve(cmd(2, "op-1")).await.unwrap();
    let again = session.reserve(cmd(2, "op-1")).await.unwrap();
    assert_eq!(first.id, again.id, "the same key returns the same hold");
    assert!(again.existing);
    assert!(first.watermarked, "paid from the free allowance");
    assert_eq!(app.get_me(&token).await["balance"]["free"], 8, "charged once");

    assert_eq!(session.commit(first.id).await.unwrap(), Settled::Now);
    assert_eq!(session.commit(first.id).await.unwrap(), Settled::Already);
    assert!(matches!(session.release(first.id, "generation_failed").await, Err(SessionError::Conflict)));
    assert_eq!(app.get_me(&token).await["balance"]["free"], 8);

    let second = session.reserve(cmd(1, "op-2")).await.unwrap();
    assert_eq!(session.release(second.id, "generation_failed").await.unwrap(), Settled::Now);
    assert_eq!(session.release(second.id, "generation_failed").await.unwrap(), Settled::Already);
    assert!(matches!(session.commit(second.id).await, Err(SessionError::Conflict)));
    assert_eq!(app.get_me(&token).await["balance"]["free"], 8);

    let history: serde_json::Value = app.get("/api/me/ledger", &token).await.json().await.unwrap();
    let descriptions: Vec<&str> =
        history["items"].as_array().unwrap().iter().map(|i| i["description"].as_str().unwrap()).collect();
    assert_eq!(
        descriptions,
        vec![
            "Возвращено 1: генерация не удалась",
            "Списано 1 за примерку",
            "Списано 2 за примерку",
            "Начислено 10: бесплатные кредиты на месяц"
        ]
    );
    assert!(app.ledger_differences().await.is_empty());
}

#[tokio::test]
async fn expired_holds_are_released_by_the_sweep() {
    let app = spawn_app_with(|env| {
        env.insert("APP__CREDITS__HOLD_TTL_SECS".into(), "1".into());
        env.insert("APP__CREDITS__HOLD_SWEEP_INTERVAL_SECS".into(), "1".into());
    })
    .await;
    let id = new_user_id();
    let token = app.login(id).await;
    app.actors.sessions.session(UserId(id)).reserve(cmd(2, "forgotten")).await.unwrap();
    assert_eq!(app.get_me(&token).await["balance"]["free"], 8);

    let released =
        wait_until(Duration::from_secs(8), || async { app.get_me(&token).await["balance"]["free"] == 10 }).await;
    assert!(released, "the sweep gave the credits back");
    assert!(app.ledger_differences().await.is_empty());
}

#[tokio::test]
async fn holds_left_by_a_crash_are_settled_at_start_up() {
    let app = spawn_app().await;
    let id = new_user_id();
    let token = app.login(id).await;
    app.actors.sessions.session(UserId(id)).reserve(cmd(2, "interrupted")).await.unwrap();

    // A second process on the same database stands in for the restart after a crash.
    let db_name = app.db_name.clone();
    let restarted = spawn_app_with(|env| {
        env.insert("DATABASE_URL".into(), crate::helpers::database_url_for(&db_name));
        env.insert("JWT_SECRET".into(), crate::helpers::JWT_SECRET.into());
    })
    .await;

    let me = restarted.get("/api/me", &token).await;
    assert_eq!(me.status(), StatusCode::OK);
    let me: serde_json::Value = me.json().await.unwrap();
    assert_eq!(me["balance"]["free"], 10, "the interrupted operation's credits came back");
    let status: String = sqlx::query_scalar("select status from holds where idempotency_key = 'interrupted'")
        .fetch_one(&restarted.pool)
        .await
        .unwrap();
    assert_eq!(status, "released");
    assert!(restarted.ledger_differences().await.is_empty());
}

#[tokio::test]
async fn the_credit_probe_is_off_by_default_and_runs_the_real_credit_path_when_on() {
    let off = spawn_app().await;
    let token = off.login(new_user_id()).await;
    assert_eq!(
        off.post_json("/api/bench/credit-cycle", &token, &serde_json::json!({})).await.status(),
        StatusCode::NOT_FOUND
    );

    let app = spawn_app_with(|env| {
        env.insert("APP__BENCH__CREDIT_PROBE".into(), "true".into());
    })
    .await;
    let token = app.login(new_user_id()).await;
    for _ in 0..3 {
        assert_eq!(
            app.post_json("/api/bench/credit-cycle", &token, &serde_json::json!({})).await.status(),
            StatusCode::OK
        );
    }
    assert_eq!(app.get_me(&token).await["balance"]["total"], 7);
    let committed: i64 =
        sqlx::query_scalar("select count(*) from holds where status = 'committed'").fetch_one(&app.pool).await.unwrap();
    assert_eq!(committed, 3);
    assert!(app.ledger_differences().await.is_empty());
}

/// A reserve request for `user` as a session would build it (snapshot just read).
async fn request_for(pool: &sqlx::PgPool, user: UserId, cost: i32, key: &str) -> primerka::db::credits::ReserveRequest {
    let snapshot = primerka::db::credits::load_state(pool, user).await.unwrap();
    primerka::db::credits::ReserveRequest {
        hold_id: primerka::domain::ids::HoldId::new(),
        user,
        key: key.into(),
        purpose: "tryon".into(),
        split: primerka::domain::credits::split_cost(cost, &snapshot.buckets).unwrap(),
        expected: snapshot,
        generation_id: None,
        expires_at: chrono::Utc::now() + chrono::Duration::minutes(30),
        generation: None,
    }
}

#[tokio::test]
async fn several_users_reserves_and_commits_apply_one_by_one_in_one_statement() {
    let app = spawn_app().await;
    let mut users = Vec::new();
    for _ in 0..3 {
        let id = new_user_id();
        let token = app.login(id).await;
        // The month's free credits arrive with the first look at the balance.
        app.get_me(&token).await;
        users.push(UserId(id));
    }
    let mut reqs = Vec::new();
    for (i, user) in users.iter().enumerate() {
        reqs.push(request_for(&app.pool, *user, 2, &format!("multi:{i}:{}", user.0)).await);
    }
    // The second user's row changed after the snapshot (a grant, another node): only that
    // reserve does not apply.
    reqs[1].expected.buckets.free += 1;
    let mut conn = app.pool.acquire().await.unwrap();
    let refs: Vec<&primerka::db::credits::ReserveRequest> = reqs.iter().collect();
    let applied = primerka::db::credits::reserve_many(&mut conn, &refs).await.unwrap();
    assert_eq!(applied[0].map(|b| b.free), Some(8));
    assert_eq!(applied[1], None, "a stale snapshot applies nothing");
    assert_eq!(applied[2].map(|b| b.free), Some(8));
    let holds: Vec<(uuid::Uuid, i32)> =
        sqlx::query_as("select id, amount from holds where idempotency_key like 'multi:%' order by created_at")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(holds.len(), 2);
    assert!(holds.iter().all(|(id, amount)| *amount == 2 && (*id == reqs[0].hold_id.0 || *id == reqs[2].hold_id.0)));

    // Commit the first hold alone, then both in one statement: only the second is this call's.
    let first = reqs[0].hold_id;
    let third = reqs[2].hold_id;
    assert_eq!(primerka::db::credits::commit(&mut conn, first).await.unwrap(), Settled::Now);
    let done = primerka::db::credits::commit_many(&mut conn, &[first, third]).await.unwrap();
    assert_eq!(done, vec![false, true]);
    let commits: i64 =
        sqlx::query_scalar("select count(*) from ledger where kind = 'commit' and idempotency_key like 'multi:%'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(commits, 2, "one commit row per hold");
    assert!(app.ledger_differences().await.is_empty());
}

#[tokio::test]
async fn a_batching_writer_keeps_every_users_balance_exact() {
    // One writer worker and no direct places: concurrent operations of many users queue up
    // and run in batches.
    let app = spawn_app_with(|env| {
        env.insert("APP__CREDITS__WRITER_WORKERS".into(), "1".into());
        env.insert("APP__CREDITS__WRITER_DIRECT".into(), "0".into());
    })
    .await;
    let mut users = Vec::new();
    for _ in 0..24 {
        let id = new_user_id();
        let token = app.login(id).await;
        users.push((UserId(id), token));
    }
    let cycles = users.iter().map(|(user, _)| {
        let session = app.actors.sessions.session(*user);
        async move {
            for i in 0..4 {
                let hold = session.reserve(cmd(1, &format!("batch:{}:{i}", user.0))).await.unwrap();
                if i % 2 == 0 {
                    assert_eq!(session.commit(hold.id).await.unwrap(), Settled::Now);
                } else {
                    assert_eq!(session.release(hold.id, "generation_failed").await.unwrap(), Settled::Now);
                }
            }
        }
    });
    futures::future::join_all(cycles).await;
    for (_, token) in &users {
        assert_eq!(app.get_me(token).await["balance"]["total"], 8, "two spent, two returned");
    }
    assert!(app.ledger_differences().await.is_empty());
}

#[tokio::test]
async fn the_credit_writer_keeps_a_clean_connection_and_gives_back_one_cut_off_half_way() {
    use primerka::db::credit_writer::CreditWriter;
    let app = spawn_app().await;
    let id = new_user_id();
    let token = app.login(id).await;
    // The session grants the month's free credits on first use.
    assert_eq!(app.get_me(&token).await["balance"]["total"], 10);
    let user = UserId(id);
    // A pool of its own, so nothing else borrows from it while we count.
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect(&crate::helpers::database_url_for(&app.db_name))
        .await
        .unwrap();
    let writer = CreditWriter::start(pool.clone(), 0, 1, 1);

    // Operations one after another run on one connection that the writer keeps: it is not
    // handed back to the pool (which would ping it) between them.
    // (The requests are read through the app's pool: only the writer uses this one.)
    for i in 0..3 {
        let request = request_for(&app.pool, user, 1, &format!("kept:{i}")).await;
        let hold = request.hold_id;
        assert!(writer.reserve(request).await.unwrap().is_some());
        assert_eq!(writer.commit(hold).await.unwrap(), Settled::Now);
        // A connection handed back would be idle in the pool within moments.
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!((pool.size(), pool.num_idle()), (1, 0), "one connection, kept by the writer");
    }
    // A statement's refusal leaves the connection clean: still kept.
    let unknown = writer.commit(primerka::domain::ids::HoldId::new()).await;
    assert!(unknown.is_err(), "an unknown hold is refused");
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!((pool.size(), pool.num_idle()), (1, 0), "still kept after a refusal");

    // An operation cut off while PostgreSQL works on it (the user's row is locked elsewhere):
    // its connection is in doubt and goes back to the pool, which checks it; nothing is reused
    // half-way and the next operation succeeds on a clean connection.
    let mut blocker = app.pool.begin().await.unwrap();
    sqlx::query("select 1 from users where telegram_id = $1 for update").bind(id).execute(&mut *blocker).await.unwrap();
    let request = request_for(&app.pool, user, 1, "kept:cut").await;
    let cut = tokio::time::timeout(Duration::from_millis(300), writer.reserve(request)).await;
    assert!(cut.is_err(), "the reserve waited for the lock");
    blocker.rollback().await.unwrap();
    assert!(
        wait_until(Duration::from_secs(5), || async { (pool.size(), pool.num_idle()) == (1, 1) }).await,
        "the cut-off connection went back to the pool, checked"
    );
    let request = request_for(&app.pool, user, 1, "kept:after").await;
    let hold = request.hold_id;
    assert!(writer.reserve(request).await.unwrap().is_some());
    assert_eq!(writer.commit(hold).await.unwrap(), Settled::Now);
    let count = |sql: &'static str| {
        let pool = app.pool.clone();
        async move { sqlx::query_scalar::<_, i64>(sql).bind(id).fetch_one(&pool).await.unwrap() }
    };
    let total =
        count("select (free_credits + sub_credits + purchased_credits)::bigint from users where telegram_id = $1");
    let open = count("select count(*) from holds where user_id = $1 and status = 'held'");
    // The cut-off reserve ran once the lock was gone (its hold stays open until it expires).
    assert_eq!((total.await, open.await), (5, 1), "four spent, one held");
    assert!(app.ledger_differences().await.is_empty());
}

#[tokio::test]
async fn the_credit_writer_keeps_no_connection_others_need_nor_one_it_stopped_using() {
    use primerka::db::credit_writer::CreditWriter;
    let app = spawn_app().await;
    let (a, b) = (new_user_id(), new_user_id());
    for id in [a, b] {
        let token = app.login(id).await;
        assert_eq!(app.get_me(&token).await["balance"]["total"], 10);
    }
    // A pool of two for the writer alone; two direct places; unused connections go back after
    // 300 ms.
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect(&crate::helpers::database_url_for(&app.db_name))
        .await
        .unwrap();
    let writer = CreditWriter::start_keeping(pool.clone(), 0, 1, 2, Duration::from_millis(300));

    // A's reserve waits on a lock and holds one connection; B's runs on the pool's other one.
    let mut blocker = app.pool.begin().await.unwrap();
    sqlx::query("select 1 from users where telegram_id = $1 for update").bind(a).execute(&mut *blocker).await.unwrap();
    let waiting = tokio::spawn({
        let writer = writer.clone();
        let request = request_for(&app.pool, UserId(a), 1, "room:a").await;
        async move { writer.reserve(request).await }
    });
    assert!(wait_until(Duration::from_secs(5), || async { pool.size() == 1 }).await);
    let request = request_for(&app.pool, UserId(b), 1, "room:b").await;
    assert!(writer.reserve(request).await.unwrap().is_some());
    // Every connection of the pool was out when B's finished: it went back, for whoever waits.
    assert!(
        wait_until(Duration::from_secs(5), || async { (pool.size(), pool.num_idle()) == (2, 1) }).await,
        "B's connection is back in the pool: {:?}",
        (pool.size(), pool.num_idle())
    );
    assert!(pool.acquire().await.is_ok(), "another user of the pool gets a connection");

    // A's finishes with room in the pool: the writer keeps that one, until it has gone unused
    // for its keep time.
    blocker.rollback().await.unwrap();
    assert!(waiting.await.unwrap().unwrap().is_some());
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!((pool.size(), pool.num_idle()), (2, 1), "the writer keeps A's connection for now");
    assert!(
        wait_until(Duration::from_secs(5), || async { pool.num_idle() == 2 }).await,
        "unused, it went back to the pool"
    );
    assert!(app.ledger_differences().await.is_empty());
}
