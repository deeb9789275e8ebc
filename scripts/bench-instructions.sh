#!/usr/bin/env bash
# The regression guard of the request path (run by CI): CPU instructions per proxied request,
# counted by valgrind's callgrind, which is exact where wall-clock figures on a shared 2-core
# VM swing by a fifth. gatehouse (the full policy stack: security headers, CORS, a rate limit,
# live signals, metrics) proxies to nginx; after a warm-up, N keep-alive requests are sent by
# one curl and the instructions of that stretch (every gatehouse thread) are divided by N.
# Fails when the figure exceeds the committed baseline by more than LIMIT percent: generous,
# so that only a large regression (an accidental per-request allocation storm, a lock, a
# syscall per header) trips it.
# Usage: scripts/bench-instructions.sh [N, default 2000]
#   BIN=dist/gatehouse   a built binary (default: a release build made here)
#   LIMIT=50             percent over scripts/instructions-baseline that fails
#   UPDATE=1             write the figure as the new baseline
#   STACK=off            every policy off and no live signals (what Pingora and the bare
#                        request path cost); default: the full stack (CI's figure)
#   ACCESS_LOG=false     no access log line (default: on, gatehouse's default)
#   KEEP=DIR             keep the callgrind dumps there (for callgrind_annotate; a binary
#                        with symbols: CARGO_PROFILE_RELEASE_STRIP=none, DEBUG=line-tables-only)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-2000}
LIMIT=${LIMIT:-50}
source scripts/bench-common.sh

up=$(port)
mkdir -p "$work/nginx"
cat >"$work/nginx/nginx.conf" <<NGINX
worker_processes 1;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  server { listen 127.0.0.1:$up; location / { return 200 "ok\n"; } }
}
NGINX
nginx -c "$work/nginx/nginx.conf" -p "$work/nginx" &
pids+=($!)

gp=$(port)
ap=$(port)
policy='
    policy:
      cors: { allow_origins: ["https://app.example.com"] }
      rate_limits: [{ name: per-client, rate: 1000000/s, burst: 1000000 }]'
signals=true
if [ "${STACK:-full}" = off ]; then
  policy='
    policy: { headers: { content_type_options: false, frame_options: false, referrer_policy: false, cross_origin_opener_policy: false, cross_origin_resource_policy: false, remove: [] } }'
  signals=false
fi
cat >"$work/gatehouse.yaml" <<YAML
state_dir: $work/state
listeners: [{ name: http, address: "127.0.0.1:$gp" }]
admin: { listen: "127.0.0.1:$ap" }
log: { access_log: ${ACCESS_LOG:-true} }
telemetry: { signals: $signals }
upstreams:
  app: { backends: [{ address: "127.0.0.1:$up" }] }
routes:
  - name: app
    upstream: app$policy
probes: []
YAML
"$BIN" check --config "$work/gatehouse.yaml" >/dev/null
valgrind --tool=callgrind --callgrind-out-file="$work/cg.%p" --dump-instr=no \
  --trace-children=no "$BIN" run --config "$work/gatehouse.yaml" >"$work/gh.log" 2>&1 &
vg=$!
pids+=($vg)
for _ in $(seq 1 600); do
  curl -fs -o /dev/null "http://127.0.0.1:$ap/readyz" && break
  sleep 0.1
done
curl -fs -o /dev/null "http://127.0.0.1:$ap/readyz" || { cat "$work/gh.log" >&2; exit 1; }

urls() { for _ in $(seq 1 "$1"); do printf 'url = "http://127.0.0.1:%s/x"\noutput = "/dev/null"\n' "$gp"; done; }
urls 200 >"$work/warm.cfg"
urls "$N" >"$work/run.cfg"
curl -sf -K "$work/warm.cfg"
callgrind_control --zero "$vg" >/dev/null
curl -sf -K "$work/run.cfg"
callgrind_control --dump=measured "$vg" >/dev/null
# The dump holds the instructions since --zero: the N requests (and the idle ticks of the
# background tasks meanwhile, a small and steady share).
ir=$(cat "$work"/cg.*.* 2>/dev/null | awk '/^summary:/ { s += $2 } END { print s + 0 }')
if [ "$ir" -eq 0 ]; then
  echo "bench-instructions: callgrind wrote no counts" >&2
  ls -la "$work" >&2
  exit 1
fi
if [ -n "${KEEP:-}" ]; then mkdir -p "$KEEP" && cp "$work"/cg.* "$KEEP"/; fi
per=$((ir / N))
echo "bench-instructions: $per instructions per request ($N requests, stack ${STACK:-full}, access log ${ACCESS_LOG:-true})"
baseline_file=scripts/instructions-baseline
if [ "${UPDATE:-0}" = 1 ]; then
  echo "$per" >"$baseline_file"
  echo "bench-instructions: baseline set to $per"
  exit 0
fi
baseline=$(cat "$baseline_file")
max=$((baseline * (100 + LIMIT) / 100))
echo "bench-instructions: baseline $baseline, fails above $max (+$LIMIT %)"
if [ "$per" -gt "$max" ]; then
  echo "bench-instructions: REGRESSION: $per instructions per request is more than $LIMIT % over the baseline $baseline" >&2
  exit 1
fi
