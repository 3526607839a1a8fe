#!/usr/bin/env bash
# Login benchmark: POST /api/auth/telegram for returning users with wrk at several connection
# counts. Signs initData for USERS distinct users (python3, per contracts/telegram.md), logs each
# in once (so they are returning users), then runs wrk ROUNDS times per connection count, each
# round alternating the product's login with the same-run floor (benches/login_floor.rs: only
# the initData check and the JWT issue, on BENCH_FLOOR_PORT), and prints requests/s, p50 and p99
# for each run, the medians over the rounds and the product's share of the floor.
#
#   scripts/bench/login.sh [rounds=3] [seconds=10] [connections="64 256"]
#   SKIP_BUILD=1 uses the release binaries as they are built; SERVER_BIN=<binary> measures
#   another build of the product (e.g. the previous one, for a same-run baseline).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
rounds="${1:-3}"
seconds="${2:-10}"
conns="${3:-64 256}"
users="${USERS:-1000}"
port="${BENCH_PORT:-18091}"
pghost="${PGHOST:-127.0.0.1}"
pgport="${PGPORT:-5432}"
db="primerka_bench_login_$$"
token="1000000001:DEMO-primerka-simulated-bot-token"
source "$root/scripts/lib.sh"
have wrk || apt_install wrk
for tool in wrk psql curl python3; do command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 1; }; done
[[ -n "${SKIP_BUILD:-}" ]] || cargo build --release --bin primerka >/dev/null
floor_port="${BENCH_FLOOR_PORT:-18092}"
floor_bin="$(cargo bench --bench login_floor --no-run --message-format=json 2>/dev/null | python3 -c '
import json, sys
exe = [j["executable"] for j in map(json.loads, sys.stdin)
       if j.get("reason") == "compiler-artifact" and j.get("target", {}).get("name") == "login_floor" and j.get("executable")]
print(exe[-1] if exe else "")')"
[[ -x "$floor_bin" ]] || { echo "could not build benches/login_floor.rs" >&2; exit 1; }
work="$(mktemp -d)"
server_pid=""
floor_pid=""
cleanup() {
  [[ -n "$floor_pid" ]] && kill "$floor_pid" 2>/dev/null && wait "$floor_pid" 2>/dev/null || true
  [[ -n "$server_pid" ]] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
  psql -h "$pghost" -p "$pgport" -U postgres -d postgres -qc "drop database if exists $db" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
APP_ENV=test PORT="$port" DATABASE_URL="postgres://postgres@$pghost:$pgport/$db" \
  JWT_SECRET=bench-secret-bench-secret-bench-secret-00 RATE_LIMITS=off RUST_LOG=warn \
  "${SERVER_BIN:-./target/release/primerka}" >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break; sleep 0.2; done
BENCH_FLOOR_PORT="$floor_port" BENCH_BOT_TOKEN="$token" "$floor_bin" >"$work/floor.log" 2>&1 &
floor_pid=$!
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$floor_port") 2>/dev/null && break; sleep 0.1; done
(exec 3<>"/dev/tcp/127.0.0.1/$floor_port") 2>/dev/null || { cat "$work/floor.log" >&2; echo "the login floor did not start" >&2; exit 1; }

python3 - "$token" "$users" "$work/bodies.lua" <<'PY'
import hashlib, hmac, json, sys, time, urllib.parse
token, users, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
secret = hmac.new(b"WebAppData", token.encode(), hashlib.sha256).digest()
now = int(time.time())
bodies = []
for i in range(users):
    user = json.dumps({"id": 8_000_000_000 + i, "first_name": f"Bench{i}", "language_code": "ru"}, separators=(",", ":"))
    fields = {"auth_date": str(now), "query_id": f"AAH{i}", "user": user}
    check = "\n".join(f"{k}={v}" for k, v in sorted(fields.items()))
    fields["hash"] = hmac.new(secret, check.encode(), hashlib.sha256).hexdigest()
    init = urllib.parse.urlencode(fields)
    bodies.append(json.dumps({"init_data": init}))
with open(out, "w") as f:
    f.write("bodies = {\n")
    for b in bodies:
        f.write("  " + json.dumps(b) + ",\n")
    f.write("}\n")
    f.write('''
counter = 0
request = function()
  counter = counter + 1
  local body = bodies[(counter % #bodies) + 1]
  return wrk.format("POST", "/api/auth/telegram", {["Content-Type"] = "application/json"}, body)
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT rps=%.0f p50_ms=%.2f p99_ms=%.2f errors=%d\\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
''')
PY
# Warm-up: every user logs in once (they become returning users).
wrk -t2 -c16 -d3s -s "$work/bodies.lua" "http://127.0.0.1:$port" >/dev/null
summary() {
  python3 -c '
import re, statistics, sys
rows = [dict(re.findall(r"(\w+)=([\d.]+)", l)) for l in sys.stdin]
med = lambda k: statistics.median(float(r[k]) for r in rows)
print("rps=%.0f p50_ms=%.2f p99_ms=%.2f" % (med("rps"), med("p50_ms"), med("p99_ms")))'
}
for c in $conns; do
  product=()
  floor=()
  for r in $(seq "$rounds"); do
    line="$(wrk -t2 -c"$c" -d"${seconds}s" -s "$work/bodies.lua" "http://127.0.0.1:$port" | grep RESULT)"
    echo "connections=$c round=$r product $line"
    product+=("$line")
    line="$(wrk -t2 -c"$c" -d"${seconds}s" -s "$work/bodies.lua" "http://127.0.0.1:$floor_port" | grep RESULT)"
    echo "connections=$c round=$r floor   $line"
    floor+=("$line")
  done
  p="$(printf '%s\n' "${product[@]}" | summary)"
  f="$(printf '%s\n' "${floor[@]}" | summary)"
  share="$(python3 -c "import sys; p, f = (float(x.split('=')[1]) for x in sys.argv[1:]); print(f'{100 * p / f:.0f} %')" "${p%% *}" "${f%% *}")"
  echo "MEDIAN connections=$c product $p | floor $f | product/floor $share"
done
