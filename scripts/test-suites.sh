#!/usr/bin/env bash
# The three passes of `make test`; run by scripts/test.sh inside `unshare -n`.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTEST=(.venv/bin/python -m pytest -q -p no:cacheprovider "$@")
services_dir=$(mktemp -d /tmp/spaces-services.XXXXXX)
trap 'scripts/services.sh stop "$services_dir"' EXIT

echo "== 1/3 unit, WebSocket and audio tests (SQLite, in-memory channel layer)"
env -u DATABASE_URL -u REDIS_URL "${PYTEST[@]}" -m "not browser and not services"

echo "== 2/3 the suite against PostgreSQL and Redis (started on loopback)"
eval "$(scripts/services.sh start "$services_dir")"
export DATABASE_URL REDIS_URL
"${PYTEST[@]}" -m "not browser and not media"

echo "== 3/3 real-browser tests (Chromium via Playwright, PostgreSQL, Redis)"
"${PYTEST[@]}" -m browser
