#!/usr/bin/env bash
# tools/serve_bench.sh: load test of `pwdex serve` on loopback, side by side
# with nginx serving the same corpus as pre-split XXXXX.txt range files, then
# a malformed-request barrage (tools/serve_barrage.py) under load.
#
# Every request goes to 127.0.0.1; every load run is bounded by DURATION.
# Needs wrk, nginx and python3 (`apt-get install -y wrk nginx`).
#
# Usage: tools/serve_bench.sh
#   env: BENCH_DIR=/tmp/pwdex-bench  corpus, index and range files (reused when present)
#        RECORDS=10000000            SHA-1 corpus size (NTLM gets RECORDS/5)
#        DURATION=15s CONNECTIONS=64 WRK_THREADS=1   per wrk run
#        SERVER_THREADS=2            pwdex --threads and nginx worker_processes
#        ROUNDS=2                    alternating rounds (the machine is shared: compare within a round)
#        CARGO_TARGET_DIR, NO_BUILD=1 to use the release binaries already built
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
BENCH_DIR=${BENCH_DIR:-/tmp/pwdex-bench}
RECORDS=${RECORDS:-10000000}
DURATION=${DURATION:-15s}
CONNECTIONS=${CONNECTIONS:-64}
WRK_THREADS=${WRK_THREADS:-1}
SERVER_THREADS=${SERVER_THREADS:-2}
ROUNDS=${ROUNDS:-2}
PWDEX_PORT=${PWDEX_PORT:-18787}
NGINX_PORT=${NGINX_PORT:-18788}
PIDS=()

cleanup() {
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
}
trap cleanup EXIT

for tool in wrk nginx python3; do
    command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install -y wrk nginx)" >&2; exit 1; }
done
if [[ -z ${NO_BUILD:-} ]]; then
    (cd "$ROOT" && cargo build --release --quiet --bin pwdex --bin pwdex-synth)
fi
PWDEX=$TARGET/release/pwdex
SYNTH=$TARGET/release/pwdex-synth
mkdir -p "$BENCH_DIR"
cd "$BENCH_DIR"

# --- data -------------------------------------------------------------------
if [[ ! -s sha1.pwdex || ! -s ntlm.pwdex ]]; then
    "$SYNTH" corpus --kind sha1 --records "$RECORDS" -o sha1.txt
    "$SYNTH" corpus --kind ntlm --records $((RECORDS / 5)) -o ntlm.txt
    "$PWDEX" build sha1.txt -o sha1.pwdex -q
    "$PWDEX" build ntlm.txt -o ntlm.pwdex -q
    if [[ -d ranges ]]; then mv ranges "ranges.stale.$$"; fi # split from an older corpus
fi
if [[ ! -d ranges ]]; then
    # Written aside and renamed, so an interrupted split is never mistaken
    # for a complete one (1M files: about a minute to write here).
    rm -rf ranges.partial
    "$SYNTH" ranges --corpus sha1.txt --out-dir ranges.partial
    # The range API answers every prefix; give nginx an empty file for the
    # prefixes the corpus lacks, so both servers answer 200 everywhere.
    python3 -c '
import os
have = set(os.listdir("ranges.partial"))
for p in range(1 << 20):
    name = "%05X.txt" % p
    if name not in have:
        open(os.path.join("ranges.partial", name), "w").close()
'
    mv ranges.partial ranges
fi

cat > range.lua <<'EOF'
-- A random 5-hex prefix per request. Env: PADDING=1 adds Add-Padding: true,
-- QUERY is appended to the path (e.g. ?mode=ntlm).
local pad = os.getenv("PADDING") == "1"
local query = os.getenv("QUERY") or ""
math.randomseed(os.time())
request = function()
  local path = string.format("/range/%05X%s", math.random(0, 0xFFFFF), query)
  if pad then
    return wrk.format("GET", path, { ["Add-Padding"] = "true" })
  end
  return wrk.format("GET", path)
end
EOF

mkdir -p nginx-tmp
cat > nginx.conf <<EOF
worker_processes $SERVER_THREADS;
daemon off;
pid $BENCH_DIR/nginx.pid;
error_log $BENCH_DIR/nginx.err warn;
events { worker_connections 4096; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_requests 10000000;
    # No open_file_cache: requests spread over 1M files, so a cache that fits
    # the descriptor limit would rarely hit (and a large one runs out of fds).
    client_body_temp_path $BENCH_DIR/nginx-tmp;
    proxy_temp_path $BENCH_DIR/nginx-tmp;
    fastcgi_temp_path $BENCH_DIR/nginx-tmp;
    uwsgi_temp_path $BENCH_DIR/nginx-tmp;
    scgi_temp_path $BENCH_DIR/nginx-tmp;
    default_type text/plain;
    server {
        listen 127.0.0.1:$NGINX_PORT;
        root $BENCH_DIR/ranges;
        location ~ "^/range/([0-9A-F]{5})\$" { try_files /\$1.txt =404; }
    }
}
EOF

# --- servers ----------------------------------------------------------------
"$PWDEX" serve -i sha1.pwdex -i ntlm.pwdex --listen "127.0.0.1:$PWDEX_PORT" \
    --threads "$SERVER_THREADS" 2>serve.log &
PIDS+=($!)
SERVE_PID=$!
nginx -c "$BENCH_DIR/nginx.conf" &
PIDS+=($!)
NGINX_PID=$!
for _ in $(seq 100); do
    grep -q 'listening on' serve.log 2>/dev/null && [[ -s nginx.pid ]] && break
    sleep 0.1
done
curl -sf "http://127.0.0.1:$PWDEX_PORT/range/5BAA6" >/dev/null
curl -sf "http://127.0.0.1:$NGINX_PORT/range/5BAA6" >/dev/null
# Same body from both (the range files are the corpus split by prefix).
cmp <(curl -s "http://127.0.0.1:$PWDEX_PORT/range/ABCDE") <(curl -s "http://127.0.0.1:$NGINX_PORT/range/ABCDE")

# --- load -------------------------------------------------------------------
# CPU time the server spent per request (user + system, from /proc), a
# figure that the other load on a shared machine disturbs far less than
# requests/s.
cpu_ticks() { # pids...: summed utime + stime, in clock ticks
    local total=0 pid
    for pid in "$@"; do
        total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat")))
    done
    echo "$total"
}
server_pids() { # port
    if [[ $1 == "$PWDEX_PORT" ]]; then echo "$SERVE_PID"; else echo "$NGINX_PID" $(pgrep -P "$NGINX_PID"); fi
}
HZ=$(getconf CLK_TCK)
printf '%-34s %12s %9s %9s %8s %12s %s\n' run "requests/s" p50 p99 "non-2xx" "CPU us/req" "socket errors"
run() { # label port [env...]
    local label=$1 port=$2
    shift 2
    local out pids before after
    pids=$(server_pids "$port")
    # shellcheck disable=SC2086
    before=$(cpu_ticks $pids)
    out=$(env "$@" wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s range.lua \
        "http://127.0.0.1:$port" 2>&1)
    # shellcheck disable=SC2086
    after=$(cpu_ticks $pids)
    local rps p50 p99 non2xx sock requests cpu
    rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
    p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
    non2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
    sock=$(grep -o 'Socket errors:.*' <<<"$out" || true)
    requests=$(awk '/requests in/ {print $1}' <<<"$out")
    cpu=$(awk -v t=$((after - before)) -v hz="$HZ" -v n="$requests" 'BEGIN {printf "%.1f", t / hz * 1e6 / n}')
    printf '%-34s %12s %9s %9s %8s %12s %s\n' "$label" "$rps" "$p50" "$p99" "${non2xx:-0}" "$cpu" "${sock:-none}"
}
echo "# $(date -u +%FT%TZ)  $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# corpus: $(sed -n 's/^pwdex: serving //p' serve.log)"
echo "# wrk -t$WRK_THREADS -c$CONNECTIONS -d$DURATION, random prefix per request; servers: $SERVER_THREADS threads/workers"
for round in $(seq "$ROUNDS"); do
    run "r$round pwdex /range (sha1)" "$PWDEX_PORT"
    run "r$round nginx range files (sha1)" "$NGINX_PORT"
    run "r$round pwdex /range Add-Padding" "$PWDEX_PORT" PADDING=1
    run "r$round pwdex /range?mode=ntlm" "$PWDEX_PORT" QUERY='?mode=ntlm'
done

# --- barrage under load -----------------------------------------------------
echo "# malformed-request barrage, with a concurrent load run on 16 other connections"
wrk -t1 -c16 -d30s --latency -s range.lua "http://127.0.0.1:$PWDEX_PORT" >wrk-during-barrage.txt 2>&1 &
WRK_PID=$!
status=0
python3 "$ROOT/tools/serve_barrage.py" "127.0.0.1:$PWDEX_PORT" || status=$?
wait "$WRK_PID" || true
echo "# load during the barrage:"
grep -E 'requests in|Requests/sec|Non-2xx|Socket errors' wrk-during-barrage.txt | sed 's/^/  /'
grep -q -E 'Non-2xx|Socket errors' wrk-during-barrage.txt && status=1
kill -0 "$SERVE_PID" && echo "# pwdex serve still running (pid $SERVE_PID)"
curl -s "http://127.0.0.1:$PWDEX_PORT/metrics" | grep -E '^pwdex_http_requests_total' | sed 's/^/  /'
exit "$status"
