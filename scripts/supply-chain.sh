#!/usr/bin/env bash
# Supply-chain checks of the dependency tree (Cargo.lock) with cargo-deny and deny.toml:
#   licenses  every crate's license is on the allow list (compatible with Apache-2.0)
#   bans      no OpenSSL bindings, no wildcard versions (duplicates are listed as warnings)
#   sources   crates.io only: no unknown registry, no git dependency
#   advisories  the RustSec advisory database (security advisories, unmaintained and yanked
#             crates). It is fetched from GitHub: where that cannot be reached (these build
#             machines reach crates.io only), a copy fetched earlier is used, or the check is
#             skipped with a message saying so. REQUIRE_ADVISORIES=1 makes that an error.
# Installs cargo-deny when missing (`cargo install --locked cargo-deny`, a few minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! cargo deny --version >/dev/null 2>&1; then
  echo "supply-chain: installing cargo-deny" >&2
  cargo install --locked cargo-deny
fi
cargo deny --log-level error check licenses bans sources
echo "supply-chain: licenses, bans and sources ok" >&2

if cargo deny --log-level error fetch db 2>/dev/null; then
  cargo deny --log-level error check advisories
  echo "supply-chain: advisories ok (database fetched now)" >&2
  exit 0
fi
db=$(ls -td "${CARGO_HOME:-$HOME/.cargo}"/advisory-dbs/*/ 2>/dev/null | head -1 || true)
if [ -n "$db" ] && [ -d "$db/crates" ]; then
  echo "supply-chain: the advisory database cannot be fetched; checking against the copy of $(date -r "$db" +%F)" >&2
  cargo deny --log-level error check --disable-fetch advisories
  echo "supply-chain: advisories ok against that copy" >&2
  exit 0
fi
msg="supply-chain: ADVISORIES NOT CHECKED: the RustSec advisory database (a git repository on GitHub) cannot be fetched from this machine and no copy exists; run scripts/supply-chain.sh where GitHub is reachable"
if [ "${REQUIRE_ADVISORIES:-0}" = 1 ]; then
  echo "$msg" >&2
  exit 1
fi
echo "$msg" >&2
