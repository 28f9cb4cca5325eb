#!/usr/bin/env bash
# Render an HTML report with headless Chromium to a PNG, and fail when the
# page logs a script or console error.
#
#   scripts/screenshot-report.sh reports/out/index.html docs/report.png [WIDTH,HEIGHT]
#
# Installs Debian's chromium with apt-get when it is missing. The page is
# opened from disk (file://); the report fetches nothing.
set -euo pipefail

usage() {
    echo "usage: $0 REPORT.html OUT.png [WIDTH,HEIGHT]" >&2
    exit 2
}
[ $# -ge 2 ] && [ $# -le 3 ] || usage
html=$1
out=$2
size=${3:-1200,1600}
[ -f "$html" ] || { echo "$html: no such file" >&2; exit 2; }

if ! command -v chromium >/dev/null 2>&1; then
    echo "chromium missing: installing it with apt-get" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq chromium >/dev/null
fi

abs_html=$(cd "$(dirname "$html")" && pwd)/$(basename "$html")
mkdir -p "$(dirname "$out")"
abs_out=$(cd "$(dirname "$out")" && pwd)/$(basename "$out")
url="file://$abs_html"
profile=$(mktemp -d)
log=$(mktemp)
trap 'rm -rf "$profile" "$log"' EXIT

flags=(--headless --disable-gpu --no-sandbox --hide-scrollbars
    --user-data-dir="$profile" --no-first-run --no-default-browser-check
    --disable-extensions --disable-background-networking)

# Console errors: load the page once with logging on.
chromium "${flags[@]}" --enable-logging=stderr --v=0 --dump-dom "$url" >/dev/null 2>"$log" || {
    cat "$log" >&2
    echo "chromium could not load $url" >&2
    exit 1
}
# The report runs no script, so any console message at all is a problem.
pattern='Uncaught|console error|:CONSOLE[:(]|net::ERR_'
if grep -Eiq "$pattern" "$log"; then
    grep -Ei "$pattern" "$log" >&2
    echo "$html: the page logged errors" >&2
    exit 1
fi

rm -f "$abs_out"
chromium "${flags[@]}" --window-size="$size" --screenshot="$abs_out" "$url" >/dev/null 2>"$log" || {
    cat "$log" >&2
    echo "chromium could not take the screenshot" >&2
    exit 1
}
if [ ! -s "$abs_out" ]; then
    cat "$log" >&2
    echo "$out: no screenshot written" >&2
    exit 1
fi
echo "$out: $(wc -c <"$abs_out") bytes"
