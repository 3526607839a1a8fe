//! Session actors at scale: memory per idle `SessionActor`, time to activate one, and whether
//! idle ones are stopped on time. Runs against a fresh PostgreSQL database
//! (`TEST_DATABASE_URL`, default postgres://postgres@127.0.0.1:5432/postgres).
//!
//! `cargo bench --bench sessions -- [users…]` (default 10000 100000).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use primerka::config::Settings;
use primerka::domain::ids::UserId;
use primerka::startup::Application;

/// Resident memory after returning freed heap pages to the OS (so transient allocations of
/// the activation burst don't count as per-session memory).
fn rss_bytes() -> u64 {
    // SAFETY: malloc_trim only releases free memory at the top of glibc's heaps.
    unsafe {
        libc::malloc_trim(0);
    }
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(run())
}

async fn run() -> anyhow::Result<()> {
    let counts: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let counts = if counts.is_empty() { vec![10_000, 100_000] } else { counts };
    let admin =
        std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    for n in counts {
        let db = format!("primerka_bench_{}", uuid::Uuid::new_v4().simple());
        let base = admin.rsplit_once('/').map(|(b, _)| b.to_string()).unwrap_or(admin.clone());
        let env: HashMap<String, String> = HashMap::from([
            ("APP_ENV".into(), "test".into()),
            ("PORT".into(), "0".into()),
            ("DATABASE_URL".into(), format!("{base}/{db}")),
            ("JWT_SECRET".into(), "bench-secret-bench-secret-bench-secret-00".into()),
            ("SIMULATOR".into(), "1".into()),
            ("RATE_LIMITS".into(), "off".into()),
            ("APP__SERVER__HOST".into(), "127.0.0.1".into()),
            ("APP__SESSIONS__IDLE_TIMEOUT_SECS".into(), "5".into()),
            ("APP__SESSIONS__SWEEP_INTERVAL_SECS".into(), "1".into()),
        ]);
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
        let settings = Settings::from_env(&env, &dir)?;
        let app = Application::build(settings).await?;
        let pool = app.pool.clone();
        let sessions = app.actors.sessions.clone();
        tokio::spawn(app.run_until_stopped(std::future::pending()));
        sqlx::query(
            "insert into users (telegram_id, first_name) select g, 'bench' from generate_series(1, $1::bigint) g",
        )
        .bind(n as i64)
        .execute(&pool)
        .await?;

        let before = rss_bytes();
        let started = Instant::now();
        // Activate through the registry without touching the database (the actor loads lazily).
        let mut failures = 0usize;
        for chunk in (1..=n as i64).collect::<Vec<_>>().chunks(1000) {
            let calls = chunk.iter().map(|id| {
                let s = sessions.session(UserId(*id));
                async move { s.touch().await }
            });
            failures += futures::future::join_all(calls).await.iter().filter(|r| r.is_err()).count();
        }
        let activation = started.elapsed();
        tokio::time::sleep(Duration::from_millis(500)).await;
        let after = rss_bytes();
        let live = sessions.live();
        println!(
            "sessions={n} live={live} failures={failures} activation_total_ms={} per_activation_us={:.1} rss_delta_mib={:.1} bytes_per_session={}",
            activation.as_millis(),
            activation.as_micros() as f64 / n as f64,
            (after.saturating_sub(before)) as f64 / 1048576.0,
            after.saturating_sub(before) / n as u64
        );
        let idle_started = Instant::now();
        while sessions.live() > 0 && idle_started.elapsed() < Duration::from_secs(60) {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        println!(
            "idle sessions stopped after {:.1} s (idle timeout 5 s, sweep 1 s); live now {}",
            idle_started.elapsed().as_secs_f64(),
            sessions.live()
        );
        pool.close().await;
    }
    Ok(())
}
