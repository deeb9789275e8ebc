#!/usr/bin/env bash
# Build and run gatehouse with the shipped quickstart config (a built-in demo backend, no
# internet, nothing else running). Then, in another terminal:
#   curl -i http://127.0.0.1:8080/hello
#   curl http://127.0.0.1:9901/metrics
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec cargo run --locked --bin gatehouse -- run --config config/examples/quickstart.yaml
