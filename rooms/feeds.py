"""A host's recorded Spaces as a podcast: RSS 2.0 with the iTunes tags podcast apps read.

    GET /u/<handle>/feed.xml

Items are the host's READY recordings of public Spaces that guests may listen to (a podcast
app cannot sign in, and unlisted or private Spaces are not announced), newest first, each with
its `.m4a` as the enclosure.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC
from email.utils import format_datetime

from django.db.models import F
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.templatetags.static import static
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_safe

from accounts.models import User
from spaces_project import ratelimit

from . import recordings, replay
from .models import Recording, Room

ITUNES = "http://www.itunes.com/dtds/podcast-1.0.dtd"
ATOM = "http://www.w3.org/2005/Atom"
ET.register_namespace("itunes", ITUNES)
ET.register_namespace("atom", ATOM)
ITEMS = 50


def feed_recordings(host: User) -> list[Recording]:
    return list(
        Recording.objects.filter(
            room__host=host,
            state=Recording.State.READY,
            room__visibility=Room.Visibility.PUBLIC,
            room__guests_may_listen=True,
        )
        .exclude(audio_file="")
        .select_related("room")
        .order_by(F("room__ended_at").desc(nulls_last=True), "-pk")[:ITEMS]
    )


def _duration(seconds: float) -> str:
    total = int(round(seconds))
    return f"{total // 3600:02d}:{total % 3600 // 60:02d}:{total % 60:02d}"


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attrs)
    if text is not None:
        element.text = text
    return element


def feed_xml(request: HttpRequest, host: User) -> bytes:
    name = host.display_name
    profile_url = request.build_absolute_uri(reverse("profile_detail", args=[host.username]))
    if getattr(host, "profile", None) is not None and host.profile.avatar:
        image = request.build_absolute_uri(host.profile.avatar.url)
    else:
        image = request.build_absolute_uri(static("icons/icon-512.png"))
    items = feed_recordings(host)
    rss = ET.Element("rss", {"version": "2.0"})
    channel = _sub(rss, "channel")
    _sub(channel, "title", f"{name} on Spaces")
    _sub(channel, "link", profile_url)
    _sub(channel, "description", f"Recorded Spaces hosted by {name}.")
    _sub(channel, "language", "en")
    _sub(
        channel,
        f"{{{ATOM}}}link",
        href=request.build_absolute_uri(request.path),
        rel="self",
        type="application/rss+xml",
    )
    latest = max((r.ready_at or r.created_at for r in items), default=timezone.now())
    _sub(channel, "lastBuildDate", format_datetime(latest.astimezone(UTC), usegmt=True))
    _sub(channel, f"{{{ITUNES}}}author", name)
    _sub(channel, f"{{{ITUNES}}}image", href=image)
    _sub(channel, f"{{{ITUNES}}}explicit", "false")
    _sub(channel, f"{{{ITUNES}}}category", text="Technology")
    image_element = _sub(channel, "image")
    _sub(image_element, "url", image)
    _sub(image_element, "title", f"{name} on Spaces")
    _sub(image_element, "link", profile_url)
    storage = replay.storage()
    for recording in items:
        room = recording.room
        try:
            length = storage.size(replay.stored_name(recording, recording.audio_file))
        except (FileNotFoundError, OSError):
            continue
        page = request.build_absolute_uri(reverse("space_public", args=[room.slug]))
        item = _sub(channel, "item")
        _sub(item, "title", room.title)
        _sub(item, "link", page)
        _sub(item, "description", room.description or f"A Space hosted by {name}.")
        _sub(item, "guid", f"spaces-recording-{recording.pk}-{room.slug}", isPermaLink="false")
        when = room.ended_at or recording.ready_at or recording.created_at
        _sub(item, "pubDate", format_datetime(when.astimezone(UTC), usegmt=True))
        _sub(
            item,
            "enclosure",
            url=request.build_absolute_uri(
                recordings.recording_url(recording, recording.audio_file)
            ),
            length=str(length),
            type="audio/mp4",
        )
        _sub(item, f"{{{ITUNES}}}author", name)
        _sub(item, f"{{{ITUNES}}}duration", _duration(recording.duration))
        _sub(item, f"{{{ITUNES}}}explicit", "false")
    return ET.tostring(rss, encoding="utf-8", xml_declaration=True)


@ratelimit.per_ip("host_feed", setting="SPACES_PUBLIC_PAGE_RATE")
@require_safe
def host_feed(request: HttpRequest, username: str) -> HttpResponse:
    host = get_object_or_404(User.objects.select_related("profile"), username__iexact=username)
    response = HttpResponse(feed_xml(request, host), content_type="application/rss+xml")
    response["Cache-Control"] = "public, max-age=600"
    return response
