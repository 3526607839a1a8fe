#!/usr/bin/env bash
# Makes sure a PostgreSQL answers at DATABASE_URL (default postgres://postgres@127.0.0.1:5432/…).
#   1. Something already answers → done.
#   2. A Debian cluster exists but is stopped → start it.
#   3. Otherwise → install Debian's PostgreSQL if missing and start a private cluster in
#      .data/postgres (trust auth, loopback only, the URL's port). `scripts/stop-postgres.sh`
#      stops it.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

url="${1:-${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}}"
parse_database_url "$url"
data_dir="${PRIMERKA_PG_DIR:-$PROJECT_ROOT/.data/postgres}"

answers() {
  if have pg_isready; then pg_isready -q -h "$PG_HOST" -p "$PG_PORT" -t 2
  else (exec 3<>"/dev/tcp/$PG_HOST/$PG_PORT") 2>/dev/null
  fi
}

if answers; then
  log "PostgreSQL answers at $PG_HOST:$PG_PORT"
  exit 0
fi

case "$PG_HOST" in 127.0.0.1 | localhost | ::1) ;; *) die "PostgreSQL at $PG_HOST:$PG_PORT does not answer (not a local address; start it yourself)" ;; esac

# A stopped Debian cluster on that port: start it.
if have pg_lsclusters && [[ -z "${PRIMERKA_PG_PRIVATE:-}" ]]; then
  while read -r version name port _status _rest; do
    if [[ "$port" == "$PG_PORT" ]]; then
      log "starting Debian's PostgreSQL cluster $version/$name on port $port"
      as_root pg_ctlcluster --skip-systemctl-redirect "$version" "$name" start || as_root pg_ctlcluster "$version" "$name" start
      for _ in $(seq 50); do answers && exit 0; sleep 0.2; done
    fi
  done < <(pg_lsclusters --no-header 2>/dev/null || true)
fi

# A private cluster.
bin_dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)"
if [[ -z "$bin_dir" || ! -x "$bin_dir/initdb" ]]; then
  apt_install postgresql
  bin_dir="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
fi

# PostgreSQL refuses to run as root: use the `postgres` system user then.
run_pg() {
  if [[ "$(id -u)" == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

mkdir -p "$(dirname "$data_dir")"
if [[ ! -s "$data_dir/PG_VERSION" ]]; then
  log "creating a private PostgreSQL cluster in $data_dir (port $PG_PORT)"
  mkdir -p "$data_dir"
  [[ "$(id -u)" == 0 ]] && chown postgres:postgres "$data_dir"
  chmod 700 "$data_dir"
  run_pg "$bin_dir/initdb" -D "$data_dir" -U "$PG_USER" --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
fi
sock_dir="$data_dir/run"
mkdir -p "$sock_dir"
[[ "$(id -u)" == 0 ]] && chown postgres:postgres "$sock_dir"
log "starting the private PostgreSQL on $PG_HOST:$PG_PORT"
run_pg "$bin_dir/pg_ctl" -D "$data_dir" -l "$data_dir/server.log" -w -t 60 \
  -o "-c listen_addresses=$PG_HOST -p $PG_PORT -c unix_socket_directories=$sock_dir -c max_connections=300" \
  start >/dev/null
answers || die "PostgreSQL did not start; see $data_dir/server.log"
log "PostgreSQL answers at $PG_HOST:$PG_PORT"
