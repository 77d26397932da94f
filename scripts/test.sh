#!/usr/bin/env bash
# `make test`: lint, then every suite inside a network namespace that has only loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
scripts/install-test-deps.sh
echo "== translations (compilemessages)"
.venv/bin/python manage.py compilemessages --ignore=.venv -v 0
echo "== lint (ruff)"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
scripts/in-netns.sh scripts/test-suites.sh "$@"
echo "== make test passed in $(( $(date +%s) - started )) s"
