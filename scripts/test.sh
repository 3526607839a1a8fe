#!/usr/bin/env bash
# `make test` (and CI's `.ci/run`): every test of the project, installing what it needs.
#   1. rust      — unit, property and integration tests (real PostgreSQL, real HTTP/WebSockets)
#   2. scripts   — the shell scripts' own tests (PostgreSQL provisioning)
#   3. frontend  — type check, lint, Vitest unit tests, production build
#   4. e2e       — Playwright (playwright-core + Debian's Chromium), every flow twice: in a plain
#                  browser against the server in demo mode, and inside an emulated Telegram
#                  client against a second server configured like production (a bot token and a
#                  webhook secret, so no development login; providers simulated);
#                  screenshots in frontend/test-results/screenshots
#   5. loadtest  — a short primerka-loadtest run against the same server, invariants checked
#   6. cluster   — the cluster drill, short: two nodes on one database and one S3 store, users
#                  round-robin, one node killed with SIGKILL mid-load (scripts/cluster-drill.sh)
# SKIP="e2e loadtest" skips steps by name. Each step's time is printed at the end.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$PROJECT_ROOT"
export CI="${CI:-}"
export TEST_DATABASE_URL="${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
skip=" ${SKIP:-} "
declare -a timings=()
server_pid=""
e2e_db=""
tg_server_pid=""
tg_db=""
# The production-like server of the Telegram-emulated suite: a test bot (the harness signs initData
# with its token, as Telegram does, and posts updates with the secret), nothing real behind it.
E2E_TG_BOT_TOKEN="7000000001:E2E-emulated-telegram-client-bot-token"
E2E_TG_WEBHOOK_SECRET="e2e-webhook-secret"

cleanup() {
  for pid in "$server_pid" "$tg_server_pid"; do
    if [[ -n "$pid" ]]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  done
  for db in "$e2e_db" "$tg_db"; do
    if [[ -n "$db" ]]; then psql "$TEST_DATABASE_URL" -qc "drop database if exists $db with (force)" >/dev/null 2>&1 || true; fi
  done
}
trap cleanup EXIT

step() {
  local name="$1"; shift
  if [[ "$skip" == *" $name "* ]]; then log "skipping $name"; return 0; fi
  log "step: $name"
  local started=$SECONDS
  "$@"
  timings+=("$(printf '%-10s %4ss' "$name" $((SECONDS - started)))")
}

prepare() {
  "$PROJECT_ROOT/scripts/ensure-postgres.sh" "$TEST_DATABASE_URL"
  have psql || apt_install postgresql-client
  have curl || apt_install curl
  have cargo || die "cargo not found: install Rust with rustup"
  # An S3-compatible server for the object_store S3 test (tests/api/storage_s3.rs), from PyPI.
  if ! have moto_server; then
    log "installing moto[server] (a local S3-compatible server for the storage test)"
    python3 -m pip install --quiet "moto[server]>=5,<6"
    hash -r
  fi
  have moto_server || die "moto_server not on PATH after installing moto[server]"
}

rust_tests() {
  cargo fmt --check
  cargo build --bins
  if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --no-fail-fast --lib --bins --tests
  else
    cargo test --no-fail-fast --lib --bins --tests
  fi
}

script_tests() {
  for t in scripts/tests/*.sh; do log "  $t"; bash "$t"; done
}

frontend_tests() {
  [[ -d frontend ]] || { warn "no frontend/ yet"; return 0; }
  "$PROJECT_ROOT/scripts/build-frontend.sh"
  (cd frontend && npm run --if-present typecheck && npm run --if-present lint && npm run --if-present test)
}

start_server() {
  [[ -n "$server_pid" ]] && return 0
  local port="${E2E_PORT:-18080}"
  e2e_db="primerka_e2e_$$"
  cargo build --bins
  [[ -f frontend/dist/index.html ]] || "$PROJECT_ROOT/scripts/build-frontend.sh"
  mkdir -p target/e2e
  parse_database_url "$TEST_DATABASE_URL"
  APP_ENV=local PORT="$port" PUBLIC_BASE_URL="http://127.0.0.1:$port" \
    DATABASE_URL="postgres://$PG_USER@$PG_HOST:$PG_PORT/$e2e_db" \
    JWT_SECRET=e2e-secret-e2e-secret-e2e-secret-e2e-00 RATE_LIMITS=off ADMIN_TELEGRAM_IDS=1 \
    APP__SIMULATOR__LATENCY_SCALE="${E2E_LATENCY_SCALE:-0.05}" APP__STORAGE__LOCAL_DIR="target/e2e/storage" \
    APP__GENERATION__WORKERS="${E2E_WORKERS:-4}" \
    RUST_LOG=primerka=info ./target/debug/primerka >target/e2e/server.log 2>&1 &
  server_pid=$!
  export E2E_BASE_URL="http://127.0.0.1:$port"
  wait_http "$E2E_BASE_URL/readyz" 90 || { tail -50 target/e2e/server.log >&2; die "the server did not start"; }
}

start_tg_server() {
  [[ -n "$tg_server_pid" ]] && return 0
  local port=$(( ${E2E_PORT:-18080} + 1 ))
  tg_db="primerka_e2e_tg_$$"
  cargo build --bins
  [[ -f frontend/dist/index.html ]] || "$PROJECT_ROOT/scripts/build-frontend.sh"
  mkdir -p target/e2e
  parse_database_url "$TEST_DATABASE_URL"
  APP_ENV=local PORT="$port" PUBLIC_BASE_URL="http://127.0.0.1:$port" \
    DATABASE_URL="postgres://$PG_USER@$PG_HOST:$PG_PORT/$tg_db" \
    JWT_SECRET=e2e-secret-e2e-secret-e2e-secret-e2e-tg RATE_LIMITS=off SIMULATOR=1 ADMIN_TELEGRAM_IDS=1 \
    TELEGRAM_BOT_TOKEN="$E2E_TG_BOT_TOKEN" TELEGRAM_WEBHOOK_SECRET="$E2E_TG_WEBHOOK_SECRET" \
    APP__TELEGRAM__BOT_USERNAME=primerka_e2e_bot APP__TELEGRAM__MINIAPP_SHORT_NAME=app \
    APP__SIMULATOR__LATENCY_SCALE="${E2E_TG_LATENCY_SCALE:-0.4}" APP__STORAGE__LOCAL_DIR="target/e2e/storage-tg" \
    APP__GENERATION__WORKERS="${E2E_WORKERS:-4}" \
    RUST_LOG=primerka=info ./target/debug/primerka >target/e2e/server-tg.log 2>&1 &
  tg_server_pid=$!
  export E2E_TG_BASE_URL="http://127.0.0.1:$port" E2E_TG_BOT_TOKEN E2E_TG_WEBHOOK_SECRET
  export E2E_TG_BOT_USERNAME=primerka_e2e_bot E2E_TG_APP_NAME=app
  wait_http "$E2E_TG_BASE_URL/readyz" 90 || { tail -50 target/e2e/server-tg.log >&2; die "the Telegram-like server did not start"; }
  # Configured like production: the development login must not exist there.
  curl -fs "$E2E_TG_BASE_URL/api/auth/demo" | grep -q '"enabled":false' || die "the Telegram-like server offers the demo login"
}

e2e_tests() {
  [[ -f frontend/package.json ]] && grep -q '"e2e"' frontend/package.json || { warn "no e2e suite yet"; return 0; }
  ensure_chromium
  start_server
  start_tg_server
  (cd frontend && npm run e2e)
}

loadtest_smoke() {
  start_server
  ./target/debug/primerka-loadtest --base-url "$E2E_BASE_URL" --users "${SMOKE_USERS:-12}" --ramp-up 3 \
    --duration "${SMOKE_SECS:-20}" --settle 60 --mix chat=2,tryon=2,buy=1 --admin-id 1 --json target/e2e/loadtest.json
}

cluster_drill() {
  PROFILE=debug NO_BUILD=1 USERS="${DRILL_USERS:-16}" DURATION="${DRILL_SECS:-20}" KILL_AFTER=8 LEASE=6 \
    JSON=target/e2e/cluster-drill.json scripts/cluster-drill.sh >/dev/null
}

step prepare prepare
step rust rust_tests
step scripts script_tests
step frontend frontend_tests
step e2e e2e_tests
step loadtest loadtest_smoke
step cluster cluster_drill
log "all tests passed"
printf '  %s\n' "${timings[@]}" >&2
