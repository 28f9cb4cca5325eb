#!/bin/sh
# Starts the GrowthBook SDK service from this directory: installs the pinned
# SDK from package-lock.json on first use, then replaces this shell with node,
# so a signal sent to this process (SIGTERM from umpire's managed target)
# reaches the server itself. stdout carries only the service's startup line.
set -eu
cd "$(dirname "$0")"
if ! command -v node >/dev/null 2>&1; then
  echo "growthbook-sdk-service: Node.js (>= 18) is required; install it (e.g. apt-get install nodejs npm)" >&2
  exit 127
fi
install() {
  if [ ! -f node_modules/@growthbook/growthbook/package.json ]; then
    npm ci --no-audit --no-fund 1>&2
  fi
}
if command -v flock >/dev/null 2>&1; then
  # Two services starting at once (parallel tests) install once: the second
  # waits here, then finds the SDK. tests/growthbook_sdk.rs takes this lock too.
  exec 9>.npm-ci.lock
  flock 9
  install
  exec 9>&-
else
  install
fi
exec node server.js
