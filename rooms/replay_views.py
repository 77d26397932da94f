"""Replays at the Space's own link, recording files, clips and the host's recording controls.

    /s/<slug>/                      an ended, recorded Space: its replay (or what became of it)
    GET  /s/<slug>/replay/replay.m3u8, /s/<slug>/replay/<segment>, /s/<slug>/replay/audio.m4a
                                    the VOD playlist, its segments, the .m4a (byte ranges)
    POST /s/<slug>/plays/           the player's first play: one count per person a day
    POST /s/<slug>/clips/           make a clip (JSON answer: where to follow it)
    POST /s/<slug>/recording/delete/  the host deletes the recording
    GET  /c/<slug>/                 a clip's page (410 once deleted or taken down)
    GET  /c/<slug>/audio.m4a        its audio;  GET /c/<slug>/status/ cutting progress (JSON)
    POST /c/<slug>/play/            a clip's first play

Who may hear a recording is who may see the Space (rooms/visibility.py), signed in when the
host asked listeners to sign in; only a READY recording is served.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core import signing
from django.core.exceptions import PermissionDenied
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    JsonResponse,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST, require_safe

from spaces_project import ratelimit

from . import recordings, replay, selectors
from .exceptions import ActionRefused
from .models import Clip, Recording, Room
from .visibility import room_visible_to


def may_hear(request: HttpRequest, room: Room) -> bool:
    """Guests hear a recording only if the host let guests listen."""
    return room_visible_to(room, request.user) and (
        room.guests_may_listen or request.user.is_authenticated
    )


# The replay page (called by rooms.views.space_public for an ended, recorded Space)


def replay_page(request: HttpRequest, room: Room, context: dict) -> HttpResponse:
    recording = replay.recording_of(room)
    is_host = request.user.is_authenticated and request.user.pk == room.host_id
    context = {**context, "recording": recording, "is_host": is_host}
    if recording is not None and recording.state == Recording.State.READY:
        context["may_hear"] = may_hear(request, room)
        if context["may_hear"]:
            context["replay"] = {
                "slug": room.slug,
                "playlist": recordings.recording_url(recording, recording.playlist)
                if recording.playlist
                else "",
                "audio": recordings.recording_url(recording, recording.audio_file)
                if recording.audio_file
                else "",
                "duration": recording.duration,
                "timeline": replay.timeline(recording),
                "play": reverse("replay_play", args=[room.slug]),
                "clip": reverse("clip_create", args=[room.slug])
                if request.user.is_authenticated
                else "",
                "report": reverse("space_report", args=[room.slug]),
                "maxClip": Clip.MAX_SECONDS,
            }
        if is_host:
            context["play_count"] = replay.replay_play_count(recording)
    if is_host and recording is not None:
        context["host_clips"] = replay.host_clips(room)
    # the player sets the lock screen itself, with seek controls (static/js/replay.js)
    context["replay_session"] = context.pop("media_session", None)
    return render(request, "rooms/space_replay.html", context)


def embed_replay(request: HttpRequest, room: Room) -> dict | None:
    """What the embed page offers once a recorded Space has ended: None when there is no
    recording to hear (not recorded, failed, deleted, taken down); else its state and, when it is
    ready and may be heard here, the VOD playlist and the `.m4a` its player plays."""
    if not room.record or room.state != Room.State.ENDED:
        return None
    recording = replay.recording_of(room)
    if recording is None or recording.state in (
        Recording.State.FAILED,
        Recording.State.DELETED,
        Recording.State.REMOVED,
    ):
        return None
    if recording.state != Recording.State.READY or not may_hear(request, room):
        return {"state": recording.state, "playable": False}
    return {
        "state": recording.state,
        "playable": True,
        "playlist": recordings.recording_url(recording, recording.playlist)
        if recording.playlist
        else "",
        "audio": recordings.recording_url(recording, recording.audio_file)
        if recording.audio_file
        else "",
    }


@ratelimit.per_ip("replay_play", setting="SPACES_PUBLIC_PAGE_RATE")
@require_POST
def replay_play(request: HttpRequest, slug: str) -> JsonResponse:
    room = selectors.visible_room_by_slug(slug, request.user)
    recording = replay.recording_of(room)
    if recording is None or recording.state != Recording.State.READY:
        raise Http404("No recording.")
    if not may_hear(request, room):
        raise PermissionDenied("Sign in to listen to this recording.")
    counted = recordings.count_play(recording=recording, request=request)
    return JsonResponse({"counted": counted})


EMBED_COOKIE = "spaces_embed"
EMBED_SALT = "rooms.embed_guest"


def _embed_guest(request: HttpRequest) -> tuple[str, bool]:
    """The embed listener's guest id and whether it came from their cookie. Without the cookie
    (a first play, or a browser that keeps no cookie in third-party frames) it is a keyed hash
    of the address, so that listener still counts once a day; the cookie then set carries that
    same id, so a browser that does send it back is not counted a second time."""
    value = request.COOKIES.get(EMBED_COOKIE)
    if value:
        try:
            return signing.get_cookie_signer(salt=EMBED_SALT).unsign(value), True
        except signing.BadSignature:
            pass
    address = request.META.get("REMOTE_ADDR") or "unknown"
    return "e" + salted_hmac(EMBED_SALT, address).hexdigest()[:31], False


# Safe without CSRF, which a third-party frame cannot have (it gets no CSRF cookie): all it can
# do is count a play of a replay that may be heard here (it checks visibility and sign-in like
# the files do), at most once per person or guest per day (`count_play` is idempotent per key
# and day), rate-limited per address. A forged request from another site can at worst count
# the visitor's own play of that day; it changes nothing else.
@csrf_exempt
@ratelimit.per_ip("embed_play", setting="SPACES_PUBLIC_PAGE_RATE")
@require_POST
def embed_play(request: HttpRequest, slug: str) -> JsonResponse:
    """A play from the embed player (`/s/<slug>/embed/`): counted like the replay page's."""
    room = selectors.visible_room_by_slug(slug, request.user)
    recording = replay.recording_of(room)
    if recording is None or recording.state != Recording.State.READY:
        raise Http404("No recording.")
    if not may_hear(request, room):
        raise PermissionDenied("Sign in to listen to this recording.")
    guest, from_cookie = _embed_guest(request)
    counted = recordings.count_play(recording=recording, request=request, guest=guest)
    response = JsonResponse({"counted": counted})
    if not from_cookie and not request.user.is_authenticated:
        response.set_cookie(
            EMBED_COOKIE,
            signing.get_cookie_signer(salt=EMBED_SALT).sign(guest),
            max_age=365 * 24 * 3600,
            httponly=True,
            # sent back from a frame on another site only as SameSite=None, which browsers
            # accept only with Secure (over HTTPS); over plain HTTP, the address hash counts
            secure=request.is_secure(),
            samesite="None" if request.is_secure() else "Lax",
        )
    return response


@login_required
@require_POST
def recording_delete(request: HttpRequest, slug: str) -> HttpResponse:
    room = selectors.visible_room_by_slug(slug, request.user)
    if request.POST.get("confirm") != "yes":
        messages.error(request, _("Tick the box to confirm that the recording should go."))
        return redirect("space_public", slug=room.slug)
    try:
        recordings.delete_recording(room=room, user=request.user)
    except ActionRefused as refused:
        messages.error(request, refused.message)
    else:
        messages.success(request, _("The recording is deleted."))
    return redirect("space_public", slug=room.slug)


# Clips


def _clip_json(clip: Clip) -> dict:
    return {
        "slug": clip.slug,
        "state": clip.state,
        "progress": clip.progress,
        "page": reverse("clip_page", args=[clip.slug]),
        "status": reverse("clip_status", args=[clip.slug]),
    }


def _seconds(value: str | None) -> float | None:
    if value in (None, ""):
        return None
    try:
        number = float(value)
    except ValueError:
        return float("nan")
    return number


@require_POST
def clip_create(request: HttpRequest, slug: str) -> JsonResponse:
    """`start` (seconds into the replay; left out while live: the last `duration` seconds) and
    `duration`. Answers 201 with the clip's status URL, or 400/403/429 with `error`."""
    room = selectors.visible_room_by_slug(slug, request.user)
    if not request.user.is_authenticated:
        return JsonResponse({"error": _("Sign in to make a clip.")}, status=403)
    start = _seconds(request.POST.get("start"))
    duration = _seconds(request.POST.get("duration"))
    duration = float(Clip.LIVE_SECONDS) if duration is None else duration
    if (start is not None and start != start) or duration != duration:  # NaN: not a number
        return JsonResponse({"error": _("A clip needs a start and a length.")}, status=400)
    try:
        clip = recordings.create_clip(user=request.user, room=room, start=start, duration=duration)
    except ActionRefused as refused:
        status = {"rate_limited": 429, "not_allowed": 403, "private": 403}.get(refused.code, 400)
        return JsonResponse({"error": refused.message, "code": refused.code}, status=status)
    clip.refresh_from_db()
    return JsonResponse(_clip_json(clip), status=201)


def _clip(slug: str, request: HttpRequest) -> Clip:
    clip = get_object_or_404(
        Clip.objects.select_related("room__host__profile", "recording", "creator__profile"),
        slug=slug,
    )
    if not room_visible_to(clip.room, request.user):
        raise Http404("No such clip.")
    return clip


@require_safe
def clip_status(request: HttpRequest, slug: str) -> JsonResponse:
    clip = _clip(slug, request)
    response = JsonResponse(_clip_json(clip))
    response["Cache-Control"] = "no-store"
    return response


GONE = (Clip.State.DELETED, Clip.State.REMOVED)


@ratelimit.per_ip("clip_page", setting="SPACES_PUBLIC_PAGE_RATE")
@require_safe
def clip_page(request: HttpRequest, slug: str) -> HttpResponse:
    from .views import unfurl_context

    clip = _clip(slug, request)
    room = clip.room
    share_url = request.build_absolute_uri(reverse("clip_page", args=[clip.slug]))
    context = {
        "clip": clip,
        "room": room,
        "share_url": share_url,
        "space_url": reverse("space_public", args=[room.slug]),
        "may_hear": may_hear(request, room),
        **unfurl_context(request, room),
    }
    context["clip_session"] = context.pop("media_session", None)
    status = 410 if clip.state in GONE else 200
    if clip.state == Clip.State.READY and context["may_hear"]:
        context["clip_player"] = {
            "audio": recordings.clip_audio_url(clip),
            "play": reverse("clip_play", args=[clip.slug]),
        }
    return render(request, "rooms/clip.html", context, status=status)


@ratelimit.per_ip("replay_play", setting="SPACES_PUBLIC_PAGE_RATE")
@require_POST
def clip_play(request: HttpRequest, slug: str) -> JsonResponse:
    clip = _clip(slug, request)
    if clip.state != Clip.State.READY:
        raise Http404("No audio.")
    if not may_hear(request, clip.room):
        raise PermissionDenied("Sign in to listen to this clip.")
    return JsonResponse({"counted": replay.count_clip_play(clip=clip, request=request)})
