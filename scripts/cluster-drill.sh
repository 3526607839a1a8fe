#!/usr/bin/env bash
# The cluster drill (issue 19): two nodes on one database, users spread round-robin by the load
# tester (no affinity), one node killed with SIGKILL in the middle of the load; the load tester
# moves that node's users to the other one and checks the invariants at the end (ledger clean, no
# negative balance, every job succeeded or refunded, kie.ai's limits never exceeded, no second
# task for a job). Exit 0 only when they hold and no request was answered 500.
#
#   scripts/cluster-drill.sh            USERS (40) DURATION (40 s) KILL_AFTER (15 s) LEASE (8 s)
#   JSON=target/cluster-drill.json      where the load tester's report goes
#
# `make test` runs a short one (debug build); BENCHMARKS.md records a longer one.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$PROJECT_ROOT"

users="${USERS:-40}"
duration="${DURATION:-40}"
kill_after="${KILL_AFTER:-15}"
export CLUSTER_LEASE_SECS="${LEASE:-8}"
export CLUSTER_PORT="${CLUSTER_PORT:-18700}"
profile="${PROFILE:-release}"
json="${JSON:-target/cluster-drill.json}"
mkdir -p "$(dirname "$json")"

trap 'scripts/cluster.sh down' EXIT
nodes="$(PROFILE="$profile" scripts/cluster.sh up 2)"
echo "$nodes"
urls=()
while read -r _ _ url pid; do urls+=("--base-url" "$url"); done <<<"$nodes"
victim_pid="$(awk '$2 == 2 {print $4}' <<<"$nodes")"
sim="http://127.0.0.1:$((CLUSTER_PORT - 1))"

if [[ "$profile" == "release" ]]; then cargo build --release --bin primerka-loadtest >&2; else cargo build --bin primerka-loadtest >&2; fi
"target/$profile/primerka-loadtest" "${urls[@]}" --sim-url "$sim" --users "$users" --ramp-up 5 \
  --duration "$duration" --settle 150 --mix chat=2,tryon=3,buy=1 --admin-id 1 --json "$json" &
load=$!
sleep "$kill_after"
log "kill -9 node 2 (pid $victim_pid) in the middle of the load"
kill -9 "$victim_pid"
killed_at=$SECONDS
status=0
wait "$load" || status=$?
log "the load tester finished $((SECONDS - killed_at)) s after the kill (exit $status)"
# No request may have been answered 500 by the surviving node.
if grep -qE '"(500|internal)"' "$json"; then
  warn "a request was answered 500"; status=3
fi
parse_database_url "${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
taken="$(psql "postgres://$PG_USER@$PG_HOST:$PG_PORT/primerka_cluster_${CLUSTER_PORT}" -Atc \
  "select count(*) filter (where status = 'succeeded') || ' succeeded, ' || count(*) filter (where refunded) || ' refunded' from generations" 2>/dev/null || echo "?")"
log "generations: $taken; report: $json"
exit "$status"
