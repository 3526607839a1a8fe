#!/usr/bin/env bash
# WebSocket benchmark: SOCKETS authenticated sockets held open on one release server, each
# receiving balance events triggered through the bench probe; reports server RSS per user and
# event-delivery percentiles (primerka-loadtest --mode fanout). Repeats ROUNDS times.
# Two readings per round: "connected" 2 s after the last socket opened (every user just used
# their session), and "listening" IDLE_WAIT s later (default 25), once the server's sessions
# stopped as idle (idle timeout 20 s here, 600 s in production; a socket keeps no session) —
# what 10,000 users who only listen cost.
#
#   scripts/bench/ws-fanout.sh [rounds=3] [sockets=10000] [events=3000] [rate=500]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
rounds="${1:-3}"; sockets="${2:-10000}"; events="${3:-3000}"; rate="${4:-500}"
idle_wait="${IDLE_WAIT:-25}"
port="${BENCH_PORT:-18092}"
pghost="${PGHOST:-127.0.0.1}"; pgport="${PGPORT:-5432}"
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
server_bin="${SERVER_BIN:-./target/release/primerka}"  # another build to compare with (a same-run baseline)
[[ -n "${SKIP_BUILD:-}" ]] || cargo build --release --bin primerka --bin primerka-loadtest >/dev/null
work="$(mktemp -d)"
server_pid=""
db=""
stop() {
  [[ -n "$server_pid" ]] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
  server_pid=""
  [[ -n "$db" ]] && psql -h "$pghost" -p "$pgport" -U postgres -d postgres -qc "drop database if exists $db with (force)" >/dev/null 2>&1 || true
}
trap 'stop; rm -rf "$work"' EXIT
for r in $(seq "$rounds"); do
  db="primerka_bench_ws_${$}_$r"
  APP_ENV=test PORT="$port" DATABASE_URL="postgres://postgres@$pghost:$pgport/$db" \
    JWT_SECRET=bench-secret-bench-secret-bench-secret-00 RATE_LIMITS=off RUST_LOG=warn \
    APP__BENCH__CREDIT_PROBE=true APP__SESSIONS__IDLE_TIMEOUT_SECS=20 APP__SESSIONS__SWEEP_INTERVAL_SECS=2 \
    "$server_bin" >"$work/server.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break; sleep 0.2; done
  echo "round $r:"
  ./target/release/primerka-loadtest --mode fanout --base-url "http://127.0.0.1:$port" --sockets "$sockets" \
    --events "$events" --rate "$rate" --server-pid "$server_pid" --idle-wait "$idle_wait" --json "$work/round$r.json" >/dev/null
  python3 - "$work/round$r.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
rss = d.get("server_rss_bytes", {})
users = d.get("sockets", 0) or 1
# Per user against the idle process at the start: the login now also reads /api/me (the Mini
# App's start), which starts the user's session, so "logged in" already holds the sessions.
per_user = (rss.get("connected", 0) - rss.get("start", 0)) / users
print(f"  RSS per connected user (socket + session): {per_user / 1024:.1f} KiB (start {rss.get('start', 0) / 2**20:.0f} MiB, "
      f"logged in {rss.get('logged_in', 0) / 2**20:.0f} MiB, connected {rss.get('connected', 0) / 2**20:.0f} MiB "
      f"= {rss.get('connected', 0) / 1e6:.0f} MB)")
if rss.get("listening"):
    listening = (rss["listening"] - rss.get("start", 0)) / users
    print(f"  RSS per listening user (idle sessions stopped): {listening / 1024:.1f} KiB "
          f"(process {rss['listening'] / 2**20:.0f} MiB = {rss['listening'] / 1e6:.0f} MB)")
lat = {k: v for k, v in d.items() if k not in ("server_rss_bytes",)}
print("  " + json.dumps(lat))
PY
  stop
done
