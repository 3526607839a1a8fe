#!/usr/bin/env bash
# Stops the private PostgreSQL cluster started by scripts/ensure-postgres.sh (if any).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
data_dir="${PRIMERKA_PG_DIR:-$PROJECT_ROOT/.data/postgres}"
[[ -s "$data_dir/postmaster.pid" ]] || { log "no private PostgreSQL running in $data_dir"; exit 0; }
bin_dir="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
if [[ "$(id -u)" == 0 ]]; then runuser -u postgres -- "$bin_dir/pg_ctl" -D "$data_dir" -m fast stop
else "$bin_dir/pg_ctl" -D "$data_dir" -m fast stop; fi
