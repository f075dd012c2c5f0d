#!/usr/bin/env bash
# Charged-path throughput and added latency of `tollgate serve` with a SQLite and a PostgreSQL
# ledger, side by side in one run (issue #5 §6). Writes a table into docs/PERFORMANCE.md.
#
# Usage: bench/charged.sh [ROUNDS]        (default 3; about 1 minute per round)
#   needs: nginx (/usr/sbin/nginx), wrk, python3, PostgreSQL at $PG (default
#          postgres://postgres@127.0.0.1:5432/test; a schema of its own is made and dropped)
#   env:   DURATION=10 (seconds per wrk run), CONNS=32 (wrk connections)
#
# One tollgate (default tokio runtime: both cores) in front of one nginx origin serving a 1 KB
# page. Per round and backend: an allowed browser run (the baseline: same process, no ledger
# work) and a charged run (GPTBot with an API key and crawler-max-price; every request is a
# durable, hash-chained ledger entry committed before the response leaves, group commit on).
# Added latency = charged percentile − allowed percentile, from wrk --latency, same round.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
DURATION=${DURATION:-10}
CONNS=${CONNS:-32}
PG=${PG:-postgres://postgres@127.0.0.1:5432/test}
NGINX=${NGINX:-/usr/sbin/nginx}
OUT=$PWD/bench/out/charged
case $ROUNDS in '' | *[!0-9]* | 0) echo "ROUNDS must be a positive integer" >&2; exit 2 ;; esac
command -v wrk >/dev/null || { echo "wrk not installed (apt-get install wrk)" >&2; exit 2; }
[ -x "$NGINX" ] || { echo "nginx not found at $NGINX" >&2; exit 2; }

cargo build --release -q -p tollgate
BIN=$PWD/target/release/tollgate
PIDS=()
SCHEMA=tg_bench_$$
command -v psql >/dev/null || { echo "psql not installed (apt-get install postgresql-client)" >&2; exit 2; }
cleanup() {
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  psql -q "$PG" -c "DROP SCHEMA IF EXISTS $SCHEMA CASCADE" >/dev/null 2>&1 || true
}
trap cleanup EXIT
rm -rf "$OUT"; mkdir -p "$OUT"/{site,origin/logs}
python3 - "$OUT/site" <<'PY'
import sys
open(f"{sys.argv[1]}/1k.html", "w").write(("<p>Lorem ipsum dolor sit amet.</p>\n" * 40)[:1024])
PY
read -r P_ORIGIN P_TOLL < <(python3 -c '
import socket
ss = [socket.socket() for _ in range(2)]
for s in ss: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in ss])')
cat > "$OUT/origin/nginx.conf" <<EOF
user $(id -un) $(id -gn);
worker_processes 1;
daemon off;
error_log logs/error.log warn;
pid logs/nginx.pid;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  server { listen 127.0.0.1:$P_ORIGIN; root $OUT/site; }
}
EOF
"$NGINX" -p "$OUT/origin" -c "$OUT/origin/nginx.conf" 2>/dev/null &
PIDS+=($!)
cat > "$OUT/tollgate.toml" <<EOF
[server]
listen = "127.0.0.1:$P_TOLL"
origin = "http://127.0.0.1:$P_ORIGIN"

[policy]
default = "allow"

[[rule]]
name = "charge-ai-training"
when = { class = "ai-training" }
action = "charge"
price = "USD 0.002"
EOF

psql -q "$PG" -c "CREATE SCHEMA $SCHEMA" >/dev/null
SQLITE_URL="sqlite:$OUT/ledger.db"
PG_URL="$PG?options=-c%20search_path%3D$SCHEMA"
declare -A KEY
for b in sqlite pg; do
  if [ $b = sqlite ]; then url=$SQLITE_URL; else url=$PG_URL; fi
  TOLLGATE_LEDGER=$url "$BIN" accounts add bench --postpaid --credit-limit "USD 1000000" >/dev/null
  KEY[$b]=$(TOLLGATE_LEDGER=$url "$BIN" accounts key add bench 2>/dev/null)
done

GPTBOT="Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)"
FIREFOX="Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0"
# wrk --latency output -> "req_s p50_ms p99_ms non2xx"
parse() {
  python3 - "$1" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
def ms(label):
    m = re.search(r"^\s*" + label + r"%\s+([\d.]+)(us|ms|s)", t, re.M)
    v, u = float(m.group(1)), m.group(2)
    return v / 1000 if u == "us" else v * 1000 if u == "s" else v
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
bad = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
print(f"{rps:.0f} {ms('50'):.2f} {ms('99'):.2f} {bad.group(1) if bad else 0}")
PY
}
printf "round\tbackend\tpath\treq_s\tp50_ms\tp99_ms\tnon2xx\n" > "$OUT/results.tsv"
for r in $(seq 1 "$ROUNDS"); do
  order="sqlite pg"; [ $((r % 2)) = 0 ] && order="pg sqlite"
  for b in $order; do
    if [ $b = sqlite ]; then url=$SQLITE_URL; else url=$PG_URL; fi
    TOLLGATE_LOG=warn "$BIN" serve -c "$OUT/tollgate.toml" --ledger "$url" 2>"$OUT/tollgate-$b.log" &
    tp=$!
    for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$P_TOLL/1k.html" && break; sleep 0.1; done
    wrk -t2 -c"$CONNS" -d"${DURATION}s" --latency -H "user-agent: $FIREFOX" \
      "http://127.0.0.1:$P_TOLL/1k.html" > "$OUT/wrk-$r-$b-allow.txt"
    wrk -t2 -c"$CONNS" -d"${DURATION}s" --latency -H "user-agent: $GPTBOT" \
      -H "authorization: Bearer ${KEY[$b]}" -H "crawler-max-price: USD 0.002" \
      "http://127.0.0.1:$P_TOLL/1k.html" > "$OUT/wrk-$r-$b-charged.txt"
    kill -TERM $tp; wait $tp 2>/dev/null || true
    for p in allow charged; do
      printf "%s\t%s\t%s\t%s\n" "$r" "$b" "$p" "$(parse "$OUT/wrk-$r-$b-$p.txt" | tr ' ' '\t')" >> "$OUT/results.tsv"
    done
    echo "round $r $b done" >&2
  done
done
ENTRIES_SQLITE=$(TOLLGATE_LEDGER=$SQLITE_URL "$BIN" ledger verify | head -1)
ENTRIES_PG=$(TOLLGATE_LEDGER=$PG_URL "$BIN" ledger verify | head -1)

python3 - "$OUT/results.tsv" "$ROUNDS" "$DURATION" "$CONNS" "$ENTRIES_SQLITE" "$ENTRIES_PG" > "$OUT/table.md" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
rounds, dur, conns, es, ep = sys.argv[2:7]
med = lambda b, p, k: statistics.median(float(r[k]) for r in rows if r["backend"] == b and r["path"] == p)
print(f"Command: `bench/charged.sh {rounds}` (DURATION={dur}, CONNS={conns}; wrk -t2 on loopback, "
      "1 KB page from nginx; medians of the rounds, backends alternating).\n")
print("| ledger | allowed req/s | charged req/s | charged / allowed | p50 added ms | p99 added ms | non-2xx (charged) |")
print("|---|---:|---:|---:|---:|---:|---:|")
for b, name in (("sqlite", "SQLite (WAL, embedded)"), ("pg", "PostgreSQL 15 (loopback)")):
    a, c = med(b, "allow", "req_s"), med(b, "charged", "req_s")
    print(f"| {name} | {a:,.0f} | {c:,.0f} | {c/a:.2f}× | {med(b,'charged','p50_ms')-med(b,'allow','p50_ms'):.2f} | "
          f"{med(b,'charged','p99_ms')-med(b,'allow','p99_ms'):.2f} | {med(b,'charged','non2xx'):.0f} |")
print(f"\nAfter the run: SQLite `{es}`; PostgreSQL `{ep}` (every charged response is one entry).")
PY
cat "$OUT/table.md"
python3 - docs/PERFORMANCE.md "$OUT/table.md" <<'PY'
import re, sys
doc, table = open(sys.argv[1]).read(), open(sys.argv[2]).read()
start, end = "<!-- charged:start -->", "<!-- charged:end -->"
block = f"{start}\n{table}{end}"
if start in doc:
    doc = re.sub(re.escape(start) + r".*?" + re.escape(end), lambda _: block, doc, flags=re.S)
else:
    doc += f"\n## Charged path: pay per crawl with a durable ledger\n\n{block}\n"
open(sys.argv[1], "w").write(doc)
PY
