"""Fixed-window rate limits kept in the cache (Redis in production, so shared by processes)."""

import hashlib
import logging
import time
from collections.abc import Callable
from functools import cache, wraps

from django.conf import settings
from django.core.cache import DEFAULT_CACHE_ALIAS, BaseCache, caches
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

logger = logging.getLogger(__name__)
# While the cache is down every hit fails: say so once per this many seconds, not per request.
FAILURE_LOG_SECONDS = 10.0
_failure_logged_at = float("-inf")


@cache
def shared_cache() -> BaseCache:
    """One client of the default cache for the whole process, shared by every thread and task.

    `django.core.cache.cache` is one client per asyncio task (asgiref `Local`), and a WebSocket
    consumer's task lasts as long as its socket: with Redis, each open socket would hold a
    connection of its own (10,000 sockets ran daphne out of file descriptors). Django's Redis,
    local-memory and database caches are safe to share between threads.
    """
    return caches.create_connection(DEFAULT_CACHE_ALIAS)


@receiver(setting_changed)
def _settings_changed(setting: str, **kwargs) -> None:
    if setting == "CACHES":  # tests that override the caches get a fresh client
        shared_cache.cache_clear()


def client_key(address: str | None) -> str:
    """A short, non-reversible key for a client address (addresses are not stored)."""
    return hashlib.sha256((address or "unknown").encode()).hexdigest()[:24]


def allow(bucket: str, key: str, *, limit: int, seconds: int) -> bool:
    """Count one hit for `key` in `bucket`; False once more than `limit` fall in the window."""
    return count_hit(f"rl:{bucket}:{key}", seconds) <= limit


def count_hit(name: str, seconds: int) -> int:
    """Add one to the counter `name` (which lasts `seconds` from its first hit); the new count.

    Fails open: with the cache down the count is 0 (nothing is limited) and a line is logged,
    so an outage of Redis does not take the public page and new sockets down with it."""
    counters = shared_cache()
    try:
        counters.add(name, 0, seconds)
        try:
            return counters.incr(name)
        except ValueError:  # the window expired between add and incr
            counters.set(name, 1, seconds)
            return 1
    except Exception as error:
        _cache_failed(error)
        return 0


def _cache_failed(error: Exception) -> None:
    """Limits fail open when the cache is down: say so in the log, at most once a while."""
    global _failure_logged_at
    now = time.monotonic()
    if now - _failure_logged_at > FAILURE_LOG_SECONDS:
        _failure_logged_at = now
        logger.warning("Rate limits are off: the cache is unreachable (%r)", error)


def count_hits(names: list[str], seconds: int) -> list[int]:
    """`count_hit` for several counters: with Redis as the cache, in one round trip (a
    pipeline of INCR and EXPIRE NX per counter, the same keys and values as `count_hit`); one
    by one with another cache. Fails open the same way (zeros, logged)."""
    counters = shared_cache()
    client_of = getattr(getattr(counters, "_cache", None), "get_client", None)
    if client_of is None or not names:
        return [count_hit(name, seconds) for name in names]
    try:
        pipe = client_of(write=True).pipeline(transaction=False)
        for name in names:
            key = counters.make_and_validate_key(name)
            pipe.incr(key)
            pipe.expire(key, seconds, nx=True)
        return [int(count) for count in pipe.execute()[0::2]]
    except Exception as error:
        _cache_failed(error)
        return [0] * len(names)


def per_ip(bucket: str, *, setting: str, seconds: int = 60) -> Callable:
    """View decorator: more requests from one address than the named setting allows per
    `seconds` get a 429 page."""

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            key = client_key(request.META.get("REMOTE_ADDR"))
            limit = getattr(settings, setting)
            if not allow(bucket, key, limit=limit, seconds=seconds):
                return render(request, "429.html", status=429)
            return view(request, *args, **kwargs)

        return wrapper

    return decorate
