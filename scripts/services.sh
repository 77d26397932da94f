#!/usr/bin/env bash
# Throwaway PostgreSQL and Redis on loopback for the test run.
#   scripts/services.sh start DIR   -> prints `export DATABASE_URL=... REDIS_URL=...`
#   scripts/services.sh stop DIR
set -euo pipefail
action=$1 dir=$2
PG_BIN=/usr/lib/postgresql/15/bin
PG_PORT=${PG_PORT:-55432}
REDIS_PORT=${REDIS_PORT:-56379}
case "$action" in
start)
  mkdir -p "$dir"
  chown postgres "$dir"
  runuser -u postgres -- "$PG_BIN/initdb" -D "$dir/pg" -A trust -U postgres >"$dir/initdb.log"
  runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$dir/pg" -l "$dir/pg.log" -w -o \
    "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
    start >/dev/null
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no \
    --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log"
  for _ in $(seq 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
  echo "export DATABASE_URL=postgres://postgres@127.0.0.1:$PG_PORT/spaces REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0"
  ;;
stop)
  runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$dir/pg" -m immediate stop >/dev/null 2>&1 || true
  [ -f "$dir/redis.pid" ] && kill "$(cat "$dir/redis.pid")" 2>/dev/null || true
  rm -rf "$dir"
  ;;
esac
