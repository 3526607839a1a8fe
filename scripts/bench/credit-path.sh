#!/usr/bin/env bash
# Credit path benchmark: reserve + commit through the HTTP API (POST /api/bench/credit-cycle,
# i.e. JWT check → SessionActor → one reserve statement → one commit statement) against pgbench
# running the same SQL (scripts/bench/credit_cycle.sql) on the same PostgreSQL, alternating in
# the same run. Prints the medians and the ratio for 8 and 32 concurrent users, and where the
# CPU of one cycle goes on each side: PostgreSQL's backends (read from /proc, the postmaster's
# reaped children included, so pgbench's short-lived backends count too), our server, and the
# load generator (pgbench or wrk, timed by the shell). On a machine where the load generator,
# the server and PostgreSQL share the cores, the ratio is bounded by the two sides' CPU per cycle.
# pgbench's own p50 / p99 per cycle (from its per-transaction log) are the same-run floor for the
# HTTP side's percentiles.
#
#   scripts/bench/credit-path.sh [rounds=3] [seconds=10]
#
# Needs: a PostgreSQL on PGHOST:PGPORT (default 127.0.0.1:5432, user postgres, trust), wrk and
# pgbench (Debian: wrk, postgresql-client). Builds the release binary if needed.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
rounds="${1:-3}"
seconds="${2:-10}"
pghost="${PGHOST:-127.0.0.1}"
pgport="${PGPORT:-5432}"
port="${BENCH_PORT:-18090}"
db="primerka_bench_credit_$$"
source "$root/scripts/lib.sh"
have wrk || apt_install wrk
have pgbench || apt_install postgresql-contrib postgresql-client
for tool in wrk pgbench psql curl python3; do
  command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install wrk postgresql-client curl python3)" >&2; exit 1; }
done
server_bin="${SERVER_BIN:-./target/release/primerka}"  # another build to compare with (a same-run baseline)
[[ -n "${SKIP_BUILD:-}" ]] || cargo build --release --bin primerka >/dev/null
work="$(mktemp -d)"
server_pid=""
cleanup() {
  [[ -n "$server_pid" ]] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
  psql -h "$pghost" -p "$pgport" -U postgres -d postgres -qc "drop database if exists $db" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

APP_ENV=test PORT="$port" DATABASE_URL="postgres://postgres@$pghost:$pgport/$db" \
  JWT_SECRET=bench-secret-bench-secret-bench-secret-00 RATE_LIMITS=off RUST_LOG=warn \
  APP__BENCH__CREDIT_PROBE=true APP__SERVER__HOST=127.0.0.1 APP__CREDITS__WRITER_WORKERS="${WRITER_WORKERS:-3}" \
  "$server_bin" >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break; sleep 0.2; done
curl -fs "http://127.0.0.1:$port/readyz" >/dev/null || { cat "$work/server.log" >&2; exit 1; }

# 32 users with a million purchased credits each, granted through ledger rows (the ledger check stays clean).
psql -h "$pghost" -p "$pgport" -U postgres -d "$db" -q <<'SQL'
insert into users (telegram_id, first_name) select g, 'bench' from generate_series(1, 32) g on conflict do nothing;
insert into ledger (user_id, idempotency_key, kind, reason, delta_purchased, amount)
  select g, 'bench:seed:' || g, 'grant', 'admin', 1000000, 1000000 from generate_series(1, 32) g;
update users set purchased_credits = purchased_credits + 1000000 where telegram_id <= 32;
SQL

tokens=()
for id in $(seq 32); do
  init="$(curl -fs -XPOST "http://127.0.0.1:$port/api/auth/dev-login" -H 'content-type: application/json' -d "{\"telegram_id\": $id}" | python3 -c 'import sys, json; print(json.load(sys.stdin)["init_data"])')"
  token="$(python3 -c 'import json, sys; print(json.dumps({"init_data": sys.argv[1]}))' "$init" | curl -fs -XPOST "http://127.0.0.1:$port/api/auth/telegram" -H 'content-type: application/json' -d @- | python3 -c 'import sys, json; print(json.load(sys.stdin)["token"])')"
  tokens+=("$token")
done

# wrk script: one thread per user, each with exactly one connection (`-t N -c N`), so every user
# has one request in flight and no two requests of one user wait on each other at its
# SessionActor (which orders a user's operations, as it must). An earlier version picked tokens
# round-robin per request, so two in-flight requests often had the same user and queued behind
# each other: that measured ≈ 2,100 req/s where the server does ≈ 3,000 (BENCHMARKS.md).
wrk_script() {
  local users="$1" file="$work/wrk-$1.lua"
  {
    echo "local tokens = {"
    for ((i = 0; i < users; i++)); do echo "  \"${tokens[$i]}\","; done
    echo "}"
    cat <<'LUA'
local next_user = 0
function setup(thread)
  next_user = next_user + 1
  thread:set("token", tokens[next_user])
end
function request()
  return wrk.format("POST", "/api/bench/credit-cycle", {["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json"}, "{}")
end
LUA
  } >"$file"
  echo "$file"
}

results="$work/results.txt"
: >"$results"
ticks_per_sec="$(getconf CLK_TCK)"
# CPU ticks (user + system) of the given processes.
ticks_of() {
  local total=0 pid f
  for pid in "$@"; do
    read -r -a f <"/proc/$pid/stat" 2>/dev/null || continue
    total=$((total + f[13] + f[14]))
  done
  echo "$total"
}
# PostgreSQL's CPU ticks: live backends plus what the postmaster reaped from ended ones.
pg_ticks() {
  local master f
  master="$(pgrep -o -x postgres || true)"
  if [[ -z "$master" ]] || ! read -r -a f <"/proc/$master/stat" 2>/dev/null; then echo 0; return; fi
  # shellcheck disable=SC2046 # one pid per word
  echo $(($(ticks_of $(pgrep -f -- "postgres: ")) + f[13] + f[14] + f[15] + f[16]))
}
TIMEFORMAT='%U %S'
for round in $(seq "$rounds"); do
  for users in 8 32; do
    pg0="$(pg_ticks)"
    rm -f "$work"/pgl.*
    pgout="$({ time pgbench -h "$pghost" -p "$pgport" -U postgres -n -M prepared -c "$users" -j 2 -T "$seconds" -D users="$users" \
      --log --log-prefix="$work/pgl" -f scripts/bench/credit_cycle.sql "$db" 2>/dev/null; } 2>"$work/pgbench.time")"
    pg="$(awk '/^tps/ {print $3}' <<<"$pgout")"
    # pgbench's own cycle latency (its per-transaction log: the third field, in µs): the same-run
    # floor for the HTTP side's percentiles.
    read -r pg_p50 pg_p99 < <(cat "$work"/pgl.* | python3 -c '
import sys
v = sorted(int(line.split()[2]) for line in sys.stdin if line.strip())
q = lambda p: v[min(len(v) - 1, int(p * len(v)))] / 1000 if v else float("nan")
print(f"{q(0.5):.2f}ms {q(0.99):.2f}ms")')
    pg1="$(pg_ticks)"
    s1="$(ticks_of "$server_pid")"
    out="$({ time wrk -t"$users" -c"$users" -d"${seconds}s" --latency -s "$(wrk_script "$users")" "http://127.0.0.1:$port/api/bench/credit-cycle"; } 2>"$work/wrk.time")"
    pg2="$(pg_ticks)"
    s2="$(ticks_of "$server_pid")"
    rps="$(awk '/Requests\/sec/ {print $2}' <<<"$out")"
    p99="$(awk '$1 == "99%" {print $2}' <<<"$out")"
    p50="$(awk '$1 == "50%" {print $2}' <<<"$out")"
    non2xx="$(awk '/Non-2xx/ {print $5}' <<<"$out")"
    # CPU microseconds per cycle: PostgreSQL, our server and the load generator on each side.
    cpu="$(python3 - "$pg" "$rps" "$seconds" "$ticks_per_sec" "$pg0" "$pg1" "$pg2" "$s1" "$s2" "$work/pgbench.time" "$work/wrk.time" <<'PY'
import sys
tps, rps, secs, hz = (float(v) for v in sys.argv[1:5])
pg0, pg1, pg2, s1, s2 = (int(v) for v in sys.argv[5:10])
client = [sum(float(x) for x in open(f).read().split()[-2:]) for f in sys.argv[10:12]]
us = lambda cpu_seconds, cycles: round(cpu_seconds / cycles * 1e6) if cycles else 0
print(f"pgbench_pg_us={us((pg1 - pg0) / hz, tps * secs)} pgbench_client_us={us(client[0], tps * secs)} "
      f"http_pg_us={us((pg2 - pg1) / hz, rps * secs)} http_server_us={us((s2 - s1) / hz, rps * secs)} "
      f"http_client_us={us(client[1], rps * secs)}")
PY
)"
    echo "round=$round users=$users pgbench_tps=$pg pgbench_p50=$pg_p50 pgbench_p99=$pg_p99 http_rps=$rps http_p50=$p50 http_p99=$p99 non2xx=${non2xx:-0} $cpu" | tee -a "$results"
  done
done

python3 - "$results" <<'PY'
import re, statistics, sys
rows = [dict(kv.split("=", 1) for kv in line.split()) for line in open(sys.argv[1]) if line.strip()]
def ms(v):
    m = re.match(r"([\d.]+)(us|ms|s)", v)
    return float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[m.group(2)] if m else float("nan")
print("\n| users | pgbench tps (median) | HTTP req/s (median) | ratio | pgbench p50 / p99 ms | HTTP p50 ms | HTTP p99 ms | non-2xx |")
print("|---|---|---|---|---|---|---|---|")
for users in ("8", "32"):
    r = [x for x in rows if x["users"] == users]
    pg = statistics.median(float(x["pgbench_tps"]) for x in r)
    http = statistics.median(float(x["http_rps"]) for x in r)
    p50 = statistics.median(ms(x["http_p50"]) for x in r)
    p99 = statistics.median(ms(x["http_p99"]) for x in r)
    bad = sum(int(x["non2xx"]) for x in r)
    pg_p50 = statistics.median(ms(x["pgbench_p50"]) for x in r)
    pg_p99 = statistics.median(ms(x["pgbench_p99"]) for x in r)
    print(f"| {users} | {pg:.0f} | {http:.0f} | {http / pg:.0%} | {pg_p50:.2f} / {pg_p99:.2f} | {p50:.2f} | {p99:.2f} | {bad} |")
print("\nCPU per cycle, µs (medians): PostgreSQL + load generator on the pgbench side; PostgreSQL + server + wrk on the HTTP side.")
print("\n| users | pgbench: PostgreSQL | pgbench: client | pgbench side | HTTP: PostgreSQL | HTTP: server | HTTP: wrk | HTTP side |")
print("|---|---|---|---|---|---|---|---|")
for users in ("8", "32"):
    r = [x for x in rows if x["users"] == users]
    m = lambda k: statistics.median(float(x[k]) for x in r)
    pg_side = statistics.median(float(x["pgbench_pg_us"]) + float(x["pgbench_client_us"]) for x in r)
    http_side = statistics.median(
        float(x["http_pg_us"]) + float(x["http_server_us"]) + float(x["http_client_us"]) for x in r)
    print(f"| {users} | {m('pgbench_pg_us'):.0f} | {m('pgbench_client_us'):.0f} | {pg_side:.0f} | {m('http_pg_us'):.0f} "
          f"| {m('http_server_us'):.0f} | {m('http_client_us'):.0f} | {http_side:.0f} |")
PY

# No lost or doubled charge: the ledger still explains every balance.
diffs="$(psql -h "$pghost" -p "$pgport" -U postgres -d "$db" -Atc "
  select count(*) from users u left join (select user_id, sum(delta_free) f, sum(delta_subscription) s, sum(delta_purchased) p from ledger group by user_id) l
  on l.user_id = u.telegram_id where (u.free_credits, u.sub_credits, u.purchased_credits) is distinct from (coalesce(l.f,0), coalesce(l.s,0), coalesce(l.p,0))")"
echo "ledger differences after the run: $diffs"
[[ "$diffs" == "0" ]]
