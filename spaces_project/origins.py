"""Which pages may open a WebSocket: full origins (scheme://host:port), not host names alone.

Channels' `AllowedHostsOriginValidator` compares host names only, so a page on another port of
the same host (or a sibling subdomain allowed by a leading-dot ALLOWED_HOSTS entry) could open a
signed-in socket with the visitor's cookies. Here an Origin must equal one of the configured
origins (`SPACES_WEBSOCKET_ORIGINS`, else `CSRF_TRUSTED_ORIGINS`), or, with neither set, the
socket's own origin: the Host header it was sent to (which must be in ALLOWED_HOSTS), with the
scheme the connection used (behind a TLS proxy, configure the origins or forward the scheme).
A socket without an Origin header is refused, as browsers always
send one.
"""

from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host

DEFAULT_PORTS = {"http": 80, "https": 443}


def normalise(origin: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an origin, or None when it is not an http(s) origin."""
    try:
        parts = urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        return None
    return parts.scheme, parts.hostname.lower(), port or DEFAULT_PORTS[parts.scheme]


def allowed_origins() -> set[tuple[str, str, int]]:
    configured = settings.SPACES_WEBSOCKET_ORIGINS or settings.CSRF_TRUSTED_ORIGINS
    return {found for origin in configured if (found := normalise(origin)) is not None}


def origin_allowed(scope) -> bool:
    headers = dict(scope.get("headers") or [])
    origin = normalise(headers.get(b"origin", b"").decode("latin1"))
    if origin is None:
        return False
    configured = allowed_origins()
    if configured:
        return origin in configured
    host = headers.get(b"host", b"").decode("latin1")
    domain, port = split_domain_port(host)
    if not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
        return False
    scheme = "https" if scope.get("scheme") == "wss" else "http"
    same = (scheme, domain.lower().strip("[]"), int(port) if port else DEFAULT_PORTS[scheme])
    return origin == same


class OriginValidator:
    """ASGI middleware: refuse the WebSocket handshake (403) unless `origin_allowed`."""

    def __init__(self, application) -> None:
        self.application = application

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket" and not origin_allowed(scope):
            return await WebsocketDenier()(scope, receive, send)
        return await self.application(scope, receive, send)
