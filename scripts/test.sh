#!/usr/bin/env bash
# Run every test: unit tests and the integration tests that start the real binary against real
# upstream servers on loopback. Installs what is missing first.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --locked --workspace --no-fail-fast "$@"
  cargo test --locked --workspace --doc
else
  cargo test --locked --workspace --no-fail-fast "$@"
fi
