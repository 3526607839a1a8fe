//! `primerka-sim`: the provider simulator on its own (tests and load tests that must outlive
//! the app process). `PORT` (default 0 = any free port) and `SIM_BOT_TOKEN` (optional: enforce
//! the bot token like Telegram does); prints `listening on http://127.0.0.1:<port>`.

use std::net::SocketAddr;

use primerka::simulator::{self, SimConfig, SimState};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    primerka::telemetry::init_tracing(false);
    let port: u16 = std::env::var("PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(0);
    let latency_scale: f64 = std::env::var("SIM_LATENCY_SCALE").ok().and_then(|v| v.parse().ok()).unwrap_or(1.0);
    let state = SimState::new(SimConfig {
        bot_token: std::env::var("SIM_BOT_TOKEN").ok(),
        latency_scale,
        control: primerka::simulator::ControlAccess::from_env(),
    });
    let (addr, task) = simulator::serve(SocketAddr::from(([127, 0, 0, 1], port)), state).await?;
    println!("listening on http://{addr}");
    tokio::select! {
        _ = task => {},
        _ = primerka::startup::shutdown_signal() => {},
    }
    Ok(())
}
