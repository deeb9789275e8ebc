#!/usr/bin/env bash
# gatehouse against its peers, in one run: one origin (nginx serving a static body), and in
# front of it nginx, HAProxy and Caddy (Debian's packages, installed when missing) configured
# alike (one worker, upstream keep-alive, the same five response headers), gatehouse with its
# full policy stack (security headers + CSP, CORS, a rate limit, live signals, metrics) and
# gatehouse with every policy off. The same wrk load against each, the proxies in turns
# (reversed every other round), ROUNDS rounds; printed per case and proxy: the median round's
# req/s, p50/p99, CPU time per request (the proxy's processes, user+sys over requests), RSS
# after the run, and req/s as a ratio to nginx.
# Cases: h1 (HTTP/1.1 keep-alive, 1 KiB body), 1m (HTTP/1.1 keep-alive, 1 MiB body).
# Not yet here (issue 20): TLS keep-alive, new TLS handshakes/s, HTTP/2 with h2load, 10,000
# idle connections (scripts/bench-idle.sh measures gatehouse and nginx).
# Usage: scripts/bench-peers.sh [DURATION, default 10s] [CONNECTIONS, default 64] [ROUNDS, default 3]
#   BIN=...        a gatehouse binary (default: a release build made here)
#   CASES="h1 1m"  PROXIES="nginx haproxy caddy gatehouse gatehouse-off"
# The proxy is pinned to the first CPU; wrk and the origin share the last.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-10s}
CONNECTIONS=${2:-64}
ROUNDS=${3:-3}
last_cpu=$(($(nproc) - 1))
source scripts/bench-common.sh
need=()
command -v haproxy >/dev/null 2>&1 || need+=(haproxy)
command -v caddy >/dev/null 2>&1 || need+=(caddy)
if ((${#need[@]})); then
  SUDO=""; if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

# The origin.
up=$(port)
mkdir -p "$work/origin/html"
head -c 1024 /dev/zero | tr '\0' 'a' >"$work/origin/html/1k"
head -c 1048576 /dev/zero | tr '\0' 'b' >"$work/origin/html/1m"
# nginx's workers run as nobody when started as root: let them read the bodies.
chmod 755 "$work" "$work/origin" "$work/origin/html"
chmod 644 "$work/origin/html/"*
cat >"$work/origin/nginx.conf" <<NGINX
worker_processes 1;
daemon off;
pid $work/origin/nginx.pid;
error_log $work/origin/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  server { listen 127.0.0.1:$up; root $work/origin/html; }
}
NGINX
taskset -c "$last_cpu" nginx -p "$work/origin" -c "$work/origin/nginx.conf" &
pids+=($!)
wait_http "http://127.0.0.1:$up/1k"

CSP="default-src 'self'"
# Start proxy $1 on port $2; prints its pid (the one whose process tree is measured).
start_proxy() {
  local name=$1 p=$2 d="$work/$1"
  mkdir -p "$d"
  case $name in
    nginx)
      cat >"$d/nginx.conf" <<NGINX
worker_processes 1;
daemon off;
pid $d/nginx.pid;
error_log $d/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  upstream origin { server 127.0.0.1:$up; keepalive 64; }
  server {
    listen 127.0.0.1:$p;
    location / {
      proxy_pass http://origin;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_max_temp_file_size 0;   # stream large bodies instead of spooling them to disk
      add_header X-Content-Type-Options nosniff always;
      add_header X-Frame-Options SAMEORIGIN always;
      add_header Referrer-Policy strict-origin-when-cross-origin always;
      add_header Cross-Origin-Opener-Policy same-origin always;
      add_header Content-Security-Policy "$CSP" always;
    }
  }
}
NGINX
      taskset -c 0 nginx -p "$d" -c "$d/nginx.conf" >/dev/null 2>&1 &
      ;;
    haproxy)
      cat >"$d/haproxy.cfg" <<HAP
global
  nbthread 1
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  http-reuse always
frontend f
  bind 127.0.0.1:$p
  http-response set-header X-Content-Type-Options nosniff
  http-response set-header X-Frame-Options SAMEORIGIN
  http-response set-header Referrer-Policy strict-origin-when-cross-origin
  http-response set-header Cross-Origin-Opener-Policy same-origin
  http-response set-header Content-Security-Policy "$CSP"
  default_backend b
backend b
  server o 127.0.0.1:$up
HAP
      taskset -c 0 haproxy -db -f "$d/haproxy.cfg" >/dev/null 2>&1 &
      ;;
    caddy)
      cat >"$d/Caddyfile" <<CADDY
{
  admin off
  auto_https off
}
http://127.0.0.1:$p {
  header {
    X-Content-Type-Options nosniff
    X-Frame-Options SAMEORIGIN
    Referrer-Policy strict-origin-when-cross-origin
    Cross-Origin-Opener-Policy same-origin
    Content-Security-Policy "$CSP"
  }
  reverse_proxy 127.0.0.1:$up
}
CADDY
      GOMAXPROCS=1 HOME="$d" XDG_DATA_HOME="$d" XDG_CONFIG_HOME="$d" \
        taskset -c 0 caddy run --adapter caddyfile --config "$d/Caddyfile" >"$d/log" 2>&1 &
      ;;
    gatehouse | gatehouse-off)
      local a; a=$(port)
      local policy="policy: { headers: { content_security_policy: { directives: { default-src: [\"'self'\"] } } }, cors: { allow_origins: [\"https://app.example.com\"] }, rate_limits: [{ name: per-client, rate: 1000000/s, burst: 1000000 }] }"
      local signals=true
      if [ "$name" = gatehouse-off ]; then
        policy="policy: { headers: { content_type_options: false, frame_options: false, referrer_policy: false, cross_origin_opener_policy: false, cross_origin_resource_policy: false, remove: [] } }"
        signals=false
      fi
      cat >"$d/gatehouse.yaml" <<YAML
listeners: [{ name: http, address: "127.0.0.1:$p" }]
admin: { listen: "127.0.0.1:$a" }
server: { threads: 1 }
log: { level: warn, access_log: false }
state_dir: $d/state
telemetry: { signals: $signals }
upstreams:
  app: { backends: [{ address: "127.0.0.1:$up" }] }
routes:
  - { name: app, upstream: app, $policy }
YAML
      taskset -c 0 "$BIN" run --config "$d/gatehouse.yaml" >"$d/log" 2>&1 &
      ;;
  esac
  echo $!
}

# user+sys clock ticks of a process and its children.
ticks() {
  local t=0 pid
  for pid in $1 $(pgrep -P "$1" || true); do
    t=$((t + $(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0)))
  done
  echo "$t"
}
rss_kb() {
  local r=0 pid
  for pid in $1 $(pgrep -P "$1" || true); do
    r=$((r + $(awk '/^VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)))
  done
  echo "$r"
}
hz=$(getconf CLK_TCK)

results="$work/results"
: >"$results"
cases=(${CASES:-h1 1m})
proxies=(${PROXIES:-nginx haproxy caddy gatehouse gatehouse-off})
for round in $(seq 1 "$ROUNDS"); do
  order=("${proxies[@]}")
  if ((round % 2 == 0)); then
    order=()
    for ((i = ${#proxies[@]} - 1; i >= 0; i--)); do order+=("${proxies[i]}"); done
  fi
  for proxy in "${order[@]}"; do
    p=$(port)
    pid=$(start_proxy "$proxy" "$p")
    wait_http "http://127.0.0.1:$p/1k"
    for c in "${cases[@]}"; do
      path=/1k; conns=$CONNECTIONS
      [ "$c" = 1m ] && { path=/1m; conns=$((CONNECTIONS / 4 > 0 ? CONNECTIONS / 4 : 1)); }
      taskset -c "$last_cpu" wrk -t1 -c"$conns" -d2s "http://127.0.0.1:$p$path" >/dev/null
      t0=$(ticks "$pid")
      out=$(taskset -c "$last_cpu" wrk -t1 -c"$conns" -d"$DURATION" --latency "http://127.0.0.1:$p$path")
      t1=$(ticks "$pid")
      reqs=$(awk '/requests in/ {print $1}' <<<"$out")
      rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
      p50=$(awk '$1=="50%" {print $2}' <<<"$out")
      p99=$(awk '$1=="99%" {print $2}' <<<"$out")
      us=$(awk -v t=$((t1 - t0)) -v hz="$hz" -v n="$reqs" 'BEGIN { printf "%.1f", (n > 0 ? t / hz * 1e6 / n : 0) }')
      echo "$c $proxy $rps $p50 $p99 $us $(rss_kb "$pid")" >>"$results"
      echo "round $round: $c $proxy $rps req/s" >&2
    done
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
done

echo
printf '%-4s %-14s %10s %9s %9s %11s %9s %9s\n' case proxy "req/s" p50 p99 "cpu us/req" "RSS MB" "x nginx"
for c in "${cases[@]}"; do
  base=$(grep "^$c nginx " "$results" | sort -k3 -n | awk -v n="$ROUNDS" 'NR == int((n + 1) / 2) {print $3}')
  for proxy in "${proxies[@]}"; do
    grep "^$c $proxy " "$results" | sort -k3 -n | awk -v n="$ROUNDS" -v base="${base:-0}" \
      'NR == int((n + 1) / 2) {printf "%-4s %-14s %10s %9s %9s %11s %9.1f %9.2f\n", $1, $2, $3, $4, $5, $6, $7 / 1024, (base > 0 ? $3 / base : 0)}'
  done
done
