# Sourced by the bench scripts: installs what they need, builds the release binary (BIN), and
# gives them a work directory, processes ended on exit (add their pids to `pids`), free
# loopback ports (`port`) and a wait for an HTTP endpoint (`wait_http URL`).
# A BIN given by the caller (e.g. CI's dist/gatehouse) is used as it is.
bash scripts/setup.sh --bench
if [ -z "${BIN:-}" ]; then
  cargo build --locked --release --quiet --bin gatehouse
  BIN=${CARGO_TARGET_DIR:-target}/release/gatehouse
fi
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() {
  for _ in $(seq 1 200); do
    curl -fs -o /dev/null "$1" && return 0
    sleep 0.05
  done
  echo "bench: $1 did not answer" >&2
  return 1
}
