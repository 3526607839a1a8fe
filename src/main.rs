//! The `primerka` server: load settings, set up telemetry, build the application, serve until
//! SIGTERM or Ctrl-C.

use primerka::config::{AppEnv, Settings};
use primerka::startup::{Application, shutdown_signal};
use primerka::telemetry;

/// jemalloc, told to hand freed pages back to the system within about a second: a burst of
/// connections (each briefly holding hyper's 16 KiB read buffer until its WebSocket upgrade)
/// no longer leaves its peak in the RSS. 10,000 connected users: 22.5 → 15.3 KiB each
/// (BENCHMARKS.md, WebSockets). `_RJEM_MALLOC_CONF` in the environment overrides it.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[repr(transparent)]
struct MallocConf(*const std::ffi::c_char);
// SAFETY: a pointer to an immutable, NUL-terminated static string; jemalloc only reads it.
unsafe impl Sync for MallocConf {}

#[used]
#[unsafe(export_name = "_rjem_malloc_conf")]
static MALLOC_CONF: MallocConf = MallocConf(c"background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0".as_ptr());

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::load()?;
    telemetry::init_tracing(settings.env == AppEnv::Production);
    let _ = telemetry::prometheus();
    let app = Application::build(settings).await?;
    tracing::info!(port = app.port(), url = %app.settings.public_base_url, "Primerka is listening");
    app.run_until_stopped(shutdown_signal()).await
}
