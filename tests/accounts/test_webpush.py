"""Web Push: a follower's browser gets the go-live notification, encrypted for it and signed
with the site's VAPID key, at a push endpoint on loopback; gone subscriptions are dropped and
endpoints inside the network are refused."""

import base64
import json
import os
import struct
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, hmac, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.test import Client, override_settings
from django.urls import reverse

from accounts.models import PushSubscription
from accounts.services import follow_create
from accounts.webpush import new_key
from rooms import services
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

VAPID = new_key()


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Browser:
    """What a browser keeps for one push subscription, and how it reads a pushed message."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.public = self.key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        self.auth = os.urandom(16)

    def decrypt(self, body: bytes) -> dict:
        salt, _size, id_length = body[:16], *struct.unpack("!IB", body[16:21])
        sender = body[21 : 21 + id_length]
        sealed = body[21 + id_length :]
        shared = self.key.exchange(
            ec.ECDH(), ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), sender)
        )

        def hkdf(salt, ikm, info, length):
            extract = hmac.HMAC(salt, hashes.SHA256())
            extract.update(ikm)
            expand = hmac.HMAC(extract.finalize(), hashes.SHA256())
            expand.update(info + b"\x01")
            return expand.finalize()[:length]

        ikm = hkdf(self.auth, shared, b"WebPush: info\x00" + self.public + sender, 32)
        cek = hkdf(salt, ikm, b"Content-Encoding: aes128gcm\x00", 16)
        nonce = hkdf(salt, ikm, b"Content-Encoding: nonce\x00", 12)
        plain = AESGCM(cek).decrypt(nonce, sealed, None)
        assert plain.endswith(b"\x02")
        return json.loads(plain[:-1])


class PushService:
    """A push service on loopback: records what it is sent, answers with `status`."""

    def __init__(self, status: int = 201) -> None:
        self.received: list[tuple[dict, bytes]] = []
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                service.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def push_service():
    service = PushService()
    yield service
    service.close()


def subscribe(client, browser, endpoint):
    return client.post(
        reverse("push_subscription"),
        json.dumps(
            {
                "endpoint": endpoint,
                "keys": {"p256dh": b64(browser.public), "auth": b64(browser.auth)},
            }
        ),
        content_type="application/json",
    )


def verify_vapid(header: str, audience: str) -> None:
    token, key = (part.split("=", 1)[1] for part in header.removeprefix("vapid ").split(", "))
    head, claims, signature = token.split(".")
    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64(key))
    raw = unb64(signature)
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    try:
        public.verify(der, f"{head}.{claims}".encode(), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise AssertionError("the VAPID signature does not verify") from None
    assert json.loads(unb64(claims))["aud"] == audience


@override_settings(SPACES_VAPID_PRIVATE_KEY=VAPID, SPACES_PUSH_ALLOW_LOOPBACK=True)
def test_a_follower_browser_is_pushed_the_go_live(push_service, django_capture_on_commit_callbacks):
    host, fan = UserFactory(profile="Hana Host"), UserFactory()
    follow_create(follower=fan, followee=host)
    browser = Browser()
    client = Client()
    client.force_login(fan)
    profile = client.get(reverse("profile_edit")).content.decode()
    assert "data-push-key" in profile
    assert subscribe(client, browser, f"{push_service.url}/push/abc").json() == {"ok": True}

    with django_capture_on_commit_callbacks(execute=True):
        room = services.room_create(host=host, title="Night owls")
    [(headers, body)] = push_service.received
    assert headers["content-encoding"] == "aes128gcm" and int(headers["ttl"]) > 0
    verify_vapid(headers["authorization"], push_service.url)
    message = browser.decrypt(body)
    assert "Hana Host" in message["body"] and "Night owls" in message["body"]
    assert message["url"] == f"/rooms/{room.slug}/"


@override_settings(SPACES_VAPID_PRIVATE_KEY=VAPID, SPACES_PUSH_ALLOW_LOOPBACK=True)
def test_a_subscription_the_push_service_says_is_gone_is_dropped(
    django_capture_on_commit_callbacks,
):
    gone = PushService(status=410)
    try:
        host, fan = UserFactory(), UserFactory()
        follow_create(follower=fan, followee=host)
        client = Client()
        client.force_login(fan)
        subscribe(client, Browser(), f"{gone.url}/push/old")
        with django_capture_on_commit_callbacks(execute=True):
            services.room_create(host=host, title="Anyone?")
        assert len(gone.received) == 1
        assert not PushSubscription.objects.exists()
    finally:
        gone.close()


@override_settings(SPACES_VAPID_PRIVATE_KEY=VAPID)
def test_endpoints_inside_the_network_or_without_https_are_refused():
    client = Client()
    client.force_login(UserFactory())
    browser = Browser()
    for endpoint in ("http://127.0.0.1:9/push", "https://10.0.0.5/push", "https://localhost/x"):
        response = subscribe(client, browser, endpoint)
        assert response.status_code == 400, endpoint
    bad_keys = client.post(
        reverse("push_subscription"),
        json.dumps({"endpoint": "https://push.example/x", "keys": {"p256dh": "x", "auth": "y"}}),
        content_type="application/json",
    )
    assert bad_keys.status_code == 400
    assert not PushSubscription.objects.exists()


def test_without_a_vapid_key_nothing_is_offered():
    client = Client()
    client.force_login(UserFactory())
    assert "data-push-key" not in client.get(reverse("profile_edit")).content.decode()
