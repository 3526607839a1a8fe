//! `primerka-loadtest`: simulated Mini App users against a Primerka server running on the
//! provider simulator. Each user signs initData with the bot token, logs in, keeps a WebSocket
//! open, and runs a mix of flows (editor chat, try-on with real uploads, buying a pack on the
//! simulated YooKassa page) until the run ends; then the invariants are checked: the ledger
//! check is clean, no balance is negative, every generation ended succeeded or refunded, and the
//! simulated kie.ai never saw its limits exceeded. Exit code 0 only when they hold.
//!
//! ```text
//! primerka-loadtest --base-url http://127.0.0.1:8080 --users 1000 --ramp-up 30 --duration 120 \
//!     --mix chat=3,tryon=2,buy=1 --admin-id 1
//! ```
//! Requests stay on loopback unless `--allow-remote`; the run stops by itself. Against a cluster,
//! give `--base-url` once per node (and `--sim-url` for the shared simulator): users are spread
//! round-robin and fail over to the next node when theirs stops answering.

mod fanout;
mod stats;
mod user;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};

use stats::Stats;

/// Command-line options.
#[derive(Debug, Clone)]
pub struct Options {
    /// The first `--base-url` (fan-out mode and messages use it).
    pub base_url: String,
    /// Every `--base-url`: users are spread round-robin and move to the next node when theirs
    /// stops answering (as a proxy in front of a cluster would).
    pub base_urls: Vec<String>,
    /// Where the provider simulator's control routes are (`--sim-url`; the first node by default).
    pub sim_url: Option<String>,
    pub users: usize,
    pub ramp_up: Duration,
    pub duration: Duration,
    pub mix: BTreeMap<String, u32>,
    pub bot_token: String,
    pub first_id: i64,
    pub admin_id: i64,
    pub think: Duration,
    pub json_out: Option<String>,
    pub allow_remote: bool,
    /// How long to wait after the run for jobs to finish before checking invariants.
    pub settle: Duration,
    /// `users` (flows + invariants, the default) or `fanout` (sockets + event delivery).
    pub mode: String,
    pub sockets: usize,
    pub events: usize,
    pub rate: f64,
    pub server_pid: Option<u32>,
    /// Fan-out trigger: `event` or `credit-cycle`.
    pub trigger: String,
    /// Fan-out: after the connected reading, wait this long (the server's idle sessions stop)
    /// and read the RSS again: the users only listen (0: no second reading).
    pub idle_wait: Duration,
}

fn usage() -> &'static str {
    "primerka-loadtest [--base-url URL]... [--sim-url URL] [--users N] [--ramp-up SECS] [--duration SECS] \
     [--mix chat=3,tryon=2,buy=1,idle=0] [--bot-token TOKEN] [--first-id ID] [--admin-id ID] \
     [--think-ms MS] [--settle SECS] [--json PATH] [--allow-remote]\n\
     primerka-loadtest --mode fanout [--sockets N] [--events N] [--rate PER_SEC] [--server-pid PID] [--trigger event|credit-cycle] [--idle-wait SECS] …"
}

fn parse_args() -> anyhow::Result<Options> {
    let mut o = Options {
        base_url: "http://127.0.0.1:8080".into(),
        base_urls: Vec::new(),
        sim_url: None,
        users: 50,
        ramp_up: Duration::from_secs(5),
        duration: Duration::from_secs(30),
        mix: BTreeMap::from([("chat".into(), 3), ("tryon".into(), 2), ("buy".into(), 1)]),
        bot_token: std::env::var("TELEGRAM_BOT_TOKEN").unwrap_or_else(|_| primerka::config::DEMO_BOT_TOKEN.into()),
        first_id: 7_000_000_000,
        admin_id: std::env::var("LOADTEST_ADMIN_ID").ok().and_then(|v| v.parse().ok()).unwrap_or(1),
        think: Duration::from_millis(200),
        json_out: None,
        allow_remote: false,
        settle: Duration::from_secs(60),
        mode: "users".into(),
        sockets: 1000,
        events: 2000,
        rate: 500.0,
        server_pid: None,
        trigger: "event".into(),
        idle_wait: Duration::ZERO,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().with_context(|| format!("{flag} needs a value\n{}", usage()));
        match flag.as_str() {
            "--base-url" => o.base_urls.push(value()?.trim_end_matches('/').to_string()),
            "--sim-url" => o.sim_url = Some(value()?.trim_end_matches('/').to_string()),
            "--users" => o.users = value()?.parse()?,
            "--ramp-up" => o.ramp_up = Duration::from_secs_f64(value()?.parse()?),
            "--duration" => o.duration = Duration::from_secs_f64(value()?.parse()?),
            "--mix" => {
                o.mix = value()?
                    .split(',')
                    .map(|kv| {
                        let (k, v) =
                            kv.split_once('=').with_context(|| format!("--mix entry {kv:?} is not name=weight"))?;
                        Ok((k.trim().to_string(), v.trim().parse::<u32>()?))
                    })
                    .collect::<anyhow::Result<_>>()?
            }
            "--bot-token" => o.bot_token = value()?,
            "--first-id" => o.first_id = value()?.parse()?,
            "--admin-id" => o.admin_id = value()?.parse()?,
            "--think-ms" => o.think = Duration::from_millis(value()?.parse()?),
            "--settle" => o.settle = Duration::from_secs_f64(value()?.parse()?),
            "--json" => o.json_out = Some(value()?),
            "--allow-remote" => o.allow_remote = true,
            "--mode" => o.mode = value()?,
            "--sockets" => o.sockets = value()?.parse()?,
            "--events" => o.events = value()?.parse()?,
            "--rate" => o.rate = value()?.parse()?,
            "--server-pid" => o.server_pid = Some(value()?.parse()?),
            "--trigger" => o.trigger = value()?,
            "--idle-wait" => o.idle_wait = Duration::from_secs_f64(value()?.parse()?),
            "--help" | "-h" => {
                println!("{}", usage());
                std::process::exit(0);
            }
            other => bail!("unknown flag {other}\n{}", usage()),
        }
    }
    for name in o.mix.keys() {
        if !user::SCENARIOS.contains(&name.as_str()) {
            bail!("unknown scenario {name:?} (known: {:?})", user::SCENARIOS);
        }
    }
    if o.mix.values().sum::<u32>() == 0 {
        bail!("--mix needs at least one scenario with a positive weight");
    }
    if o.base_urls.is_empty() {
        o.base_urls.push(o.base_url.clone());
    }
    o.base_url = o.base_urls[0].clone();
    for url in o.base_urls.iter().chain(&o.sim_url) {
        let host = url.split("://").nth(1).unwrap_or("").split(['/', ':']).next().unwrap_or("");
        if !o.allow_remote && !matches!(host, "127.0.0.1" | "localhost" | "[::1]") {
            bail!("refusing to load-test {host}: only loopback unless --allow-remote");
        }
    }
    Ok(o)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let options = parse_args()?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(512)
        .timeout(Duration::from_secs(180))
        .build()
        .context("building the HTTP client")?;
    for base in &options.base_urls {
        let ready =
            http.get(format!("{base}/readyz")).send().await.with_context(|| format!("{base} does not answer"))?;
        if !ready.status().is_success() {
            bail!("{base} is not ready: {}", ready.status());
        }
    }
    if options.mode == "fanout" {
        let report =
            fanout::run(&options, &http, options.sockets, options.events, options.rate, options.server_pid).await?;
        let text = serde_json::to_string_pretty(&report)?;
        println!("{text}");
        if let Some(path) = &options.json_out {
            tokio::fs::write(path, &text).await.with_context(|| format!("writing {path}"))?;
        }
        return Ok(());
    }
    if options.mode != "users" {
        bail!("--mode must be users or fanout");
    }
    let stats = Arc::new(Stats::default());
    let ctx = Arc::new(user::Context::new(options.clone(), http.clone(), stats.clone()));
    eprintln!(
        "load test: {} users, ramp-up {:?}, duration {:?}, mix {:?} against {}",
        options.users,
        options.ramp_up,
        options.duration,
        options.mix,
        options.base_urls.join(", ")
    );

    let creates_before = user::kie_creates(&ctx).await;
    let started = Instant::now();
    let deadline = started + options.ramp_up + options.duration;
    let mut tasks = Vec::with_capacity(options.users);
    for i in 0..options.users {
        let delay = options.ramp_up.mul_f64(i as f64 / options.users.max(1) as f64);
        let ctx = ctx.clone();
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            user::run(ctx, i, deadline.into()).await
        }));
    }
    let mut generations = Vec::new();
    let mut tokens = Vec::new();
    for task in tasks {
        match task.await {
            Ok(Ok(outcome)) => {
                generations.extend(outcome.generations.into_iter().map(|g| (outcome.token.clone(), g)));
                tokens.push(outcome.token);
            }
            Ok(Err(e)) => stats.error("user", format!("{e:#}")),
            Err(e) => stats.error("user", format!("task: {e}")),
        }
    }
    let elapsed = started.elapsed();
    eprintln!("load phase done in {:.1} s; checking invariants", elapsed.as_secs_f64());

    let invariants = user::check_invariants(&ctx, &tokens, &generations, creates_before).await;
    let report = json!({
        "users": options.users,
        "duration_s": elapsed.as_secs_f64(),
        "operations": stats.report(elapsed),
        "invariants": invariants,
    });
    let text = serde_json::to_string_pretty(&report)?;
    println!("{text}");
    if let Some(path) = &options.json_out {
        tokio::fs::write(path, &text).await.with_context(|| format!("writing {path}"))?;
    }
    let ok = invariants.get("ok").and_then(Value::as_bool).unwrap_or(false);
    if !ok {
        eprintln!("INVARIANTS VIOLATED");
        std::process::exit(2);
    }
    Ok(())
}
