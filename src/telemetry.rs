//! Tracing subscriber and the Prometheus recorder, each set up once per process.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::{EnvFilter, fmt, layer::SubscriberExt, util::SubscriberInitExt};

/// Installs the global tracing subscriber: JSON lines in production, human-readable
/// otherwise; the filter comes from `RUST_LOG` (default `primerka=info,tower_http=info`).
/// Safe to call more than once (later calls do nothing).
pub fn init_tracing(json: bool) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("primerka=info,tower_http=info,warn"));
    let registry = tracing_subscriber::registry().with(filter);
    let _ = if json {
        registry.with(fmt::layer().json().flatten_event(true).with_current_span(true)).try_init()
    } else {
        registry.with(fmt::layer().compact()).try_init()
    };
}

/// Tracing for tests: silent unless `TEST_LOG` is set.
pub fn init_test_tracing() {
    if std::env::var_os("TEST_LOG").is_some() {
        init_tracing(false);
    }
}

static PROMETHEUS: OnceLock<PrometheusHandle> = OnceLock::new();

/// How often the recorder folds recorded histogram samples into its buckets.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// The name of the thread that does it (tests look for it).
pub const UPKEEP_THREAD: &str = "metrics-upkeep";

/// The process-wide Prometheus recorder (metrics' global recorder can be set only once, and
/// tests run several applications in one process).
///
/// A histogram keeps every recorded sample until the recorder's upkeep folds them into its
/// buckets; `build_recorder` (unlike the exporter's own listener) runs no upkeep, and without a
/// Prometheus scraping `/metrics` each request's duration stayed in memory for good. A thread
/// of its own runs it, whatever runtime the applications of the process use.
pub fn prometheus() -> PrometheusHandle {
    PROMETHEUS
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets(&[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0])
                .expect("static bucket list is not empty")
                .build_recorder();
            let handle = recorder.handle();
            // Fails only if another recorder was installed first; metrics then go there.
            let _ = metrics::set_global_recorder(recorder);
            let upkeep = handle.clone();
            let spawned = std::thread::Builder::new().name(UPKEEP_THREAD.into()).spawn(move || {
                loop {
                    std::thread::sleep(UPKEEP_EVERY);
                    upkeep.run_upkeep();
                }
            });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "could not start the metrics upkeep; histograms drain only when scraped");
            }
            handle
        })
        .clone()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_recorder_comes_with_the_thread_that_folds_histogram_samples() {
        let _ = super::prometheus();
        let threads = || -> Vec<String> {
            std::fs::read_dir("/proc/self/task")
                .expect("Linux's /proc")
                .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
                .map(|name| name.trim().to_string())
                .collect()
        };
        // A new thread names itself once it runs: until then it shows its parent's name.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while !threads().iter().any(|name| name == super::UPKEEP_THREAD) {
            assert!(std::time::Instant::now() < deadline, "threads: {:?}", threads());
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
}
