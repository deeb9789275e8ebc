#!/usr/bin/env bash
# Memory per idle keep-alive connection: gatehouse (release build) and Debian's nginx side by
# side, in front of the same origin. For each: RSS at rest, with N idle keep-alive connections
# (each has sent one request and read its answer), and twice after they are closed: 5 s after
# (AFTER_WAIT), and again once the upstream keep-alive connections the flood opened have idled
# out (IDLE_WAIT, 65 s: both proxies keep up to their pool size of them for 60 s, and while they
# live their objects pin allocator pages). RSS per connection = (with - at rest) / N; after/rest
# says how much of the memory stayed. And a normal client's p99 (wrk, 10 connections, 5 s)
# alone and while the N connections are held. IDLE_WAIT=0 skips the second sample.
# Usage: scripts/bench-idle.sh [CONNECTIONS, default 10000] [ROUNDS, default 3]
# Installs nginx and curl when missing. Everything runs on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-10000}
ROUNDS=${2:-3}
source scripts/bench-common.sh
# Each side holds N sockets (and the proxies their upstream ones): as many files as allowed.
ulimit -n "$(ulimit -Hn)"
FILES=$(ulimit -n)
rss_kb() { # the process and its children (nginx's worker)
  local total=0
  for p in "$1" $(pgrep -P "$1" || true); do
    total=$((total + $(awk '/^VmRSS/ {print $2}' "/proc/$p/status")))
  done
  echo "$total"
}

origin=$(port)
mkdir -p "$work/origin" "$work/front"
cat >"$work/origin/nginx.conf" <<NGINX
worker_processes 1; daemon off; pid $work/origin/nginx.pid; error_log $work/origin/error.log;
worker_rlimit_nofile $FILES;
events { worker_connections $((FILES - 100)); }
http { access_log off; server { listen 127.0.0.1:$origin; location / { return 200 "ok\n"; } } }
NGINX
nginx -p "$work/origin" -c "$work/origin/nginx.conf" & pids+=($!)
wait_http "http://127.0.0.1:$origin/"

# Holds N keep-alive connections after one request each, until told to close them.
cat >"$work/hold.py" <<'PY'
import socket, sys, time
port, n = int(sys.argv[1]), int(sys.argv[2])
socks = []
req = b"GET / HTTP/1.1\r\nHost: bench.test\r\n\r\n"
for i in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(req)
    socks.append(s)
ok = 0
for s in socks:
    s.settimeout(10)
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += s.recv(4096)
    ok += buf.startswith(b"HTTP/1.1 200")
if ok != n:
    print(f"bench: only {ok} of {n} held connections were answered 200", file=sys.stderr)
print("held", flush=True)
sys.stdin.readline()
for s in socks:
    s.close()
print("closed", flush=True)
PY

p99() { # port: a normal client's p99 latency in ms (wrk, 10 connections, 5 s)
  wrk -t1 -c10 -d5s --latency "http://127.0.0.1:$1/" | awk '$1 == "99%" {
    v = $2; if (v ~ /us$/) { sub(/us$/, "", v); v /= 1000 } else if (v ~ /ms$/) { sub(/ms$/, "", v) }
    else if (v ~ /s$/) { sub(/s$/, "", v); v *= 1000 } print v }'
}

measure() { # name pid port
  local before with after idle base busy
  # At rest means warmed up: after a normal client's run (its p99 is the baseline).
  base=$(p99 "$3")
  sleep 1
  before=$(rss_kb "$2")
  coproc HOLD { python3 "$work/hold.py" "$3" "$N"; }
  read -r _ <&"${HOLD[0]}"
  sleep 1
  with=$(rss_kb "$2")
  busy=$(p99 "$3")
  echo >&"${HOLD[1]}"
  read -r _ <&"${HOLD[0]}"
  wait "$HOLD_PID" 2>/dev/null || true
  sleep "${AFTER_WAIT:-5}"
  after=$(rss_kb "$2")
  idle=$after
  if [ "${IDLE_WAIT:-65}" != 0 ]; then
    sleep "$((${IDLE_WAIT:-65} - ${AFTER_WAIT:-5}))"
    idle=$(rss_kb "$2")
  fi
  echo "$1 $before $with $after $base $busy $idle" >>"$work/results"
  echo "round: $1 rest ${before} KB, with $N: ${with} KB, after: ${after} KB, upstreams idled out: ${idle} KB; p99 ${base} ms, with $N idle ${busy} ms" >&2
}

: >"$work/results"
for round in $(seq 1 "$ROUNDS"); do
  p=$(port)
  cat >"$work/front/nginx.conf" <<NGINX
worker_processes 1; daemon off; pid $work/front/nginx.pid; error_log $work/front/error.log;
worker_rlimit_nofile $FILES;
events { worker_connections $((FILES - 100)); }
http { access_log off; keepalive_timeout 75s; keepalive_requests 1000;
  upstream o { server 127.0.0.1:$origin; keepalive 32; }
  server { listen 127.0.0.1:$p; location / { proxy_pass http://o; proxy_http_version 1.1; proxy_set_header Connection ""; } } }
NGINX
  nginx -p "$work/front" -c "$work/front/nginx.conf" & ng=$!
  wait_http "http://127.0.0.1:$p/"
  measure nginx "$ng" "$p"
  kill "$ng"; wait "$ng" 2>/dev/null || true

  p=$(port); a=$(port)
  cat >"$work/gh.yaml" <<YAML
listeners: [{ name: http, address: "127.0.0.1:$p", max_connections_per_ip: $((N + 100)) }]
admin: { listen: "127.0.0.1:$a" }
server: { threads: 1 }
log: { level: warn, access_log: false }
state_dir: $work/state
upstreams: { o: { backends: [{ address: "127.0.0.1:$origin" }] } }
routes: [{ name: o, upstream: o }]
YAML
  "$BIN" run --config "$work/gh.yaml" >"$work/gh.log" 2>&1 & gh=$!
  wait_http "http://127.0.0.1:$a/readyz"
  measure gatehouse "$gh" "$p"
  kill "$gh"; wait "$gh" 2>/dev/null || true
done
echo
printf '%-10s %10s %12s %10s %12s %16s %14s %12s\n' proxy "rest KB" "with N KB" "after KB" "after/rest" "idled out/rest" "KB per conn" "p99 ms"
for name in nginx gatehouse; do
  # The median round by KB per connection; p99: alone -> with N idle connections.
  grep "^$name " "$work/results" | awk -v n="$N" '{print ($3 - $2) / n, $0}' | sort -n |
    awk -v r="$ROUNDS" 'NR == int((r + 1) / 2) {printf "%-10s %10d %12d %10d %11.1f%% %15.1f%% %14.2f %5s -> %s\n", $2, $3, $4, $5, ($5 - $3) * 100 / $3, ($8 - $3) * 100 / $3, $1, $6, $7}'
done
