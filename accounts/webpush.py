"""Web Push (RFC 8030) to the browsers people allowed: messages encrypted for the browser
(RFC 8291, aes128gcm) and signed with the site's VAPID key (RFC 8292).

Keys come from settings: SPACES_VAPID_PRIVATE_KEY (the raw 32-byte P-256 private value,
base64url; `python manage.py shell -c "from accounts.webpush import new_key; print(new_key())"`
makes one) and SPACES_VAPID_SUBJECT (a mailto: or https: contact). Without a key, pushing is
off and the page offers nothing. Built on `cryptography` (already installed with allauth)
rather than pywebpush, which is not installed here; the wire format is the same.

Endpoints are addresses the browser gave; the server only posts to https URLs on public
hosts (SPACES_PUSH_ALLOW_LOOPBACK lets tests use a loopback server), so a subscription cannot
aim the server at the internal network.
"""

import base64
import ipaddress
import json
import logging
import os
import socket
import struct
import time
import urllib.error
import urllib.request
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import hashes, hmac, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings

logger = logging.getLogger(__name__)

RECORD_SIZE = 4096
TTL_SECONDS = 24 * 3600


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def new_key() -> str:
    """A new VAPID private key, as SPACES_VAPID_PRIVATE_KEY wants it."""
    value = ec.generate_private_key(ec.SECP256R1()).private_numbers().private_value
    return b64url(value.to_bytes(32, "big"))


def _vapid_key() -> ec.EllipticCurvePrivateKey | None:
    raw = getattr(settings, "SPACES_VAPID_PRIVATE_KEY", "")
    if not raw:
        return None
    return ec.derive_private_key(int.from_bytes(unb64url(raw), "big"), ec.SECP256R1())


def _public_bytes(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


def public_key() -> str:
    """The applicationServerKey the page subscribes with; "" when pushing is off."""
    key = _vapid_key()
    return b64url(_public_bytes(key.public_key())) if key is not None else ""


def _hkdf(salt: bytes, ikm: bytes, info: bytes, length: int) -> bytes:
    extract = hmac.HMAC(salt, hashes.SHA256())
    extract.update(ikm)
    prk = extract.finalize()
    expand = hmac.HMAC(prk, hashes.SHA256())
    expand.update(info + b"\x01")
    return expand.finalize()[:length]


def encrypt(payload: bytes, *, p256dh: str, auth: str) -> bytes:
    """The message body for one browser subscription (RFC 8291, one aes128gcm record)."""
    ua_public = unb64url(p256dh)
    auth_secret = unb64url(auth)
    ua_key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), ua_public)
    ephemeral = ec.generate_private_key(ec.SECP256R1())
    as_public = _public_bytes(ephemeral.public_key())
    shared = ephemeral.exchange(ec.ECDH(), ua_key)
    ikm = _hkdf(auth_secret, shared, b"WebPush: info\x00" + ua_public + as_public, 32)
    salt = os.urandom(16)
    cek = _hkdf(salt, ikm, b"Content-Encoding: aes128gcm\x00", 16)
    nonce = _hkdf(salt, ikm, b"Content-Encoding: nonce\x00", 12)
    sealed = AESGCM(cek).encrypt(nonce, payload + b"\x02", None)
    header = salt + struct.pack("!IB", RECORD_SIZE, len(as_public)) + as_public
    return header + sealed


def vapid_header(endpoint: str) -> str | None:
    """`Authorization: vapid t=<JWT>, k=<public key>` for the endpoint's origin."""
    key = _vapid_key()
    if key is None:
        return None
    parts = urlsplit(endpoint)
    claims = {
        "aud": f"{parts.scheme}://{parts.netloc}",
        "exp": int(time.time()) + 12 * 3600,
        "sub": getattr(settings, "SPACES_VAPID_SUBJECT", "mailto:admin@localhost"),
    }
    head = b64url(json.dumps({"typ": "JWT", "alg": "ES256"}).encode())
    body = b64url(json.dumps(claims, separators=(",", ":")).encode())
    r, s = decode_dss_signature(key.sign(f"{head}.{body}".encode(), ec.ECDSA(hashes.SHA256())))
    signature = b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))
    return f"vapid t={head}.{body}.{signature}, k={public_key()}"


def endpoint_allowed(endpoint: str) -> bool:
    """https on a public host; loopback http only where the setting allows it (tests)."""
    parts = urlsplit(endpoint)
    host = parts.hostname or ""
    loopback_ok = getattr(settings, "SPACES_PUSH_ALLOW_LOOPBACK", False)
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except OSError:
        return False
    ips = [ipaddress.ip_address(a.split("%")[0]) for a in addresses]
    if loopback_ok and ips and all(ip.is_loopback for ip in ips):
        return parts.scheme in ("http", "https")
    return parts.scheme == "https" and bool(ips) and all(ip.is_global for ip in ips)


def send(subscription, payload: dict) -> int:
    """Push `payload` (JSON) to one subscription. Returns the HTTP status (0: not sent).
    A subscription the push service says is gone (404, 410) is deleted."""
    authorization = vapid_header(subscription.endpoint)
    if authorization is None or not endpoint_allowed(subscription.endpoint):
        return 0
    body = encrypt(json.dumps(payload).encode(), p256dh=subscription.p256dh, auth=subscription.auth)
    request = urllib.request.Request(  # noqa: S310 (checked by endpoint_allowed)
        subscription.endpoint,
        data=body,
        method="POST",
        headers={
            "Authorization": authorization,
            "Content-Encoding": "aes128gcm",
            "Content-Type": "application/octet-stream",
            "TTL": str(TTL_SECONDS),
            "Urgency": "normal",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status
    except urllib.error.HTTPError as error:
        if error.code in (404, 410):
            subscription.delete()
        else:
            logger.warning("Push to %s failed: %s", urlsplit(subscription.endpoint).netloc, error)
        return error.code
    except OSError as error:
        logger.warning("Push to %s failed: %s", urlsplit(subscription.endpoint).netloc, error)
        return 0
