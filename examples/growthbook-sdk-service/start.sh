#!/bin/sh
# Starts the GrowthBook SDK service from this directory: installs the pinned
# SDK from package-lock.json on first use, then replaces this shell with node,
# so a signal sent to this process (SIGTERM from umpire's managed target)
# reaches the server itself.
set -eu
cd "$(dirname "$0")"
if ! command -v node >/dev/null 2>&1; then
  echo "growthbook-sdk-service: Node.js (>= 18) is required; install it (e.g. apt-get install nodejs npm)" >&2
  exit 127
fi
if [ ! -d node_modules/@growthbook/growthbook ]; then
  # stdout carries only the service's startup line.
  npm ci --no-audit --no-fund 1>&2
fi
exec node server.js
