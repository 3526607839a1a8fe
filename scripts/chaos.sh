#!/usr/bin/env bash
# The chaos drill (issue 15): under the load tester's mixed load,
#   t=KILL_PG      PostgreSQL stops for PG_DOWN seconds and starts again,
#   t=FAULTS       kie.ai fails and hangs tasks and refuses createTask; OpenRouter answers 500s,
#                  then times out (delay beyond the client's timeout) for a while,
#   t=KILL_SERVER  the server is killed with SIGKILL and started again on the same port.
# Afterwards the load tester's invariants must hold (ledger check clean, no negative balance,
# every job succeeded or was refunded, kie.ai's limits kept), no payment may be granted twice,
# and no request may have been answered 500 (while the database is away the answer is 503 with
# Retry-After). The drill runs on its own private PostgreSQL (port CHAOS_PG_PORT, default 55439)
# so restarting it harms nothing else, and on a separate provider simulator so killing the
# server does not reset the providers. Figures: BENCHMARKS.md ("Reliability").
#
#   scripts/chaos.sh      USERS (30) DURATION (60) PROFILE (release; debug for a quick run)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$PROJECT_ROOT"

users="${USERS:-30}"
duration="${DURATION:-60}"
profile="${PROFILE:-release}"
port="${CHAOS_PORT:-18790}"
sim_port=$((port + 1))
pg_port="${CHAOS_PG_PORT:-55439}"
pg_down="${PG_DOWN:-5}"
kill_pg="${KILL_PG:-12}"
faults_at="${FAULTS:-22}"
kill_server="${KILL_SERVER:-35}"
state="$PROJECT_ROOT/.data/chaos"
json="${JSON:-target/chaos.json}"
export PRIMERKA_PG_DIR="$state/postgres" PRIMERKA_PG_PRIVATE=1
pg_url="postgres://postgres@127.0.0.1:$pg_port/postgres"
db_url="postgres://postgres@127.0.0.1:$pg_port/primerka_chaos"
mkdir -p "$state" "$(dirname "$json")"

server_pid="" sim_pid="" load_pid=""
cleanup() {
  for pid in "$load_pid" "$server_pid" "$sim_pid"; do
    [[ -n "$pid" ]] && kill "$pid" 2>/dev/null || true
  done
  scripts/stop-postgres.sh >/dev/null 2>&1 || true
}
trap cleanup EXIT

if [[ "${NO_BUILD:-}" != "1" ]]; then
  [[ -f frontend/dist/index.html ]] || scripts/build-frontend.sh >/dev/null
  if [[ "$profile" == "release" ]]; then cargo build --release --bins >&2; else cargo build --bins >&2; fi
fi
bin="target/$profile"

scripts/ensure-postgres.sh "$pg_url"
psql "$pg_url" -qc "drop database if exists primerka_chaos with (force)" -c "create database primerka_chaos" >/dev/null

PORT="$sim_port" "$bin/primerka-sim" >"$state/sim.log" 2>&1 &
sim_pid=$!
wait_http "http://127.0.0.1:$sim_port/sim/kie/_control/stats" 30 || die "the simulator did not start"
sim="http://127.0.0.1:$sim_port"

start_server() {
  APP_ENV=local PORT="$port" PUBLIC_BASE_URL="http://127.0.0.1:$port" DATABASE_URL="$db_url" \
    SIMULATOR=1 SIMULATOR_URL="$sim" RATE_LIMITS=off ADMIN_TELEGRAM_IDS=1 \
    JWT_SECRET="chaos-secret-chaos-secret-chaos-secret-1" MEDIA_SIGNING_KEY="chaos-media-key-chaos-media-key-1" \
    APP__GENERATION__MAX_WAIT_SECS=90 APP__GENERATION__MAX_QUEUE=100 APP__YOOKASSA__RECONCILE_INTERVAL_SECS=5 \
    RUST_LOG="${RUST_LOG:-primerka=info}" "$bin/primerka" >>"$state/server.log" 2>&1 &
  server_pid=$!
  wait_http "http://127.0.0.1:$port/healthz" 90 || die "the server did not start ($state/server.log)"
}
: >"$state/server.log"
start_server

"$bin/primerka-loadtest" --base-url "http://127.0.0.1:$port" --sim-url "$sim" --users "$users" --ramp-up 5 \
  --duration "$duration" --settle 180 --mix chat=2,tryon=3,buy=1 --admin-id 1 --json "$json" &
load_pid=$!
started=$SECONDS
at() { local t="$1"; while (( SECONDS - started < t )); do sleep 0.5; done; }

at "$kill_pg"
log "t=$((SECONDS - started)) s: PostgreSQL stops for ${pg_down} s"
scripts/stop-postgres.sh >/dev/null
sleep "$pg_down"
scripts/ensure-postgres.sh "$pg_url" >/dev/null
log "t=$((SECONDS - started)) s: PostgreSQL is back"

at "$faults_at"
log "t=$((SECONDS - started)) s: kie.ai fails, hangs and refuses; OpenRouter fails, then hangs"
curl -fsS -X POST "$sim/sim/kie/_control/faults" -H 'content-type: application/json' \
  -d '{"fail_tasks": 4, "hang_tasks": 3, "create_errors": 3, "create_error_code": 500}' >/dev/null
curl -fsS -X POST "$sim/sim/openrouter/_control/faults" -H 'content-type: application/json' \
  -d '{"status": 500, "count": 5}' >/dev/null
curl -fsS -X POST "$sim/sim/openrouter/_control/faults" -H 'content-type: application/json' \
  -d '{"delay_ms": 120000}' >/dev/null
sleep 6
curl -fsS -X POST "$sim/sim/openrouter/_control/faults" -H 'content-type: application/json' -d '{"delay_ms": 0}' >/dev/null

at "$kill_server"
log "t=$((SECONDS - started)) s: kill -9 the server, start it again"
kill -9 "$server_pid"
wait "$server_pid" 2>/dev/null || true
start_server
log "t=$((SECONDS - started)) s: the server is back"

status=0
wait "$load_pid" || status=$?
load_pid=""
log "the load tester finished (exit $status); report: $json"
if grep -qE '"(500|internal)"' "$json"; then warn "a request was answered 500"; status=3; fi
double="$(psql "$db_url" -Atc "select count(*) from (select payment_id from ledger where kind in ('purchase', 'grant') and payment_id is not null group by payment_id having count(*) > 1) d")"
pending="$(psql "$db_url" -Atc "select count(*) from payments where status = 'pending'")"
paid="$(psql "$db_url" -Atc "select count(*) from payments where status = 'succeeded'")"
log "payments: $paid granted, $double granted twice, $pending still pending"
[[ "$double" == 0 ]] || { warn "a payment was granted twice"; status=4; }
errors="$(python3 -c "import json,sys; r=json.load(open('$json')); print(', '.join(f'{k}: {v[\"errors\"]}' for k, v in r['operations'].items() if v['errors']))")"
log "errors seen by users (each answered with a code, none a 500): ${errors:-none}"
exit "$status"
