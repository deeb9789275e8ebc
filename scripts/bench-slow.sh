#!/usr/bin/env bash
# Slow clients: slowhttptest's slow-header (Slowloris, -H), slow-body (R-U-Dead-Yet, -B) and
# slow-read (-X) attacks against gatehouse (release build) and Debian's nginx side by side, in
# front of the same origin (nginx: `/` answers "ok", `/big` is a 256 KiB file for the slow
# reads, `/upload` reads the whole request body before it answers, as an application would;
# with `return` the origin would answer at once and a proxy that streams bodies would see the
# request answered). During each attack a normal client (curl, a new connection per request,
# 20 requests/s started on a clock so that a stalled one does not hold back the next, 5 s to
# answer) measures its success rate and the p50 and p99 latency of its successful requests;
# the same client runs alone first, for the baseline. Then a table: per proxy and attack, the
# normal client's success and latency (baseline, during the attack), and slowhttptest's last
# second: its attack connections closed by the server, still connected, still pending (not yet
# connected), whether its own probe still got answers, and why it ended.
# Usage: scripts/bench-slow.sh [DURATION s, default 45] [CONNECTIONS, default 3000]
#                              [RATE new attack connections/s, default 300]
# Environment: TIMEOUT (default 10s) for both proxies' header, body and send timeouts;
# BASELINE (seconds of the client alone, default 15). Default run: about 6 minutes.
#
# The two proxies get the same settings:
#   - one worker each (gatehouse `server.threads: 1`, nginx `worker_processes 1`);
#   - the whole request head within TIMEOUT from accept (gatehouse `server.header_timeout`,
#     nginx `client_header_timeout`: both count from the accept, not per read); at most TIMEOUT
#     between two reads of a request body (`client_body_timeout` in both) and between two
#     writes that the client takes (`send_timeout` in both); keep-alive idle timeouts at the
#     defaults (gatehouse 60 s, nginx 75 s), as they play no part here;
#   - no per-address cap: the attacker and the normal client both come from 127.0.0.1, so
#     gatehouse's `max_connections_per_ip` (default 1000) is raised to the open-file limit, as
#     nginx has none unless `limit_conn` is set; in production it is what turns a single-address
#     flood away (`gatehouse_connections_refused_total{reason="per_ip_cap"}`);
#   - connection caps from the open-file limit (raised to the hard limit, as bench-idle.sh
#     does): gatehouse's default `max_connections` (3/4 of it), nginx's `worker_connections`;
#   - nginx at its defaults reads a whole request body before it passes the request on, and
#     buffers responses (temporary files in the work directory); gatehouse streams both.
# The attacks send or read their next bytes every 5 s (-i 5, -n 5), inside TIMEOUT: per-read
# deadlines cannot end them, only a deadline for the whole head (Slowloris), or a send that
# stalls (slow read, when the client's window stays shut for longer than TIMEOUT; reading 32
# bytes every 5 s opens it often enough that neither proxy closes them).
# Installs wrk, nginx, curl and slowhttptest when missing. Everything runs on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-45}
CONNS=${2:-3000}
RATE=${3:-300}
TIMEOUT=${TIMEOUT:-10s}
BASELINE=${BASELINE:-15}
source scripts/bench-common.sh
if ! command -v slowhttptest >/dev/null 2>&1; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq slowhttptest >/dev/null
fi
# The attacker holds CONNS sockets and the proxies as many again towards the origin.
ulimit -n "$(ulimit -Hn)"
FILES=$(ulimit -n)

origin=$(port)
mkdir -p "$work/origin/html" "$work/front"
head -c 262144 /dev/zero | tr '\0' x >"$work/origin/html/big"
cat >"$work/origin/nginx.conf" <<NGINX
worker_processes 1; daemon off; pid $work/origin/nginx.pid; error_log $work/origin/error.log;
worker_rlimit_nofile $FILES;
events { worker_connections $((FILES - 100)); }
http { access_log off; client_body_temp_path $work/origin/body; proxy_temp_path $work/origin/proxy;
  server { listen 127.0.0.1:$origin backlog=4096;
  location / { return 200 "ok\n"; } location = /big { root $work/origin/html; }
  location = /upload { proxy_pass http://127.0.0.1:$origin/; } } }
NGINX
nginx -p "$work/origin" -c "$work/origin/nginx.conf" & pids+=($!)
wait_http "http://127.0.0.1:$origin/"

front=() # pid and port of the proxy under test
start() { # nginx | gatehouse
  local p a
  p=$(port)
  if [ "$1" = nginx ]; then
    rm -rf "$work/front"; mkdir -p "$work/front/tmp"
    cat >"$work/front/nginx.conf" <<NGINX
worker_processes 1; daemon off; pid $work/front/nginx.pid; error_log $work/front/error.log;
worker_rlimit_nofile $FILES;
events { worker_connections $((FILES - 100)); }
http { access_log off; keepalive_timeout 75s; keepalive_requests 1000;
  client_header_timeout $TIMEOUT; client_body_timeout $TIMEOUT; send_timeout $TIMEOUT;
  client_body_temp_path $work/front/tmp/body; proxy_temp_path $work/front/tmp/proxy;
  upstream o { server 127.0.0.1:$origin; keepalive 32; }
  server { listen 127.0.0.1:$p; location / { proxy_pass http://o; proxy_http_version 1.1; proxy_set_header Connection ""; } } }
NGINX
    nginx -p "$work/front" -c "$work/front/nginx.conf" & front=($! "$p")
  else
    a=$(port)
    cat >"$work/gh.yaml" <<YAML
listeners: [{ name: http, address: "127.0.0.1:$p", max_connections_per_ip: $FILES }]
admin: { listen: "127.0.0.1:$a" }
server: { threads: 1, header_timeout: $TIMEOUT, client_body_timeout: $TIMEOUT, send_timeout: $TIMEOUT }
log: { level: warn, access_log: false }
state_dir: $work/state
upstreams: { o: { backends: [{ address: "127.0.0.1:$origin" }] } }
routes: [{ name: o, upstream: o }]
YAML
    rm -rf "$work/state"
    "$BIN" run --config "$work/gh.yaml" >"$work/gh.log" 2>&1 & front=($! "$p" "$a")
    wait_http "http://127.0.0.1:$a/readyz"
  fi
  pids+=("${front[0]}")
  wait_http "http://127.0.0.1:$p/"
}
stop() {
  kill "${front[0]}" 2>/dev/null || true
  wait "${front[0]}" 2>/dev/null || true
}

# The normal client: one request every 50 ms, each on its own connection and in the
# background, for $2 s or until $work/stop exists; a line "status seconds" per request in $3.
client() {
  local url=$1 until=$((EPOCHSECONDS + $2))
  rm -f "$work/stop"
  while [ ! -e "$work/stop" ] && ((EPOCHSECONDS < until)); do
    curl -s -o /dev/null --max-time 5 -w '%{http_code} %{time_total}\n' "$url" >>"$3" 2>/dev/null &
    sleep 0.05
  done
  wait
}
summary() { # file -> "success% p50ms p99ms requests", latency of the successful requests
  awk '$1 == 200 {print $2 * 1000}' "$1" | sort -n | awk -v n="$(wc -l <"$1")" '
    function q(p, i) { i = int(NR * p + 0.999); return NR ? v[i < 1 ? 1 : i] : 0 }
    {v[NR] = $1} END {printf "%.1f %.1f %.1f %d\n", n ? 100 * NR / n : 0, q(0.5), q(0.99), n}'
}

: >"$work/results"; : >"$work/counters"
for proxy in nginx gatehouse; do
  start "$proxy"
  : >"$work/base.txt"
  (client "http://127.0.0.1:${front[1]}/" "$BASELINE" "$work/base.txt")
  echo "$proxy baseline $(summary "$work/base.txt")" >>"$work/results"
  echo "baseline: $proxy $(summary "$work/base.txt") (success %, p50 ms, p99 ms, requests)" >&2
  stop
done

for attack in H B X; do
  case $attack in
    H) name=slow-header; flags=(-H -i 5 -x 24); path=/ ;;
    B) name=slow-body; flags=(-B -i 5 -x 10 -s 8192); path=/upload ;;
    X) name=slow-read; flags=(-X -w 512 -y 1024 -n 5 -z 32 -k 3); path=/big ;;
  esac
  for proxy in nginx gatehouse; do
    start "$proxy"
    : >"$work/during.txt"
    client "http://127.0.0.1:${front[1]}/" 100000 "$work/during.txt" &
    cl=$!
    slowhttptest "${flags[@]}" -c "$CONNS" -r "$RATE" -l "$DURATION" -p 3 -g -o "$work/st" \
      -u "http://127.0.0.1:${front[1]}$path" >"$work/st.out" 2>&1 &
    sh=$!
    pids+=("$cl" "$sh")
    wait "$sh" || true
    touch "$work/stop"
    wait "$cl" || true
    # slowhttptest's last second: closed by the server, connected, pending; probe answered?
    last=$(tail -n 1 "$work/st.csv")
    down=$(awk -F, 'NR > 1 && $5 == 0' "$work/st.csv" | wc -l)
    ended=$(sed 's/\x1b\[[0-9;]*[a-zA-Z]//g' "$work/st.out" | awk -F': *' '/^Exit status/ {print $2}' | tr ' ' _)
    IFS=, read -r sec closed pending connected avail <<<"$last"
    probe=$([ "$avail" != 0 ] && echo yes || echo no)
    if [ "$proxy" = gatehouse ]; then # refused (at the caps) and closed at a deadline
      curl -fs "http://127.0.0.1:${front[2]}/metrics" | awk -v a="$name" -F'[",} ]+' '
        /^gatehouse_(connections_refused|listener_timeouts)_total\{listener="http"/ {s = s " " $4 "=" $5}
        END {print a ":" s}' >>"$work/counters"
    fi
    echo "$proxy $name $(summary "$work/during.txt") $closed $connected $pending" \
      "${probe}(${down}s_down) ${sec}s:${ended:-?}" >>"$work/results"
    echo "$name: $proxy $(summary "$work/during.txt"); slowhttptest at ${sec}s: closed $closed," \
      "connected $connected, pending $pending, probe $probe ($down s down), ${ended:-?}" >&2
    stop
    sleep 2
  done
done

echo
printf '%-10s %-12s %6s %6s %6s %6s %6s %6s %7s %9s %7s %-13s %s\n' proxy attack "b ok%" "ok%" \
  "b p50" p50 "b p99" p99 closed connected pending probe end
for proxy in nginx gatehouse; do
  read -r _ _ bok bp50 bp99 _ < <(grep "^$proxy baseline " "$work/results")
  grep "^$proxy slow-" "$work/results" | while read -r _ name ok p50 p99 _ closed connected pending probe ended; do
    printf '%-10s %-12s %6s %6s %6s %6s %6s %6s %7s %9s %7s %-13s %s\n' "$proxy" "$name" "$bok" "$ok" \
      "$bp50" "$p50" "$bp99" "$p99" "$closed" "$connected" "$pending" "$probe" "$ended"
  done
done
echo "(ok%: the normal client's requests answered 200 within 5 s; p50/p99 in ms of those; b: baseline)"
echo
echo "gatehouse's counters at the end of each attack (connections refused, closed at a deadline):"
cat "$work/counters"
