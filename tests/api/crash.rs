//! The real `primerka` binary killed with SIGKILL while paid work is in flight, then started
//! again on the same database and storage: every job ends succeeded or refunded, no
//! generation gets a second provider task, no hold stays open and the ledger check is clean.
//!
//! The simulator runs in this test process (`primerka::simulator::serve`), so it outlives the
//! killed server and its counters see both lives of the app.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use primerka::simulator::{SimConfig, SimState};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::process::{Child, Command};

use crate::helpers::{JWT_SECRET, database_url_for, free_port, new_user_id, solid_png, wait_until};

struct Server {
    child: Child,
    base: String,
}

/// Starts the `primerka` binary with `env` and waits until it answers `/healthz`.
async fn start(env: &HashMap<String, String>, work_dir: &std::path::Path, client: &reqwest::Client) -> Server {
    let child = Command::new(env!("CARGO_BIN_EXE_primerka"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env)
        .current_dir(work_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the primerka binary starts");
    let base = format!("http://127.0.0.1:{}", env["PORT"]);
    let up = wait_until(Duration::from_secs(30), || async {
        client.get(format!("{base}/healthz")).send().await.is_ok_and(|r| r.status().is_success())
    })
    .await;
    assert!(up, "the server answered /healthz");
    Server { child, base }
}

async fn sigkill(server: &mut Server) {
    server.child.start_kill().expect("SIGKILL sent");
    let status = server.child.wait().await.expect("the child is reaped");
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(libc::SIGKILL), "the server died of SIGKILL, not a clean exit");
}

async fn upload(client: &reqwest::Client, base: &str, token: &str, colour: [u8; 4]) -> String {
    let part = reqwest::multipart::Part::bytes(solid_png(colour)).file_name("p.png").mime_str("image/png").unwrap();
    let response = client
        .post(format!("{base}/api/uploads"))
        .bearer_auth(token)
        .multipart(reqwest::multipart::Form::new().part("file", part))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    response.json::<Value>().await.unwrap()["upload_id"].as_str().unwrap().to_string()
}

async fn kie_stats(client: &reqwest::Client, sim: SocketAddr) -> Value {
    client.get(format!("http://{sim}/sim/kie/_control/stats")).send().await.unwrap().json().await.unwrap()
}

#[tokio::test]
async fn sigkill_with_five_jobs_in_flight_loses_no_credit_and_makes_no_second_task() {
    primerka::telemetry::init_test_tracing();
    // Tasks take ~2.4 s in the simulator, so the kill lands while all five are at kie.ai.
    let sim_state = SimState::new(SimConfig { bot_token: None, latency_scale: 0.3, control: Default::default() });
    let (sim, _sim_task) = primerka::simulator::serve("127.0.0.1:0".parse().unwrap(), sim_state).await.unwrap();

    let db_name = format!("primerka_test_{}", uuid::Uuid::new_v4().simple());
    let storage = tempfile::Builder::new().prefix("primerka-crash").tempdir().unwrap();
    // The project folder, as `make run` starts it (prompts and fonts are found relative to it).
    let work_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let port = free_port();
    let bot_token = format!("{}:CRASH-{}", 100_000 + rand::random::<u32>() % 899_999, uuid::Uuid::new_v4().simple());
    let config_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let env: HashMap<String, String> = HashMap::from([
        ("APP_ENV".into(), "test".into()),
        ("PORT".into(), port.to_string()),
        ("PUBLIC_BASE_URL".into(), format!("http://127.0.0.1:{port}")),
        ("DATABASE_URL".into(), database_url_for(&db_name)),
        ("JWT_SECRET".into(), JWT_SECRET.into()),
        ("TELEGRAM_BOT_TOKEN".into(), bot_token.clone()),
        ("SIMULATOR".into(), "1".into()),
        ("SIMULATOR_URL".into(), format!("http://{sim}")),
        ("RATE_LIMITS".into(), "off".into()),
        ("PRIMERKA_CONFIG_DIR".into(), config_dir.display().to_string()),
        ("APP__SERVER__HOST".into(), "127.0.0.1".into()),
        ("APP__STORAGE__LOCAL_DIR".into(), storage.path().display().to_string()),
        ("RUST_LOG".into(), "warn".into()),
    ]);
    let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
    let mut server = start(&env, work_dir, &client).await;
    let secret = primerka::auth::init_data::secret_key(&bot_token);

    let mut users = Vec::new();
    for _ in 0..5 {
        let user = new_user_id();
        let user_json = json!({"id": user, "first_name": "Краш", "language_code": "ru"});
        let init = primerka::auth::init_data::sign_for_user(&user_json, chrono::Utc::now().timestamp(), &secret);
        let login: Value = client
            .post(format!("{}/api/auth/telegram", server.base))
            .json(&json!({"init_data": init}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = login["token"].as_str().expect("a token").to_string();
        // Photos need the privacy policy accepted first.
        let consents: Value = client
            .get(format!("{}/api/me/consents", server.base))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let consent = client
            .post(format!("{}/api/me/consents", server.base))
            .bearer_auth(&token)
            .json(&json!({"kind": "privacy", "version": consents["versions"]["privacy"]}))
            .send()
            .await
            .unwrap();
        assert_eq!(consent.status(), StatusCode::CREATED);
        let person = upload(&client, &server.base, &token, [200, 150, 120, 255]).await;
        let garment = upload(&client, &server.base, &token, [20, 40, 200, 255]).await;
        let response = client
            .post(format!("{}/api/tryon", server.base))
            .bearer_auth(&token)
            .json(&json!({"person_upload_id": person, "garment_upload_ids": [garment], "category": "top"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        users.push(user);
    }
    let pool = PgPool::connect(&database_url_for(&db_name)).await.unwrap();
    let submitted = wait_until(Duration::from_secs(20), || async {
        let n: i64 = sqlx::query_scalar("select count(*) from generations where provider_task_id is not null")
            .fetch_one(&pool)
            .await
            .unwrap();
        n == 5
    })
    .await;
    assert!(submitted, "all five jobs reached kie.ai");

    sigkill(&mut server).await;
    let open: i64 =
        sqlx::query_scalar("select count(*) from holds where status = 'held'").fetch_one(&pool).await.unwrap();
    let unfinished: i64 =
        sqlx::query_scalar("select count(*) from generations where status not in ('succeeded', 'failed')")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!((open, unfinished), (5, 5), "the kill landed between reserve and commit of every job");

    let server = start(&env, work_dir, &client).await;
    let resolved = wait_until(Duration::from_secs(60), || async {
        let n: i64 = sqlx::query_scalar("select count(*) from generations where status in ('succeeded', 'failed')")
            .fetch_one(&pool)
            .await
            .unwrap();
        n == 5
    })
    .await;
    assert!(resolved, "every job was resolved after the restart");
    let settled = wait_until(Duration::from_secs(10), || async {
        let n: i64 =
            sqlx::query_scalar("select count(*) from holds where status = 'held'").fetch_one(&pool).await.unwrap();
        n == 0
    })
    .await;
    assert!(settled, "no hold stays open");

    let rows: Vec<(i64, String, bool)> =
        sqlx::query_as("select user_id, status, refunded from generations").fetch_all(&pool).await.unwrap();
    for (user, status, refunded) in &rows {
        assert!(status == "succeeded" || *refunded, "user {user}: {status}, refunded {refunded}");
        let balance: i64 = sqlx::query_scalar(
            "select (free_credits + sub_credits + purchased_credits)::bigint from users where telegram_id = $1",
        )
        .bind(user)
        .fetch_one(&pool)
        .await
        .unwrap();
        let expected = if status == "succeeded" { 8 } else { 10 };
        assert_eq!(balance, expected, "user {user}: charged only for a delivered result");
    }
    let tasks: Vec<(String, i64)> = sqlx::query_as(
        "select provider_task_id, count(*) from generations where provider_task_id is not null group by 1 having count(*) > 1",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(tasks.is_empty(), "no task is shared: {tasks:?}");
    let stats = kie_stats(&client, sim).await;
    let outcomes: Vec<&str> = rows.iter().map(|(_, status, _)| status.as_str()).collect();
    eprintln!("after the restart: {outcomes:?}; simulator {stats}");
    assert_eq!(stats["creates"], 5, "no generation got a second provider task: {stats}");
    assert!(primerka::db::credits::check(&pool).await.unwrap().is_empty(), "the ledger check is clean");
    assert!(users.iter().all(|u| rows.iter().any(|(r, _, _)| r == u)));
    drop(server);
}
