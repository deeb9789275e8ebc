#!/usr/bin/env bash
# The status page under load: a release build of gatehouse with COMPONENTS components (two
# probes each, checking the built-in demo backend every second) serves its page, its JSON
# and a badge to wrk; the view is rebuilt from the probe store every 5 s while this runs.
# Usage: scripts/bench-status.sh [DURATION, default 10s] [CONNECTIONS, default 32] [COMPONENTS, default 20]
# Installs cmake and wrk when missing. Everything runs on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-10s}
CONNECTIONS=${2:-32}
COMPONENTS=${3:-20}
bash scripts/setup.sh --bench
cargo build --locked --release --quiet --bin gatehouse
BIN=target/release/gatehouse
work=$(mktemp -d)
pid=""
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
P=$(port); A=$(port); D=$(port); S=$(port)
{
  echo "listeners: [{ name: http, address: \"127.0.0.1:$P\" }]"
  echo "admin: { listen: \"127.0.0.1:$A\" }"
  echo "state_dir: \"$work/state\""
  echo "log: { level: warn }"
  echo "demo: { listen: \"127.0.0.1:$D\" }"
  echo "upstreams: { demo: { backends: [{ address: \"127.0.0.1:$D\" }] } }"
  echo "routes: [{ name: demo, upstream: demo }]"
  echo "probes:"
  for i in $(seq 0 $((COMPONENTS - 1))); do
    echo "  - { name: p${i}a, interval: 1s, http: { url: \"http://127.0.0.1:$D/healthz\" } }"
    echo "  - { name: p${i}b, interval: 1s, tcp: { address: \"127.0.0.1:$D\" } }"
  done
  echo "status_page:"
  echo "  listen: \"127.0.0.1:$S\""
  echo "  components:"
  for i in $(seq 0 $((COMPONENTS - 1))); do
    echo "    - { name: \"Component $i\", slug: c$i, group: \"Group $((i % 4))\", probes: [p${i}a, p${i}b] }"
  done
} > "$work/gatehouse.yaml"
"$BIN" run --config "$work/gatehouse.yaml" > "$work/log" 2>&1 &
pid=$!
for _ in $(seq 1 200); do
  curl -fs -o /dev/null "http://127.0.0.1:$S/" && break
  sleep 0.05
done
sleep 3   # a few probe results in the store
bytes=$(curl -fs "http://127.0.0.1:$S/" | wc -c)
echo "status page: $COMPONENTS components, $((COMPONENTS * 2)) probes, page $bytes bytes; wrk $DURATION, $CONNECTIONS connections"
for path in / /status.json /badge/c0/status.svg; do
  out=$(wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency "http://127.0.0.1:$S$path")
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p99=$(echo "$out" | awk '$1 == "99%" {print $2}')
  printf '  %-22s %10s req/s   p99 %s\n' "$path" "$rps" "$p99"
done
echo "  gatehouse RSS: $(awk '/VmRSS/ {print $2 / 1024 " MiB"}' /proc/$pid/status)"
