"""Fixed-window rate limits kept in the cache (Redis in production, so shared by processes)."""

import hashlib
from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def client_key(address: str | None) -> str:
    """A short, non-reversible key for a client address (addresses are not stored)."""
    return hashlib.sha256((address or "unknown").encode()).hexdigest()[:24]


def allow(bucket: str, key: str, *, limit: int, seconds: int) -> bool:
    """Count one hit for `key` in `bucket`; False once more than `limit` fall in the window."""
    name = f"rl:{bucket}:{key}"
    cache.add(name, 0, seconds)
    try:
        hits = cache.incr(name)
    except ValueError:  # the window expired between add and incr
        cache.set(name, 1, seconds)
        hits = 1
    return hits <= limit


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
