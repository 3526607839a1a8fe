//! Latency histograms (HDR) and error counts per operation, shared by all virtual users.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde_json::{Value, json};

#[derive(Default)]
struct Op {
    latency: Option<Histogram<u64>>,
    errors: BTreeMap<String, u64>,
}

/// Collected figures; cheap to share behind an `Arc`.
#[derive(Default)]
pub struct Stats {
    ops: Mutex<BTreeMap<&'static str, Op>>,
}

impl Stats {
    /// Records a successful operation that took `took`.
    pub fn ok(&self, op: &'static str, took: Duration) {
        let mut ops = self.ops.lock().unwrap_or_else(|p| p.into_inner());
        let entry = ops.entry(op).or_default();
        let histogram = entry.latency.get_or_insert_with(|| {
            Histogram::new_with_bounds(1, 600_000_000, 3).expect("static histogram bounds are valid")
        });
        let _ = histogram.record((took.as_micros() as u64).max(1));
    }

    /// Records a failed operation with a stable error code (the API's `error.code`, an HTTP
    /// status, or a transport problem).
    pub fn error(&self, op: &'static str, code: impl Into<String>) {
        let mut ops = self.ops.lock().unwrap_or_else(|p| p.into_inner());
        *ops.entry(op).or_default().errors.entry(code.into()).or_default() += 1;
    }

    /// A JSON report: per operation count, rate, p50/p90/p99/max (ms) and errors by code.
    pub fn report(&self, elapsed: Duration) -> Value {
        let ops = self.ops.lock().unwrap_or_else(|p| p.into_inner());
        let secs = elapsed.as_secs_f64().max(0.001);
        let mut out = serde_json::Map::new();
        for (name, op) in ops.iter() {
            let ms = |q: f64| op.latency.as_ref().map(|h| h.value_at_quantile(q) as f64 / 1000.0).unwrap_or(0.0);
            let count = op.latency.as_ref().map(|h| h.len()).unwrap_or(0);
            out.insert(
                name.to_string(),
                json!({
                    "ok": count,
                    "per_second": count as f64 / secs,
                    "p50_ms": ms(0.5),
                    "p90_ms": ms(0.9),
                    "p99_ms": ms(0.99),
                    "max_ms": op.latency.as_ref().map(|h| h.max() as f64 / 1000.0).unwrap_or(0.0),
                    "errors": op.errors,
                }),
            );
        }
        Value::Object(out)
    }
}
