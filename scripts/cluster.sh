#!/usr/bin/env bash
# A local cluster without Docker (issue 19): one shared provider simulator (primerka-sim), N server
# nodes on one fresh database and one local S3-compatible store (moto_server), so kie.ai's limits
# are counted once and any node can serve any image.
#
#   scripts/cluster.sh up N     start; prints one line per node: node <i> <base-url> <pid>
#   scripts/cluster.sh down     stop what `up` started (and drop its database)
#
# Nodes run like `make run-bench-server`: demo mode on the simulator, rate limits off, operator
# id 1, cluster mode on. Ports: CLUSTER_PORT (default 18700) for node 1, then +1 per node; the
# simulator on CLUSTER_PORT-1, the S3 store on CLUSTER_PORT-2. PROFILE=debug uses the debug build
# (default release); NO_BUILD=1 skips building; CLUSTER_LEASE_SECS sets the job lease (60 s: a
# dead node's jobs are taken over within 80 s). State and logs live in .data/cluster/.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$PROJECT_ROOT"

state="$PROJECT_ROOT/.data/cluster"
base_port="${CLUSTER_PORT:-18700}"
profile="${PROFILE:-release}"
admin_url="${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
db="primerka_cluster_${base_port}"

stop_all() {
  [[ -d "$state" ]] || return 0
  for pidfile in "$state"/*.pid; do
    [[ -f "$pidfile" ]] || continue
    pid="$(cat "$pidfile")"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$pidfile"
  done
  psql "$admin_url" -qc "drop database if exists $db with (force)" >/dev/null 2>&1 || true
}

up() {
  local n="${1:-2}"
  [[ "$n" =~ ^[1-9][0-9]*$ ]] || die "usage: scripts/cluster.sh up N (N ≥ 1)"
  stop_all
  mkdir -p "$state"
  "$PROJECT_ROOT/scripts/ensure-postgres.sh" "$admin_url" >/dev/null
  have moto_server || python3 -m pip install --quiet "moto[server]>=5,<6"
  hash -r
  if [[ "${NO_BUILD:-}" != "1" ]]; then
    [[ -f frontend/dist/index.html ]] || "$PROJECT_ROOT/scripts/build-frontend.sh" >/dev/null
    if [[ "$profile" == "release" ]]; then
      cargo build --release --bin primerka --bin primerka-sim >&2
    else
      cargo build --bin primerka --bin primerka-sim >&2
    fi
  fi
  local bin="target/$profile"
  local s3_port=$((base_port - 2)) sim_port=$((base_port - 1))

  moto_server -H 127.0.0.1 -p "$s3_port" >"$state/s3.log" 2>&1 &
  echo $! >"$state/s3.pid"
  wait_http "http://127.0.0.1:$s3_port" 30 || die "the S3 store did not start ($state/s3.log)"
  local bucket="primerka-cluster"
  curl -fsS -X PUT "http://127.0.0.1:$s3_port/$bucket" >/dev/null

  PORT="$sim_port" SIM_LATENCY_SCALE="${SIM_LATENCY_SCALE:-1.0}" "$bin/primerka-sim" >"$state/sim.log" 2>&1 &
  echo $! >"$state/sim.pid"
  wait_http "http://127.0.0.1:$sim_port/sim/kie/_control/stats" 30 || die "the simulator did not start ($state/sim.log)"

  psql "$admin_url" -qc "drop database if exists $db with (force)" >/dev/null
  parse_database_url "$admin_url"
  local database_url="postgres://$PG_USER@$PG_HOST:$PG_PORT/$db"
  for i in $(seq 1 "$n"); do
    local port=$((base_port + i - 1))
    APP_ENV=local PORT="$port" PUBLIC_BASE_URL="http://127.0.0.1:$port" DATABASE_URL="$database_url" \
      SIMULATOR=1 SIMULATOR_URL="http://127.0.0.1:$sim_port" RATE_LIMITS=off ADMIN_TELEGRAM_IDS=1 \
      JWT_SECRET="cluster-secret-cluster-secret-cluster-1" MEDIA_SIGNING_KEY="cluster-media-key-cluster-media-key-1" \
      TELEGRAM_WEBHOOK_SECRET="cluster-webhook-secret" \
      APP__CLUSTER__ENABLED=true APP__CLUSTER__LEASE_SECS="${CLUSTER_LEASE_SECS:-60}" \
      APP__TELEGRAM__CONFIGURE_ON_START=false \
      APP__STORAGE__S3_BUCKET="$bucket" APP__STORAGE__S3_ENDPOINT="http://127.0.0.1:$s3_port" \
      APP__STORAGE__S3_REGION=us-east-1 S3_ACCESS_KEY_ID=cluster S3_SECRET_ACCESS_KEY=cluster \
      RUST_LOG="${RUST_LOG:-primerka=info}" "$bin/primerka" >"$state/node$i.log" 2>&1 &
    echo $! >"$state/node$i.pid"
    # The first node creates and migrates the database; the others start once it is ready.
    if [[ "$i" == 1 ]]; then
      wait_http "http://127.0.0.1:$port/healthz" 90 || die "node 1 did not start ($state/node1.log)"
    fi
  done
  for i in $(seq 1 "$n"); do
    local port=$((base_port + i - 1))
    wait_http "http://127.0.0.1:$port/healthz" 90 || die "node $i did not start ($state/node$i.log)"
  done
  for i in $(seq 1 "$n"); do
    echo "node $i http://127.0.0.1:$((base_port + i - 1)) $(cat "$state/node$i.pid")"
  done
}

case "${1:-}" in
  up) up "${2:-2}" ;;
  down) stop_all ;;
  *) die "usage: scripts/cluster.sh up N | down" ;;
esac
