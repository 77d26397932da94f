"""Links that unfurl: the card picture, its tags, oEmbed, and the one page that may be framed."""

import io
import json
import re
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from rooms.models import Room
from tests.factories import RoomFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_cache():
    from spaces_project.ratelimit import shared_cache

    cache.clear()
    shared_cache().clear()


def _meta(page: str, key: str) -> str:
    found = re.search(rf'<meta (?:property|name)="{re.escape(key)}" content="([^"]*)"', page)
    assert found, f"no {key} tag"
    return found.group(1)


def _card(client, url: str):
    response = client.get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    image = Image.open(io.BytesIO(response.content))
    image.load()
    return response, image


def test_the_public_page_unfurls_with_a_large_picture_of_the_space(client):
    host = UserFactory(username="night_owl", profile="Night Owl")
    room = RoomFactory(host=host, title="Synths after dark")
    page = client.get(reverse("space_public", args=[room.slug])).content.decode()
    assert _meta(page, "twitter:card") == "summary_large_image"
    image_url = _meta(page, "og:image")
    assert _meta(page, "twitter:image") == image_url
    assert image_url.startswith("http://testserver/s/")

    response, image = _card(client, image_url)
    assert image.size == (1200, 630)
    assert image.text["Title"] == "Synths after dark"
    assert image.text["Author"] == "Night Owl"
    assert image.text["Description"] == "LIVE"
    # The LIVE badge is drawn in the live colour under the brand.
    assert image.convert("RGB").getpixel((90, 140)) == (224, 36, 94)
    assert response["Cache-Control"] == "public, max-age=31536000, immutable"


def test_the_card_changes_with_the_title_and_the_state(client):
    room = RoomFactory(title="First title")
    first = _meta(
        client.get(reverse("space_public", args=[room.slug])).content.decode(), "og:image"
    )

    Room.objects.filter(pk=room.pk).update(title="Second title")
    second = _meta(
        client.get(reverse("space_public", args=[room.slug])).content.decode(), "og:image"
    )
    assert second != first
    _, image = _card(client, second)
    assert image.text["Title"] == "Second title"

    Room.objects.filter(pk=room.pk).update(state=Room.State.ENDED, ended_at=timezone.now())
    third = _meta(
        client.get(reverse("space_public", args=[room.slug])).content.decode(), "og:image"
    )
    assert third != second
    _, image = _card(client, third)
    assert image.text["Description"] == "Ended"
    assert image.convert("RGB").getpixel((90, 140)) != (224, 36, 94)

    # An old version's URL still answers, with the current card, cached only briefly.
    response, image = _card(client, first)
    assert image.text["Title"] == "Second title"
    assert response["Cache-Control"] == "public, max-age=300"


def test_a_scheduled_space_card_shows_its_time(client):
    when = (timezone.now() + timedelta(days=2)).replace(hour=19, minute=30, second=0)
    room = RoomFactory(state="scheduled", scheduled_for=when, started_at=None, with_host=False)
    _, image = _card(client, reverse("space_card", args=[room.slug]))
    assert image.text["Description"].startswith("Scheduled")
    assert "7:30 p.m." in image.text["Description"]


def test_cards_are_cached_and_not_drawn_again(client, monkeypatch):
    from rooms import cards

    room = RoomFactory()
    drawn = []
    original = cards.draw_card
    monkeypatch.setattr(cards, "draw_card", lambda data: drawn.append(1) or original(data))
    for _ in range(3):
        client.get(reverse("space_card", args=[room.slug]))
    assert len(drawn) == 1


@override_settings(SPACES_PUBLIC_PAGE_RATE=2)
def test_cards_are_rate_limited_like_the_public_page(client):
    room = RoomFactory()
    codes = [client.get(reverse("space_card", args=[room.slug])).status_code for _ in range(3)]
    assert codes == [200, 200, 429]


def test_oembed_describes_an_embeddable_player(client):
    room = RoomFactory(title="Synths & <friends>")
    page = client.get(reverse("space_public", args=[room.slug])).content.decode()
    link = re.search(r'<link rel="alternate" type="application/json\+oembed" href="([^"]+)"', page)
    assert link
    response = client.get(link.group(1).replace("&amp;", "&"))
    assert response.status_code == 200
    data = json.loads(response.content)
    assert data["version"] == "1.0"
    assert data["type"] == "rich"
    assert data["title"] == "Synths & <friends>"
    assert data["author_name"] == room.host.display_name
    assert data["thumbnail_width"] == 1200 and data["thumbnail_height"] == 630
    embed = f"http://testserver{reverse('space_embed', args=[room.slug])}"
    assert f'<iframe src="{embed}"' in data["html"]
    assert "Synths &amp; &lt;friends&gt;" in data["html"]  # the title is escaped in the HTML
    narrow = client.get(reverse("oembed"), {"url": embed, "maxwidth": "300"})
    assert narrow.status_code == 404  # only /s/<slug>/ links are ours to embed
    narrow = client.get(
        reverse("oembed"), {"url": f"http://testserver/s/{room.slug}/", "maxwidth": "300"}
    )
    assert json.loads(narrow.content)["width"] == 300


@pytest.mark.parametrize(
    ("url", "status"),
    [("http://testserver/s/no-such-space/", 404), ("http://testserver/admin/", 404)],
)
def test_oembed_refuses_links_that_are_not_spaces(client, url, status):
    assert client.get(reverse("oembed"), {"url": url}).status_code == status


def test_oembed_xml_is_not_supported(client):
    room = RoomFactory()
    response = client.get(
        reverse("oembed"), {"url": f"http://testserver/s/{room.slug}/", "format": "xml"}
    )
    assert response.status_code == 501


def test_only_the_embed_page_may_be_framed(client):
    room = RoomFactory(title="Framed show")
    embed = client.get(reverse("space_embed", args=[room.slug]))
    assert embed.status_code == 200
    assert "X-Frame-Options" not in embed
    assert embed["Content-Security-Policy"] == "frame-ancestors *"
    assert "Framed show" in embed.content.decode()
    assert reverse("space_public", args=[room.slug]) in embed.content.decode()

    person = UserFactory()
    client.force_login(person)
    for path in [
        reverse("home"),
        reverse("space_public", args=[room.slug]),
        reverse("room_detail", args=[room.slug]),
        reverse("account_login"),
        reverse("account_signup"),
        reverse("profile_edit"),
        reverse("space_card", args=[room.slug]),
        reverse("oembed") + f"?url=http://testserver/s/{room.slug}/",
        "/admin/login/",
        "/s/no-such-space/",
    ]:
        response = client.get(path)
        assert response.get("X-Frame-Options") == "DENY", path
        assert "frame-ancestors *" not in response.get("Content-Security-Policy", ""), path


def test_the_public_page_hands_the_lock_screen_the_space(client):
    host = UserFactory(profile="Night Owl")
    room = RoomFactory(host=host, title="Synths after dark")
    page = client.get(reverse("space_public", args=[room.slug])).content.decode()
    data = json.loads(
        re.search(
            r'<script id="media-session-data" type="application/json">(.*?)</script>', page
        ).group(1)
    )
    assert data["title"] == "Synths after dark"
    assert data["host"] == "Night Owl"
    assert data["artwork"] == _meta(page, "og:image")
