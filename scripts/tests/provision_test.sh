#!/usr/bin/env bash
# Proves scripts/ensure-postgres.sh provisions a private cluster when nothing answers: it asks
# for a spare port, checks the cluster answers SQL, then stops it and removes its data.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
port="${PROVISION_TEST_PORT:-55439}"
dir="$(mktemp -d)/pg"
trap 'PRIMERKA_PG_DIR="$dir" "$PROJECT_ROOT/scripts/stop-postgres.sh" >/dev/null 2>&1 || true; rm -rf "$(dirname "$dir")"' EXIT
if [[ "$(id -u)" == 0 ]]; then chmod 755 "$(dirname "$dir")"; fi
PRIMERKA_PG_DIR="$dir" PRIMERKA_PG_PRIVATE=1 "$PROJECT_ROOT/scripts/ensure-postgres.sh" "postgres://postgres@127.0.0.1:$port/postgres"
answer="$(psql -h 127.0.0.1 -p "$port" -U postgres -d postgres -Atc 'select 40 + 2')"
[[ "$answer" == 42 ]] || die "private cluster answered $answer"
# Asking again is a no-op (it answers already).
PRIMERKA_PG_DIR="$dir" "$PROJECT_ROOT/scripts/ensure-postgres.sh" "postgres://postgres@127.0.0.1:$port/postgres" 2>&1 | grep -q answers
PRIMERKA_PG_DIR="$dir" "$PROJECT_ROOT/scripts/stop-postgres.sh" >/dev/null
if pg_isready -q -h 127.0.0.1 -p "$port" -t 1; then die "private cluster still answers after stop"; fi
log "provisioning test passed"
