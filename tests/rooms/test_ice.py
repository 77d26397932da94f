"""Browsers get the configured ICE servers, and TURN credentials that expire."""

import base64
import hashlib
import hmac
import json
import re

from django.urls import reverse

from rooms.ice import ice_servers_for, turn_credentials
from tests.factories import RoomFactory


def test_no_ice_servers_by_default_so_nothing_outside_is_contacted(settings):
    assert settings.SPACES_MEDIA["ICE_SERVERS"] == []
    assert ice_servers_for("guest") == []


def test_turn_credentials_are_signed_and_expire():
    creds = turn_credentials("42", secret="s3cret", ttl=600, now=1_000_000)
    assert creds["username"] == "1000600:42"
    expected = hmac.new(b"s3cret", b"1000600:42", hashlib.sha1).digest()
    assert base64.b64decode(creds["credential"]) == expected


def test_the_public_page_hands_the_browser_stun_and_fresh_turn(settings, client, db):
    settings.SPACES_MEDIA = {
        **settings.SPACES_MEDIA,
        "ICE_SERVERS": [{"urls": "stun:stun.example.org:3478"}],
    }
    settings.SPACES_TURN = {"URLS": ["turn:turn.example.org:3478"], "SECRET": "k", "TTL": 60}
    room = RoomFactory()
    page = client.get(reverse("space_public", args=[room.slug])).content.decode()
    raw = re.search(r'data-ice-servers="([^"]*)"', page).group(1)
    servers = json.loads(raw.replace("&quot;", '"'))
    assert servers[0] == {"urls": "stun:stun.example.org:3478"}
    assert servers[1]["urls"] == ["turn:turn.example.org:3478"]
    assert servers[1]["username"].endswith(":guest")
