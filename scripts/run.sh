#!/usr/bin/env bash
# `make run`: provisions PostgreSQL if none answers, builds the Mini App and the server, and
# starts the product. With no provider keys it runs in demo mode on the built-in simulator with
# the development login: open http://127.0.0.1:8080 in a browser.
#   PRIMERKA_PROFILE=debug make run    # faster build, slower server
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$PROJECT_ROOT"
load_dotenv
export APP_ENV="${APP_ENV:-local}"
export PORT="${PORT:-8080}"
export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/primerka}"
if [[ "$APP_ENV" != production ]]; then
  "$PROJECT_ROOT/scripts/ensure-postgres.sh" "$DATABASE_URL"
fi
have cargo || die "cargo not found: install Rust with rustup (https://rustup.rs)"
"$PROJECT_ROOT/scripts/build-frontend.sh"
profile="${PRIMERKA_PROFILE:-release}"
log "building the server ($profile)"
if [[ "$profile" == release ]]; then cargo build --release --bin primerka; else cargo build --bin primerka; fi
log "starting on http://127.0.0.1:$PORT (APP_ENV=$APP_ENV)"
exec "./target/$profile/primerka"
