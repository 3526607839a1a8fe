#!/usr/bin/env bash
# `make test` (and CI's `.ci/run`): every test of the project, installing what it needs.
#   1. rust      — unit, property and integration tests (real PostgreSQL, real HTTP/WebSockets)
#   2. scripts   — the shell scripts' own tests (PostgreSQL provisioning)
#   3. frontend  — type check, lint, Vitest unit tests, production build
#   4. e2e       — Playwright (playwright-core + Debian's Chromium) against the real server in
#                  demo mode on the simulator; screenshots in frontend/test-results/screenshots
#   5. loadtest  — a short primerka-loadtest run against the same server, invariants checked
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

cleanup() {
  if [[ -n "$server_pid" ]]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  if [[ -n "$e2e_db" ]]; then
    psql "$TEST_DATABASE_URL" -qc "drop database if exists $e2e_db with (force)" >/dev/null 2>&1 || true
  fi
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
    RUST_LOG=primerka=info ./target/debug/primerka >target/e2e/server.log 2>&1 &
  server_pid=$!
  export E2E_BASE_URL="http://127.0.0.1:$port"
  wait_http "$E2E_BASE_URL/readyz" 90 || { tail -50 target/e2e/server.log >&2; die "the server did not start"; }
}

e2e_tests() {
  [[ -f frontend/package.json ]] && grep -q '"e2e"' frontend/package.json || { warn "no e2e suite yet"; return 0; }
  ensure_chromium
  start_server
  (cd frontend && npm run e2e)
}

loadtest_smoke() {
  start_server
  ./target/debug/primerka-loadtest --base-url "$E2E_BASE_URL" --users "${SMOKE_USERS:-12}" --ramp-up 3 \
    --duration "${SMOKE_SECS:-20}" --settle 60 --mix chat=2,tryon=2,buy=1 --admin-id 1 --json target/e2e/loadtest.json
}

step prepare prepare
step rust rust_tests
step scripts script_tests
step frontend frontend_tests
step e2e e2e_tests
step loadtest loadtest_smoke
log "all tests passed"
printf '  %s\n' "${timings[@]}" >&2
