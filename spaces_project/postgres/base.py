"""Django's PostgreSQL backend, with a connection pool that survives a server restart.

After PostgreSQL restarts, every idle connection in the pool is dead. psycopg_pool's own check
(`CONN_HEALTH_CHECKS`) finds them one at a time and sleeps a growing backoff (1 s, 2 s, ...)
between them, so the first requests wait out the pool timeout. Here a failed check makes the
pool check all its idle connections at once (`ConnectionPool.check`), and the request takes a
fresh connection.
"""

from django.db.backends.postgresql import base
from psycopg_pool import ConnectionPool


class CheckedPool(ConnectionPool):
    def getconn(self, timeout: float | None = None):
        conn = super().getconn(timeout)
        try:
            self.check_connection(conn)
        except Exception:
            self.putconn(conn)  # broken: the pool drops it
            self.check()  # the others are likely broken too: drop them all, refill
            conn = super().getconn(timeout)
        return conn


class DatabaseWrapper(base.DatabaseWrapper):
    @property
    def pool(self):
        pool = super().pool
        if pool is not None and type(pool) is ConnectionPool:
            pool.__class__ = CheckedPool  # adds the checked getconn, nothing else
        return pool
