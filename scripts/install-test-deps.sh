#!/bin/sh
# Debian packages the tests need: Chromium for the browser tests, Redis for the services pass,
# gettext's msgfmt to compile the translations, nginx for the test of docs/deploy/nginx.conf.
# PostgreSQL 15's server binaries are expected in /usr/lib/postgresql/15/bin (installed if absent).
set -e
missing=""
command -v chromium >/dev/null 2>&1 || missing="$missing chromium"
command -v redis-server >/dev/null 2>&1 || missing="$missing redis-server"
[ -x /usr/sbin/nginx ] || missing="$missing nginx"
[ -x /usr/lib/postgresql/15/bin/initdb ] || missing="$missing postgresql-15"
command -v ip >/dev/null 2>&1 || missing="$missing iproute2"
command -v unshare >/dev/null 2>&1 || missing="$missing util-linux"
command -v msgfmt >/dev/null 2>&1 || missing="$missing gettext"
if [ -n "$missing" ]; then
  echo "Installing:$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
