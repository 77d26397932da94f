#!/usr/bin/env bash
# `make run`: migrate, then daphne (HTTP, WebSockets, audio) plus a Celery worker with beat.
set -euo pipefail
cd "$(dirname "$0")/.."
export DJANGO_SETTINGS_MODULE="${DJANGO_SETTINGS_MODULE:-spaces_project.settings.local}"
export HOST="${HOST:-127.0.0.1}" PORT="${PORT:-8000}"
PY=.venv/bin/python
step() { printf '\n== %s\n' "$*"; }

# Links in emails (verification, reminders) use this; 0.0.0.0 listens everywhere but is no address.
case "$HOST" in 0.0.0.0|::) link_host=localhost ;; *) link_host="$HOST" ;; esac
SITE_DOMAIN="${SITE_DOMAIN:-$link_host:$PORT}"

mkdir -p var/celery/queue var/celery/processed var/celery/control
step "Translations (English, French)"
if ! command -v msgfmt >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing Debian's gettext (msgfmt) ..."
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gettext >/dev/null \
      || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gettext >/dev/null; }
  else
    echo "msgfmt is missing (Debian package gettext): pages stay in English." >&2
  fi
fi
command -v msgfmt >/dev/null 2>&1 && $PY manage.py compilemessages --ignore=.venv -v 0
step "Database: applying migrations"
$PY manage.py migrate --noinput
$PY manage.py ensure_site --domain "$SITE_DOMAIN"

pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

step "Starting the Celery worker (scheduled reminders, emails; logs warnings only) and daphne"
.venv/bin/celery -A spaces_project worker --beat --loglevel=WARNING --concurrency=1 \
  --schedule var/celerybeat-schedule &
pids+=($!)
# daphne through spaces_project/serve.py: open-file limit, listen backlog, handshake timeout and
# garbage collection set for a crowd (docs/reliability.md, "A crowd on one process").
$PY -m spaces_project.serve -b "$HOST" -p "$PORT" spaces_project.asgi:application &
pids+=($!)
# The banner after daphne answers, so it is not lost among the worker's start-up lines.
for _ in $(seq 150); do (exec 3<>"/dev/tcp/$link_host/$PORT") 2>/dev/null && break; sleep 0.2; done
cat <<MSG

  Spaces is starting on http://$link_host:$PORT/  (links in emails: http://$SITE_DOMAIN/)
  Emails (sign-up links, reminders) print here between "==== email ====" lines.
  Admin: DJANGO_SUPERUSER_EMAIL=... DJANGO_SUPERUSER_PASSWORD=... $PY manage.py createsuperuser --noinput

MSG
wait -n
