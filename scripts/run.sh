#!/usr/bin/env bash
# `make run`: migrate, then daphne (HTTP, WebSockets, audio) plus a Celery worker with beat.
set -euo pipefail
cd "$(dirname "$0")/.."
export DJANGO_SETTINGS_MODULE="${DJANGO_SETTINGS_MODULE:-spaces_project.settings.local}"
PY=.venv/bin/python
mkdir -p var/celery/queue var/celery/processed var/celery/control
$PY manage.py migrate --noinput
$PY manage.py ensure_site --domain "${SITE_DOMAIN:-127.0.0.1:8000}"

pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

.venv/bin/celery -A spaces_project worker --beat --loglevel=INFO --concurrency=1 \
  --schedule var/celerybeat-schedule &
pids+=($!)
echo "Spaces is starting on http://${HOST:-127.0.0.1}:${PORT:-8000}"
.venv/bin/daphne -b "${HOST:-127.0.0.1}" -p "${PORT:-8000}" --websocket_timeout 86400 \
  --websocket_connect_timeout 30 spaces_project.asgi:application &
pids+=($!)
wait -n
