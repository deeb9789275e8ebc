#!/usr/bin/env bash
# The release build, exactly as the container image makes it (the Dockerfile runs this script)
# and as CI runs it: the locked dependency tree, the tuned [profile.release] of Cargo.toml, and
# what an install needs next to the binary.
#   scripts/build-release.sh [OUT]    default OUT: dist
# OUT/gatehouse                    the binary (stripped)
# OUT/completions/                 gatehouse.bash, _gatehouse (zsh), gatehouse.fish
# OUT/man/                         gatehouse.1 and gatehouse-COMMAND.1
# OUT/gatehouse.schema.json        the config's JSON Schema, for editors
# A release build takes 10+ minutes on 2 cores; for trying gatehouse, scripts/quickstart.sh
# runs a debug build.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-dist}"
bash scripts/setup.sh
cargo build --locked --release --bin gatehouse
mkdir -p "$out/completions" "$out/man"
cp "${CARGO_TARGET_DIR:-target}/release/gatehouse" "$out/gatehouse"
bin="$out/gatehouse"
"$bin" completions bash >"$out/completions/gatehouse.bash"
"$bin" completions zsh >"$out/completions/_gatehouse"
"$bin" completions fish >"$out/completions/gatehouse.fish"
"$bin" man --dir "$out/man"
"$bin" schema >"$out/gatehouse.schema.json"
echo "build-release: $("$bin" --version), $(du -h "$bin" | cut -f1) in $out/" >&2
