#!/bin/sh
# usage: scripts/smoke_binary.sh FILE
# Tries a release file as an operator would: copied into an empty folder, run with an empty
# environment except HOME and PATH=/usr/bin:/bin, with no network but loopback (Linux: a new
# network namespace, which needs root or unprivileged user namespaces), on the embedded
# database, delivering to a DHIS2 simulator. The checks are in scripts/smoke_driver.ts.
# DENO: the Deno that runs the driver and the simulator (default: deno on PATH).
# SMOKE_READY_SECONDS: how long a start may take to /ready (default 20).
set -eu
[ $# -eq 1 ] && [ -f "$1" ] || { echo "usage: $0 FILE" >&2; exit 2; }
root=$(cd "$(dirname "$0")/.." && pwd)
deno=${DENO:-$(command -v deno || true)}
[ -n "$deno" ] || { echo "smoke: no deno on PATH; set DENO" >&2; exit 2; }
work=$(mktemp -d "${TMPDIR:-/tmp}/dhis2gw-smoke.XXXXXX")
# Reachable by the embedded database's OS user when the smoke runs as root.
chmod 755 "$work"
cp "$1" "$work/dhis2gw"
chmod 755 "$work/dhis2gw"
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
driver="$deno run --cached-only --allow-all $root/scripts/smoke_driver.ts $work"
if [ "$(uname -s)" = Linux ]; then
  unshare -n sh -c "ip link set lo up && $driver"
else
  echo "smoke: no network namespace on $(uname -s); running with the machine's network" >&2
  $driver
fi
