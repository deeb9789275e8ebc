#!/usr/bin/env bash
# What telemetry costs on the request path: requests per second and latency through a release
# build of gatehouse in front of nginx, measured with wrk in one run, three ways:
#   off      no live signals, no tracing
#   signals  live per-route signals (the default)
#   traced   signals + a server span per request, every one sampled and exported over
#            OTLP/HTTP to a local receiver
# and, when asked for with MODES (e.g. MODES="base signals messy"):
#   messy    signals, with a request path that must be made canonical (`/./x/../%61pp//x`,
#            rewritten to `/app/x` before routing): the slow path of canonicalization
#   base     signals, run by the binary named in BASE_BIN (a build of an earlier commit), to
#            compare this build's request path with it
# Usage: scripts/bench.sh [DURATION, default 10s] [CONNECTIONS, default 32] [ROUNDS, default 3]
# The modes take turns ROUNDS times (in reverse order every other round) and the median
# round of each is reported: a small VM's
# throughput swings by a fifth from one run to the next, so one run per mode proves little.
# gatehouse (one worker thread, plus its exporter thread) is pinned to the first CPU, wrk, nginx
# and the receiver to the last, so that they do not take each other's time slices.
# Installs cmake, wrk and nginx when missing. Everything runs on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-10s}
CONNECTIONS=${2:-32}
ROUNDS=${3:-3}
last_cpu=$(($(nproc) - 1))
source scripts/bench-common.sh

up=$(port)
mkdir -p "$work/nginx"
cat >"$work/nginx/nginx.conf" <<NGINX
worker_processes 1;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  server {
    listen 127.0.0.1:$up;
    location / { return 200 "ok\n"; }
  }
}
NGINX
taskset -c "$last_cpu" nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" &
pids+=($!)
wait_http "http://127.0.0.1:$up/"

# An OTLP/HTTP receiver that reads each export and answers 200.
otlp=$(port)
taskset -c "$last_cpu" python3 - "$otlp" <<'PY' &
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class H(BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(200); self.send_header("content-length", "0"); self.end_headers()
    def log_message(self, *a): pass
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
pids+=($!)

results="$work/results"
: >"$results"
modes=(${MODES:-off signals traced})
for round in $(seq 1 "$ROUNDS"); do
# Every other round runs the modes in reverse, so that no mode always follows the same one.
order=("${modes[@]}")
if ((round % 2 == 0)); then
  order=()
  for ((i = ${#modes[@]} - 1; i >= 0; i--)); do order+=("${modes[i]}"); done
fi
for mode in "${order[@]}"; do
  p=$(port); a=$(port)
  bin=$BIN
  path=/
  case $mode in
    off) telemetry="telemetry: { signals: false }" ;;
    signals) telemetry="telemetry: { signals: true }" ;;
    messy) telemetry="telemetry: { signals: true }"; path="/./x/../%61pp//x" ;;
    base) telemetry="telemetry: { signals: true }"; bin=${BASE_BIN:?set BASE_BIN to a gatehouse binary for the base mode} ;;
    traced) telemetry="telemetry: { signals: true, tracing: { endpoint: \"http://127.0.0.1:$otlp\", sample_ratio: 1.0 } }" ;;
    unsampled) telemetry="telemetry: { signals: true, tracing: { endpoint: \"http://127.0.0.1:$otlp\", sample_ratio: 0.0 } }" ;;
  esac
  cat >"$work/$mode.yaml" <<YAML
listeners: [{ name: http, address: "127.0.0.1:$p" }]
admin: { listen: "127.0.0.1:$a" }
server: { threads: 1 }
log: { level: warn, access_log: false }
state_dir: $work/state-$mode
upstreams:
  app: { backends: [{ address: "127.0.0.1:$up" }] }
routes:
  - { name: app, upstream: app }
$telemetry
YAML
  taskset -c 0 "$bin" run --config "$work/$mode.yaml" >"$work/$mode.log" 2>&1 &
  gh=$!
  wait_http "http://127.0.0.1:$a/readyz"
  taskset -c "$last_cpu" wrk -t1 -c"$CONNECTIONS" -d2s "http://127.0.0.1:$p$path" >/dev/null
  out=$(taskset -c "$last_cpu" wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency "http://127.0.0.1:$p$path")
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  lost=$(curl -fs "http://127.0.0.1:$a/metrics" | awk '/^gatehouse_telemetry_dropped_total\{.*signal="traces"/ {s+=$2} END {print s+0}')
  sent=$(curl -fs "http://127.0.0.1:$a/metrics" | awk '/^gatehouse_telemetry_exported_total\{signal="traces"/ {print $2}')
  echo "$mode $rps $p50 $p99 ${sent:-0} $lost" >>"$results"
  echo "round $round: $mode $rps req/s" >&2
  kill "$gh"; wait "$gh" 2>/dev/null || true
done
done
echo
printf '%-10s %12s %10s %10s %12s %10s\n' mode "req/s" p50 p99 spans_sent spans_lost
for mode in "${modes[@]}"; do
  # The round with the median throughput.
  grep "^$mode " "$results" | sort -k2 -n | awk -v n="$ROUNDS" 'NR == int((n + 1) / 2) {printf "%-10s %12s %10s %10s %12s %10s\n", $1, $2, $3, $4, $5, $6}'
done
