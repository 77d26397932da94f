"""A host's recorded Spaces as a podcast feed: valid RSS 2.0 with the iTunes tags, only the
replays anyone may hear, each enclosure a real .m4a of the stated length."""

import re
import xml.etree.ElementTree as ET
from email.utils import parsedate_to_datetime

import pytest
from django.test import Client

from rooms.models import Recording, Room
from tests.factories import UserFactory
from tests.recording_fixtures import recorded_space

pytestmark = pytest.mark.django_db

ITUNES = "http://www.itunes.com/dtds/podcast-1.0.dtd"
RFC822 = re.compile(
    r"(?:(Mon|Tue|Wed|Thu|Fri|Sat|Sun), )?\d{1,2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov"
    r"|Dec) \d{2,4} \d{2}:\d{2}(:\d{2})? (UT|GMT|[ECMP][SD]T|[A-IK-Z]|[+-]\d{4})"
)


def validate_rss2(data: bytes) -> ET.Element:
    """The RSS 2.0 specification's rules (https://www.rssboard.org/rss-specification) that a
    podcast app relies on; raises AssertionError on the first one broken."""
    assert data.startswith(b"<?xml"), "an XML declaration first"
    root = ET.fromstring(data)  # well-formed, or this raises
    assert root.tag == "rss" and root.get("version") == "2.0"
    assert f'xmlns:itunes="{ITUNES}"'.encode() in data, "the itunes namespace is declared"
    channels = root.findall("channel")
    assert len(channels) == 1, "exactly one channel"
    channel = channels[0]
    for required in ("title", "link", "description"):
        element = channel.find(required)
        assert element is not None and (element.text or "").strip(), f"channel <{required}>"
    for date in ("pubDate", "lastBuildDate"):
        if channel.find(date) is not None:
            assert RFC822.fullmatch(channel.find(date).text), f"channel {date} is RFC 822"
    image = channel.find("image")
    if image is not None:
        for required in ("url", "title", "link"):
            assert image.find(required) is not None, f"image <{required}>"
    for item in channel.findall("item"):
        title, description = item.find("title"), item.find("description")
        assert title is not None or description is not None, "an item has a title or description"
        enclosure = item.find("enclosure")
        if enclosure is not None:
            assert enclosure.get("url", "").startswith("http"), "enclosure url"
            assert enclosure.get("length", "").isdigit(), "enclosure length in bytes"
            assert enclosure.get("type"), "enclosure type"
        if item.find("pubDate") is not None:
            assert RFC822.fullmatch(item.find("pubDate").text), "item pubDate is RFC 822"
            parsedate_to_datetime(item.find("pubDate").text)
        guid = item.find("guid")
        if guid is not None:
            assert guid.text and guid.get("isPermaLink") in (None, "true", "false")
    return root


def test_the_feed_is_valid_rss_with_itunes_tags_and_playable_enclosures():
    host = UserFactory(profile="Pod <Host> & co")
    room, recording = recorded_space(host=host, title="Episode <1> & more", tones=[(440, 65)])
    client = Client()
    response = client.get(f"/u/{host.username}/feed.xml")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/rss+xml"
    root = validate_rss2(response.content)
    channel = root.find("channel")
    assert channel.find("title").text == "Pod <Host> & co on Spaces"
    assert channel.find(f"{{{ITUNES}}}author").text == "Pod <Host> & co"
    assert channel.find(f"{{{ITUNES}}}image").get("href").startswith("http://testserver/")
    assert channel.find(f"{{{ITUNES}}}explicit").text == "false"
    (item,) = channel.findall("item")
    assert item.find("title").text == "Episode <1> & more"
    assert item.find("link").text == f"http://testserver/s/{room.slug}/"
    assert item.find(f"{{{ITUNES}}}duration").text == "00:01:05"
    assert item.find(f"{{{ITUNES}}}explicit").text == "false"
    assert item.find("guid").get("isPermaLink") == "false"
    enclosure = item.find("enclosure")
    assert enclosure.get("type") == "audio/mp4"
    audio = client.get(enclosure.get("url").removeprefix("http://testserver"))
    assert audio.status_code == 200
    assert int(enclosure.get("length")) == len(b"".join(audio.streaming_content))


def test_the_feed_has_only_ready_public_replays_guests_may_hear():
    host = UserFactory()
    shown, _ = recorded_space(host=host, title="Shown")
    recorded_space(host=host, title="Unlisted", visibility=Room.Visibility.UNLISTED)
    recorded_space(host=host, title="Private", visibility=Room.Visibility.PRIVATE)
    recorded_space(host=host, title="Members", guests_may_listen=False)
    recorded_space(host=host, title="Preparing", state=Recording.State.ASSEMBLING)
    recorded_space(host=host, title="Deleted", state=Recording.State.DELETED)
    recorded_space(title="Someone else's")
    root = validate_rss2(Client().get(f"/u/{host.username}/feed.xml").content)
    assert [i.find("title").text for i in root.iter("item")] == ["Shown"]


def test_a_host_without_replays_has_an_empty_valid_feed_and_an_unknown_handle_404():
    host = UserFactory()
    root = validate_rss2(Client().get(f"/u/{host.username}/feed.xml").content)
    assert root.find("channel").findall("item") == []
    assert Client().get("/u/nobody-here/feed.xml").status_code == 404


def test_the_validator_catches_broken_feeds():
    good = b'<?xml version="1.0"?><rss version="2.0" xmlns:itunes="' + ITUNES.encode() + b'">'
    with pytest.raises(AssertionError):
        validate_rss2(good + b"<channel><title>t</title><link>l</link></channel></rss>")
    with pytest.raises(AssertionError):
        validate_rss2(
            good + b"<channel><title>t</title><link>l</link><description>d</description>"
            b"<item><pubDate>2026-01-01</pubDate><title>x</title></item></channel></rss>"
        )
    with pytest.raises(ET.ParseError):
        validate_rss2(good + b"<channel>")


def test_the_profile_lists_replays_and_links_the_feed():
    host = UserFactory()
    recorded_space(host=host, title="On my profile")
    page = Client().get(f"/u/{host.username}/").content.decode()
    assert "On my profile" in page
    assert f'href="/u/{host.username}/feed.xml"' in page
    assert 'data-testid="rec-badge"' in page
