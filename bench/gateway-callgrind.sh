#!/usr/bin/env bash
# Instructions per request of `tollgate serve` (and of the bare hyper proxy), counted by
# valgrind's callgrind: repeatable whatever else the machine does, unlike CPU time. Uses the
# origin, config and load script that bench/gateway-vs-nginx.sh left in bench/out/gateway.
#
# Usage: bench/gateway-callgrind.sh [MODE] [SECONDS]
#   MODE: browsers (allow path, default) | gptbot (spoofed -> 403) | gptbot-verified (402) | bare
#         (the bare hyper proxy on the allow path)
#   needs: valgrind, wrk, nginx, curl; a finished run of bench/gateway-vs-nginx.sh
# Prints instructions per request for the whole process (start-up subtracted) and for the
# gateway's main functions; the profile stays in bench/out/callgrind/MODE.out for
# callgrind_annotate.
set -euo pipefail
cd "$(dirname "$0")/.."
MODE=${1:-browsers}
SECS=${2:-15}
G=$PWD/bench/out/gateway
OUT=$PWD/bench/out/callgrind
[ -f "$G/tollgate.toml" ] || { echo "run bench/gateway-vs-nginx.sh first (it writes $G)" >&2; exit 2; }
command -v valgrind >/dev/null || { echo "valgrind not installed" >&2; exit 2; }
TARGET=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
mkdir -p "$OUT"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
/usr/sbin/nginx -p "$G/origin/" -c "$G/origin/nginx.conf" 2>/dev/null &
PIDS+=($!)
O_PORT=$(sed -n 's/.*listen 127.0.0.1:\([0-9]*\);.*/\1/p' "$G/origin/nginx.conf" | head -1)
T_PORT=$(sed -n 's/^listen = "127.0.0.1:\([0-9]*\)"/\1/p' "$G/tollgate.toml" | head -1)
PROFILE="$OUT/$MODE.out"
rm -f "$PROFILE"
if [ "$MODE" = bare ]; then
  cargo build --release -q -p tollgate-gateway --example bare_proxy
  PORT=$T_PORT LOAD=browsers
  TOKIO_WORKER_THREADS=1 valgrind -q --tool=callgrind --callgrind-out-file="$PROFILE" \
    "$TARGET/release/examples/bare_proxy" "127.0.0.1:$PORT" "http://127.0.0.1:$O_PORT" &
else
  cargo build --release -q -p tollgate
  PORT=$T_PORT LOAD=$MODE
  TOKIO_WORKER_THREADS=1 TOLLGATE_LOG=info valgrind -q --tool=callgrind --callgrind-out-file="$PROFILE" \
    "$TARGET/release/tollgate" serve --config "$G/tollgate.toml" 2>"$OUT/$MODE.log" &
fi
VG=$!
PIDS+=("$VG")
for _ in $(seq 1 120); do curl -s -o /dev/null "http://127.0.0.1:$PORT/1k.html" && break; sleep 0.5; done
# Start-up cost: the same process with no load, measured the same way, is subtracted below.
RESULT=$(wrk -t1 -c4 -d"${SECS}s" -s "$G/load.lua" "http://127.0.0.1:$PORT/1k.html" -- /1k.html "$LOAD" | grep RESULT)
REQS=$(echo "$RESULT" | sed 's/.*requests=\([0-9]*\).*/\1/')
# tollgate shuts down on SIGINT; the bare proxy has no handler, and a background job ignores
# SIGINT, so it gets SIGTERM (callgrind writes the profile either way).
if [ "$MODE" = bare ]; then kill -TERM "$VG"; else kill -INT "$VG"; fi
wait "$VG" 2>/dev/null || true
python3 - "$PROFILE" "$REQS" "$MODE" <<'PY'
import re, subprocess, sys
profile, reqs, mode = sys.argv[1], int(sys.argv[2]) + 1, sys.argv[3]
out = subprocess.run(["callgrind_annotate", "--inclusive=yes", profile], capture_output=True, text=True).stdout
def count(pattern):
    for line in out.splitlines():
        m = re.match(r"\s*([\d,]+) \(.*?\)\s+\S*?" + pattern, line)
        if m:
            return int(m.group(1).replace(",", ""))
    return 0
total = count(r"PROGRAM TOTALS") or int(re.search(r"([\d,]+) \(100\.0%\)\s+PROGRAM TOTALS", out).group(1).replace(",", ""))
startup = count(r"tollgate::main(?:\s|$)") if mode != "bare" else 0
print(f"{mode}: {reqs - 1} requests; {(total - startup) / reqs:,.0f} instructions per request (start-up excluded)")
for name, pat in [("Gateway::handle", r"Gateway::handle::\{\{closure\}\}(?:\s|$)"),
                  ("  Gateway::pass (proxying)", r"Gateway::pass::\{\{closure\}\}(?:\s|$)"),
                  ("  Gateway::record (metrics, log line, recent)", r"Gateway::record(?:\s|$)"),
                  ("    decision log line", r"DecisionFormat<F> as tracing_subscriber::fmt::format::FormatEvent<S,N>>::format_event(?:\s|$)"),
                  ("  set_forwarding", r"forwarding::set_forwarding(?:\s|$)"),
                  ("  strip_hop_by_hop", r"forwarding::strip_hop_by_hop(?:\s|$)"),
                  ("  Policy::decide", r"rules::Policy::decide(?:\s|$)")]:
    n = count(pat)
    if n:
        print(f"  {name}: {n / reqs:,.0f}")
PY
