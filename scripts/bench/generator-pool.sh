#!/usr/bin/env bash
# Generator-pool benchmark (issue 7): one release server in demo mode on the kie.ai simulator
# answering at once (latency_scale 0), driven by primerka-loadtest with try-on only.
#   1. overhead: a few users, no backlog → try-on end-to-end p50/p99, and the service's own time
#      per generation from the server's "generation timing" log lines (the worker's time minus
#      waiting on kie.ai's calls, its task and its budget: our database writes, the result's
#      checks, watermark, encoding and storing, settling and announcing);
#   2. burst: many users submitting at once (5 try-ons each from the free credits) → the achieved
#      createTask rate against kie.ai's 20 per 10 s, and the 429s kie.ai answered (must be 0).
#
#   scripts/bench/generator-pool.sh [burst_users=40] [overhead_users=4] [burst_seconds=10]
# A 1,000-job burst: 200 users for 480 s (each keeps one try-on in flight; ~2 creates/s).
# SIM_LATENCY_SCALE (default 0: kie.ai answers at once) scales the simulated task time of 8 s;
# 0.0125 makes a task take 100 ms, so work the service overlaps with kie.ai's can overlap.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
burst_users="${1:-40}"
overhead_users="${2:-4}"
burst_seconds="${3:-10}"
port="${BENCH_PORT:-18093}"
pghost="${PGHOST:-127.0.0.1}"; pgport="${PGPORT:-5432}"
server_bin="${SERVER_BIN:-./target/release/primerka}"  # another build to compare with (a same-run baseline)
[[ -n "${SKIP_BUILD:-}" ]] || cargo build --release --bin primerka --bin primerka-loadtest >/dev/null
work="$(mktemp -d)"
server_pid=""; db=""
stop() {
  [[ -n "$server_pid" ]] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
  server_pid=""
  [[ -n "$db" ]] && psql -h "$pghost" -p "$pgport" -U postgres -d postgres -qc "drop database if exists $db with (force)" >/dev/null 2>&1 || true
}
trap 'stop; rm -rf "$work"' EXIT
start() {
  db="primerka_bench_pool_${$}_$1"
  APP_ENV=test PORT="$port" PUBLIC_BASE_URL="http://127.0.0.1:$port" DATABASE_URL="postgres://postgres@$pghost:$pgport/$db" \
    JWT_SECRET=bench-secret-bench-secret-bench-secret-00 RATE_LIMITS=off ADMIN_TELEGRAM_IDS=1 \
    RUST_LOG=warn,primerka::actors::generator=info NO_COLOR=1 \
    APP__SIMULATOR__LATENCY_SCALE="${SIM_LATENCY_SCALE:-0}" APP__SESSIONS__MAX_IN_FLIGHT_GENERATIONS=5 \
    APP__GENERATION__MAX_WAIT_SECS=900 APP__GENERATION__MAX_QUEUE=1500 APP__GENERATION__WORKERS=64 \
    APP__STORAGE__LOCAL_DIR="$work/storage-$1" "$server_bin" >"$work/server-$1.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break; sleep 0.2; done
}
run() { # name users duration settle
  ./target/release/primerka-loadtest --base-url "http://127.0.0.1:$port" --users "$2" --ramp-up 1 --duration "$3" \
    --settle "$4" --mix tryon=1 --admin-id 1 --json "$work/$1.json" >/dev/null 2>&1 || true
  python3 - "$work/$1.json" "$1" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); name = sys.argv[2]
op = d["operations"].get("tryon_end_to_end", {})
kie = d["invariants"]["kie"]
print(f"{name}: jobs ok={op.get('ok')} p50={op.get('p50_ms')} ms p99={op.get('p99_ms')} ms; invariants ok={d['invariants']['ok']}")
span = (kie.get("last_create_ms", 0) - kie.get("first_create_ms", 0)) / 1000
if kie["creates"] > 1 and span > 0:
    # The most a sliding 20-per-10-s budget allows from the first create to the last.
    allowed = 20 * (int(span // 10) + 1)
    print(f"{name}: creates={kie['creates']} over {span:.1f} s; the budget allows at most {allowed} in that span "
          f"→ {kie['creates'] / allowed * 100:.1f} %; max in a 10 s window={kie['max_creates_in_window']}; "
          f"429s: creates={kie['rejected_creates']} polls={kie['rejected_polls']}")
PY
}
own_time() { # log
  python3 - "$1" <<'PY'
import re, statistics, sys
text = re.sub(r"\x1b\[[0-9;]*m", "", open(sys.argv[1]).read())
rows = [(float(o), float(w)) for o, w in re.findall(r"own_ms=([0-9.]+) waiting_ms=([0-9.]+)", text)]
if rows:
    own = sorted(o for o, _ in rows); wait = sorted(w for _, w in rows)
    q = lambda v, p: v[min(len(v) - 1, int(p * len(v)))]
    print(f"own time per generation ({len(own)} jobs): p50={statistics.median(own):.1f} ms p99={q(own, 0.99):.1f} ms; "
          f"waiting on kie.ai p50={statistics.median(wait):.1f} ms")
PY
}
start overhead; run overhead "$overhead_users" 20 30; stop; own_time "$work/server-overhead.log"
start burst; run burst "$burst_users" "$burst_seconds" 240; stop
