#!/usr/bin/env bash
# Installs what gatehouse needs on a bare Debian/Ubuntu machine that has only the Rust
# toolchain. Safe to run again: installs only what is missing.
#   scripts/setup.sh          build: cmake (Pingora builds zlib-ng with it), make and a C
#                             compiler (jemalloc, the allocator, is built from C)
#   scripts/setup.sh --test   also the real peers the tests start: pebble and
#                             pebble-challtestsrv (ACME), curl (a test DNS hook),
#                             redis-server (shared rate limits), python3-aiosmtpd
#                             (the SMTP server of the email notifier test),
#                             prometheus and promtool (the dashboards and rules test),
#                             chromium (the status page's browser test),
#                             nginx (the reference in the request-integrity tests),
#                             systemd (systemd-analyze verifies deploy/systemd's unit),
#                             postgresql (cluster mode: each test makes a private
#                             cluster with initdb/pg_ctl from /usr/lib/postgresql/*/bin)
#   scripts/setup.sh --bench  also wrk, nginx, curl and valgrind for the bench scripts
set -euo pipefail
need=()
command -v cmake >/dev/null 2>&1 || need+=(cmake)
command -v make >/dev/null 2>&1 || need+=(make)
command -v cc >/dev/null 2>&1 || need+=(gcc)
if [ "${1:-}" = "--test" ]; then
  command -v curl >/dev/null 2>&1 || need+=(curl)
  command -v pebble >/dev/null 2>&1 || need+=(pebble)
  command -v pebble-challtestsrv >/dev/null 2>&1 || need+=(pebble)
  command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
  /usr/bin/python3 -c 'import aiosmtpd' >/dev/null 2>&1 || need+=(python3-aiosmtpd)
  command -v prometheus >/dev/null 2>&1 || need+=(prometheus)
  command -v promtool >/dev/null 2>&1 || need+=(prometheus)
  [ -x /usr/bin/chromium ] || need+=(chromium)
  [ -x /usr/sbin/nginx ] || command -v nginx >/dev/null 2>&1 || need+=(nginx)
  command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
fi
if [ "${1:-}" = "--bench" ]; then
  command -v curl >/dev/null 2>&1 || need+=(curl)
  command -v wrk >/dev/null 2>&1 || need+=(wrk)
  command -v nginx >/dev/null 2>&1 || need+=(nginx)
  command -v callgrind_control >/dev/null 2>&1 || need+=(valgrind perl)   # callgrind_control is Perl
fi
if ((${#need[@]})); then
  echo "setup: installing ${need[*]}" >&2
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
