#!/usr/bin/env bash
# gatehouse against its peers, in one run: one origin (nginx serving a static body), and in
# front of it nginx, HAProxy and Caddy (Debian's packages, installed when missing) configured
# alike (one worker, upstream keep-alive, the same five response headers), gatehouse with its
# full policy stack (security headers + CSP, CORS, a rate limit, live signals, metrics) and
# gatehouse with every policy off. The same wrk load against each, the proxies in turns
# (reversed every other round), ROUNDS rounds; printed per case and proxy: the median round's
# req/s, p50/p99, CPU time per request (the proxy's processes, user+sys over requests), RSS
# after the run, and req/s as a ratio to nginx.
# Cases (all 1 KiB bodies unless said):
#   h1    HTTP/1.1 keep-alive (wrk)
#   1m    HTTP/1.1 keep-alive, 1 MiB body (wrk, a quarter of the connections)
#   tls   HTTPS keep-alive, TLS 1.3, HTTP/1.1 (wrk)
#   hs    new TLS 1.3 handshakes: HTTPS with `Connection: close`, one handshake per request
#         (wrk, no session resumption; ECDSA P-256 certificate)
#   h2    HTTP/2 over TLS (h2load, 32 connections x 10 streams); p50/p99 from its request log
#   idle  10,000 idle keep-alive connections (IDLE_N; fewer when the open-file limit is under
#         22,000, see below), each after one answered request: the
#         proxy's RSS with them held minus before, per connection ("req/s" column: KB per
#         connection; the ratio is nginx's KB over the proxy's, higher is better)
# "RSS MB" is the proxy's RSS after the case; the first line per proxy ("rest") is its RSS
# right after start and one request: idle memory.
# Usage: scripts/bench-peers.sh [DURATION, default 10s] [CONNECTIONS, default 64] [ROUNDS, default 3]
#   BIN=...        a gatehouse binary (default: a release build made here)
#   CASES="h1 1m tls hs h2 idle"  PROXIES="nginx haproxy caddy gatehouse gatehouse-off"
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
command -v h2load >/dev/null 2>&1 || need+=(nghttp2-client)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
if ((${#need[@]})); then
  SUDO=""; if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

# Every side holds IDLE_N sockets in the idle case (the proxies their upstream ones too).
ulimit -n "$(ulimit -Hn)"
FILES=$(ulimit -n)
# HAProxy wants two files per connection it accepts (client and server side), so half the
# open-file limit bounds the idle case: 10,000 needs a limit above 22,000 (here: 20,000).
IDLE_N=${IDLE_N:-$((10000 < FILES / 2 - 1000 ? 10000 : FILES / 2 - 1000))}
# Connections each proxy accepts: the idle ones and room for the load.
MAXCONN=$((IDLE_N + 500))

# One certificate for every proxy's TLS listener: ECDSA P-256, for localhost and 127.0.0.1.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
openssl pkcs8 -topk8 -nocrypt -in "$work/key.pem" -out "$work/key8.pem"
cat "$work/cert.pem" "$work/key.pem" >"$work/both.pem"
chmod 644 "$work"/*.pem
HSTS="max-age=31536000; includeSubDomains"

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
worker_rlimit_nofile $FILES;
events { worker_connections $((FILES - 100)); }
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
# Start proxy $1 with plain HTTP on port $2 and TLS (h2 and http/1.1 by ALPN) on port $3;
# prints its pid (the one whose process tree is measured).
start_proxy() {
  local name=$1 p=$2 tp=$3 d="$work/$1"
  mkdir -p "$d"
  case $name in
    nginx)
      cat >"$d/nginx.conf" <<NGINX
worker_processes 1;
daemon off;
pid $d/nginx.pid;
error_log $d/error.log;
worker_rlimit_nofile $FILES;
events { worker_connections $MAXCONN; }
http {
  access_log off;
  keepalive_requests 1000000;
  upstream origin { server 127.0.0.1:$up; keepalive 64; }
  proxy_http_version 1.1;
  proxy_set_header Connection "";
  proxy_max_temp_file_size 0;   # stream large bodies instead of spooling them to disk
  add_header X-Content-Type-Options nosniff always;
  add_header X-Frame-Options SAMEORIGIN always;
  add_header Referrer-Policy strict-origin-when-cross-origin always;
  add_header Cross-Origin-Opener-Policy same-origin always;
  add_header Content-Security-Policy "$CSP" always;
  server {
    listen 127.0.0.1:$p;
    location / { proxy_pass http://origin; }
  }
  server {
    listen 127.0.0.1:$tp ssl http2;
    ssl_certificate $work/cert.pem;
    ssl_certificate_key $work/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3;
    http2_max_requests 1000000;
    location / {
      proxy_pass http://origin;
      add_header X-Content-Type-Options nosniff always;
      add_header X-Frame-Options SAMEORIGIN always;
      add_header Referrer-Policy strict-origin-when-cross-origin always;
      add_header Cross-Origin-Opener-Policy same-origin always;
      add_header Content-Security-Policy "$CSP" always;
      add_header Strict-Transport-Security "$HSTS" always;
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
  maxconn $MAXCONN
  ulimit-n $FILES   # it would want two files per connection; idle clients hold no server side
defaults
  mode http
  maxconn $MAXCONN
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  http-reuse always
frontend f
  bind 127.0.0.1:$p
  bind 127.0.0.1:$tp ssl crt $work/both.pem alpn h2,http/1.1
  http-response set-header X-Content-Type-Options nosniff
  http-response set-header X-Frame-Options SAMEORIGIN
  http-response set-header Referrer-Policy strict-origin-when-cross-origin
  http-response set-header Cross-Origin-Opener-Policy same-origin
  http-response set-header Content-Security-Policy "$CSP"
  http-response set-header Strict-Transport-Security "$HSTS" if { ssl_fc }
  default_backend b
backend b
  server o 127.0.0.1:$up
HAP
      taskset -c 0 haproxy -db -f "$d/haproxy.cfg" >"$d/log" 2>&1 &
      ;;
    caddy)
      cat >"$d/Caddyfile" <<CADDY
{
  admin off
  auto_https off
}
(common) {
  header {
    X-Content-Type-Options nosniff
    X-Frame-Options SAMEORIGIN
    Referrer-Policy strict-origin-when-cross-origin
    Cross-Origin-Opener-Policy same-origin
    Content-Security-Policy "$CSP"
  }
  reverse_proxy 127.0.0.1:$up
}
http://127.0.0.1:$p {
  import common
}
https://localhost:$tp, https://127.0.0.1:$tp {
  tls $work/cert.pem $work/key.pem
  header Strict-Transport-Security "$HSTS"
  import common
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
        policy="policy: { headers: { hsts: false, content_type_options: false, frame_options: false, referrer_policy: false, cross_origin_opener_policy: false, cross_origin_resource_policy: false, remove: [] } }"
        signals=false
      fi
      cat >"$d/gatehouse.yaml" <<YAML
listeners:
  - { name: http, address: "127.0.0.1:$p", max_connections: $MAXCONN, max_connections_per_ip: $MAXCONN }
  - { name: https, address: "127.0.0.1:$tp", tls: true, max_connections: $MAXCONN, max_connections_per_ip: $MAXCONN }
tls:
  certificates: [{ cert_file: $work/cert.pem, key_file: $work/key8.pem }]
  default_certificate: localhost
  redirect_http: false
admin: { listen: "127.0.0.1:$a" }
server: { threads: 1, keepalive_requests: 1000000 }
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

# Holds IDLE_N keep-alive connections after one answered request each, until told to close.
cat >"$work/hold.py" <<'PY'
import socket, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
socks = []
for i in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"GET /1k HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    socks.append(s)
ok = 0
for s in socks:
    s.settimeout(20)
    buf = b""
    try:
        while b"\r\n\r\n" not in buf:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    except OSError:
        pass
    ok += buf.startswith(b"HTTP/1.1 200")
if ok != n:
    print(f"bench: only {ok} of {n} held connections were answered 200", file=sys.stderr)
print("held", flush=True)
sys.stdin.readline()
for s in socks:
    s.close()
PY

# The load of case $1 against a proxy with plain port $2, TLS port $3: prints
# "requests req/s p50 p99" (latencies with their unit, as wrk prints them).
load() {
  local c=$1 p=$2 tp=$3 dur=$4 out
  local wrk=(taskset -c "$last_cpu" wrk -t1 -d"$dur" --latency)
  case $c in
    h1) out=$("${wrk[@]}" -c"$CONNECTIONS" "http://127.0.0.1:$p/1k") ;;
    1m) out=$("${wrk[@]}" -c"$((CONNECTIONS / 4 > 0 ? CONNECTIONS / 4 : 1))" "http://127.0.0.1:$p/1m") ;;
    tls) out=$("${wrk[@]}" -c"$CONNECTIONS" "https://localhost:$tp/1k") ;;
    hs) out=$("${wrk[@]}" -c16 -H "Connection: close" "https://localhost:$tp/1k") ;;
    h2)
      rm -f "$work/h2.log"
      out=$(taskset -c "$last_cpu" h2load -c32 -m10 -D"${dur%s}" --log-file="$work/h2.log" \
        "https://localhost:$tp/1k" 2>&1)
      # h2load's log: start time, status, microseconds per request.
      local n rps p50 p99
      n=$(awk '/^requests:/ {print $8}' <<<"$out")
      rps=$(awk '/^finished in/ {print $4}' <<<"$out")
      read -r p50 p99 < <(awk '$2 == 200 {print $3}' "$work/h2.log" | sort -n |
        awk '{v[NR] = $1} END {printf "%.2fms %.2fms\n", v[int(NR * 0.5)] / 1000, v[int(NR * 0.99)] / 1000}')
      echo "${n:-0} ${rps:-0} $p50 $p99"
      return
      ;;
  esac
  awk '/requests in/ {n = $1} /Requests\/sec/ {r = $2} $1 == "50%" {a = $2} $1 == "99%" {b = $2}
    END {print n + 0, r + 0, a, b}' <<<"$out"
}

results="$work/results"
: >"$results"
cases=(${CASES:-h1 1m tls hs h2 idle})
proxies=(${PROXIES:-nginx haproxy caddy gatehouse gatehouse-off})
for round in $(seq 1 "$ROUNDS"); do
  order=("${proxies[@]}")
  if ((round % 2 == 0)); then
    order=()
    for ((i = ${#proxies[@]} - 1; i >= 0; i--)); do order+=("${proxies[i]}"); done
  fi
  for proxy in "${order[@]}"; do
    p=$(port); tp=$(port)
    pid=$(start_proxy "$proxy" "$p" "$tp")
    wait_http "http://127.0.0.1:$p/1k" || { cat "$work/$proxy/log" >&2 2>/dev/null; exit 1; }
    sleep 1
    echo "rest $proxy 0 - - - $(rss_kb "$pid")" >>"$results"
    for c in "${cases[@]}"; do
      if [ "$c" = idle ]; then
        before=$(rss_kb "$pid")
        coproc HOLD { python3 "$work/hold.py" "$p" "$IDLE_N"; }
        read -r _ <&"${HOLD[0]}"
        sleep 1
        with=$(rss_kb "$pid")
        echo >&"${HOLD[1]}"
        wait "$HOLD_PID" 2>/dev/null || true
        kb=$(awk -v a="$before" -v b="$with" -v n="$IDLE_N" 'BEGIN { printf "%.2f", (b - a) / n }')
        echo "idle $proxy $kb - - - $with" >>"$results"
        echo "round $round: idle $proxy $kb KB per connection" >&2
        continue
      fi
      load "$c" "$p" "$tp" 2s >/dev/null
      t0=$(ticks "$pid")
      read -r reqs rps p50 p99 < <(load "$c" "$p" "$tp" "$DURATION")
      t1=$(ticks "$pid")
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
for c in rest "${cases[@]}"; do
  # The median round; idle: KB per connection (ratio: nginx's over the proxy's); rest: RSS only.
  base=$({ grep "^$c nginx " "$results" || true; } | sort -k3 -g | awk -v n="$ROUNDS" 'NR == int((n + 1) / 2) {print $3}')
  key=3; [ "$c" = rest ] && key=7
  for proxy in "${proxies[@]}"; do
    { grep "^$c $proxy " "$results" || true; } | sort -k"$key" -g | awk -v n="$ROUNDS" -v base="${base:-0}" -v c="$c" \
      'NR == int((n + 1) / 2) {
        r = (c == "idle") ? ($3 > 0 ? base / $3 : 0) : (base > 0 ? $3 / base : 0)
        printf "%-4s %-14s %10s %9s %9s %11s %9.1f %9s\n", $1, $2, $3, $4, $5, $6, $7 / 1024, (r > 0 ? sprintf("%.2f", r) : "-") }'
  done
done
