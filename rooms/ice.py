"""ICE servers handed to browsers: the configured list plus TURN with short-lived credentials.

TURN credentials follow the shared-secret scheme of coturn's `use-auth-secret` (the "TURN REST
API"): username `<expiry unix time>:<id>`, password base64(HMAC-SHA1(secret, username)). The
TURN server checks them without a database, and a leaked pair stops working at its expiry.
"""

import base64
import hashlib
import hmac
import time

from django.conf import settings


def turn_credentials(identity: str, *, secret: str, ttl: int, now: float | None = None) -> dict:
    expiry = int((now if now is not None else time.time()) + ttl)
    username = f"{expiry}:{identity}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return {"username": username, "credential": base64.b64encode(digest).decode()}


def ice_servers_for(identity: str) -> list[dict]:
    """What a browser should use to reach the audio router (empty: host candidates only)."""
    servers = [dict(server) for server in settings.SPACES_MEDIA["ICE_SERVERS"]]
    turn = settings.SPACES_TURN
    if turn["URLS"] and turn["SECRET"]:
        servers.append(
            {
                "urls": turn["URLS"],
                **turn_credentials(identity, secret=turn["SECRET"], ttl=turn["TTL"]),
            }
        )
    return servers
