//! The `primerka` server: load settings, set up telemetry, build the application, serve until
//! SIGTERM or Ctrl-C.

use primerka::config::{AppEnv, Settings};
use primerka::startup::{Application, shutdown_signal};
use primerka::telemetry;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::load()?;
    telemetry::init_tracing(settings.env == AppEnv::Production);
    let _ = telemetry::prometheus();
    let app = Application::build(settings).await?;
    tracing::info!(port = app.port(), url = %app.settings.public_base_url, "Primerka is listening");
    app.run_until_stopped(shutdown_signal()).await
}
