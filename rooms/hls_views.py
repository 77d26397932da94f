"""The live HLS stream of a Space, for players past WebRTC and for the HTTP caches before them.

    GET /s/<slug>/hls/live.m3u8    the live playlist     Cache-Control: max-age=1
    GET /s/<slug>/hls/<name>       init and media segments (named in the playlist, relative to
                                   it), immutable: names are never reused

Who may fetch them is who may listen: anyone while the Space is live and lets guests listen
(then the responses are `public`, for shared caches), signed-in people who are neither removed
from it nor suspended when guests are off (`private`). A Space that is not live has no stream.
"""

import asyncio
import os
import re
import time

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.files.storage import FileSystemStorage
from django.db.models.signals import post_save
from django.dispatch import receiver
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.http import require_safe

from .hls import hls_storage, room_path
from .media.hls import PLAYLIST
from .models import Room
from .permissions import Standing, standing_of
from .visibility import room_visible_to

PLAYLIST_TYPE = "application/vnd.apple.mpegurl"
SEGMENT_TYPE = "audio/mp4"
SEGMENT_NAME = re.compile(r"[0-9a-f]{1,16}-(?:init\.mp4|\d{1,12}(?:\.\d{1,3})?\.m4s)")
PLAYLIST_MAX_AGE = 1  # seconds: a player and a cache see a new segment within one
SEGMENT_MAX_AGE = 365 * 24 * 3600


def _cacheable(room: Room) -> bool:
    """Anyone may fetch it, so shared caches may keep it: guests may listen, not private."""
    return room.guests_may_listen and room.visibility != Room.Visibility.PRIVATE


# A stream's players ask several times a second (LL-HLS parts): the Space's row is read at most
# once a second per process, and again at once when it is saved in this process.
ROOM_SECONDS = 1.0
_rooms: dict[str, tuple[float, Room | None]] = {}


def _room(slug: str) -> Room | None:
    hit = _rooms.get(slug)
    if hit is not None and time.monotonic() - hit[0] < ROOM_SECONDS:
        return hit[1]
    room = (
        Room.objects.filter(slug=slug)
        .only("pk", "state", "guests_may_listen", "visibility", "host_id")
        .first()
    )
    if len(_rooms) > 10_000:
        _rooms.clear()
    _rooms[slug] = (time.monotonic(), room)
    return room


@receiver(post_save, sender=Room)
def _forget_room(sender, instance: Room, **kwargs) -> None:
    _rooms.pop(instance.slug, None)


async def _alistenable(request: HttpRequest, slug: str) -> Room:
    """`_listenable` without leaving the event loop when the Space's row is fresh and anyone
    may listen (no question about the user to ask)."""
    hit = _rooms.get(slug)
    if hit is not None and time.monotonic() - hit[0] < ROOM_SECONDS:
        room = hit[1]
        if room is not None and room.state == Room.State.LIVE and _cacheable(room):
            return room
    return await sync_to_async(_listenable)(request, slug)


def _listenable(request: HttpRequest, slug: str) -> Room:
    room = _room(slug)
    if room is None or room.state != Room.State.LIVE or not room_visible_to(room, request.user):
        raise Http404("This Space is not live.")
    if _cacheable(room):
        return room
    user = request.user
    if not user.is_authenticated:
        raise PermissionDenied("Sign in to listen to this Space.")
    from moderation.selectors import suspension_of  # moderation builds on rooms

    if suspension_of(user) is not None or standing_of(user, room) == Standing.REMOVED:
        raise PermissionDenied("You cannot listen to this Space.")
    return room


def _serve(room: Room, name: str, content_type: str, max_age: int, *, immutable: bool):
    try:
        with hls_storage().open(room_path(room.pk, name), "rb") as file:
            data = file.read()
    except FileNotFoundError:
        response = HttpResponse("Not found.", status=404, content_type="text/plain")
        response["Cache-Control"] = f"max-age={PLAYLIST_MAX_AGE}"
        return response
    response = HttpResponse(data, content_type=content_type)
    scope = "public" if _cacheable(room) else "private"
    response["Cache-Control"] = f"{scope}, max-age={max_age}" + (", immutable" if immutable else "")
    return response


BLOCK_SECONDS = 3.0  # LL-HLS: how long a blocking playlist reload may wait (3 target durations)
BLOCKED_MAX_AGE = 6  # a playlist that has a given part goes on having it
NEWEST = re.compile(r'^#EXT-X-PART:.*-(\d+)\.(\d+)\.m4s"|^[^#].*-(\d+)\.m4s$', re.M)


def _newest(playlist: str) -> tuple[int, int]:
    """(media sequence, part) of the newest part listed; a complete segment counts as its
    sequence's every part."""
    newest = (-1, -1)
    for sequence, part, whole in NEWEST.findall(playlist):
        at = (int(sequence), int(part)) if sequence else (int(whole), 10**6)
        newest = max(newest, at)
    return newest


def _read_playlist(room: Room) -> str | None:
    try:
        with hls_storage().open(room_path(room.pk, PLAYLIST), "rb") as file:
            return file.read().decode()
    except FileNotFoundError:
        return None


def _modified(storage, path: str) -> float | None:
    try:
        if isinstance(storage, FileSystemStorage):
            return os.stat(storage.path(path)).st_mtime_ns
        return storage.get_modified_time(path).timestamp()
    except (FileNotFoundError, NotImplementedError):
        return None


async def _amodified(storage, path: str) -> float | None:
    """When the file last changed: a stat is cheap enough for the event loop, an object
    store's HEAD request is not."""
    if isinstance(storage, FileSystemStorage):
        return _modified(storage, path)
    return await asyncio.to_thread(_modified, storage, path)


def _poll_seconds(storage) -> float:
    return 0.02 if isinstance(storage, FileSystemStorage) else 0.1


@require_safe
async def live_playlist(request: HttpRequest, slug: str) -> HttpResponse:
    """The playlist; with `_HLS_msn` (and `_HLS_part`), LL-HLS's blocking reload: answered once
    the playlist has that part (or a later one), at most BLOCK_SECONDS later. With LL-HLS
    switched off (`SPACES_HLS_PART_SECONDS=off`) those are ignored and nothing is held."""
    room = await _alistenable(request, slug)
    msn, part = request.GET.get("_HLS_msn"), request.GET.get("_HLS_part")
    if (msn is None and part is None) or not settings.SPACES_HLS.get("PART_SECONDS"):
        return await asyncio.to_thread(
            _serve, room, PLAYLIST, PLAYLIST_TYPE, PLAYLIST_MAX_AGE, immutable=False
        )
    if msn is None or not msn.isdigit() or not (part is None or part.isdigit()):
        return HttpResponse("Bad _HLS_msn or _HLS_part.", status=400, content_type="text/plain")
    wanted = (int(msn), int(part or 0))
    deadline = time.monotonic() + BLOCK_SECONDS
    storage, path = hls_storage(), room_path(room.pk, PLAYLIST)
    while True:
        changed = await _amodified(storage, path)  # before the read: no change goes unseen
        text = await asyncio.to_thread(_read_playlist, room)
        if text is None:
            response = HttpResponse("Not found.", status=404, content_type="text/plain")
            response["Cache-Control"] = f"max-age={PLAYLIST_MAX_AGE}"
            return response
        newest = _newest(text)
        if newest >= wanted:
            break
        if wanted[0] > newest[0] + 2:  # RFC 8216bis 6.2.5.2: too far ahead
            return HttpResponse("_HLS_msn is too far ahead.", status=400, content_type="text/plain")
        while await _amodified(storage, path) == changed:  # a stat every 20 ms, a read on a change
            if time.monotonic() > deadline:
                return HttpResponse("Not yet.", status=503, content_type="text/plain")
            await asyncio.sleep(_poll_seconds(storage))
    response = HttpResponse(text, content_type=PLAYLIST_TYPE)
    scope = "public" if _cacheable(room) else "private"
    response["Cache-Control"] = f"{scope}, max-age={BLOCKED_MAX_AGE}"
    return response


@require_safe
async def live_segment(request: HttpRequest, slug: str, name: str) -> HttpResponse:
    """A segment or an LL-HLS part; a part that is not there yet (the preload hint names the
    next one) is waited for, as a blocking reload is, rather than answered 404 (which a cache
    would keep)."""
    if not SEGMENT_NAME.fullmatch(name):
        raise Http404("No such segment.")
    room = await _alistenable(request, slug)
    if name.count(".") == 2:
        storage, path = hls_storage(), room_path(room.pk, name)
        deadline = time.monotonic() + BLOCK_SECONDS
        # the writer is another process: nothing to wait on but the file itself
        while await _amodified(storage, path) is None and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(_poll_seconds(storage))
    return await asyncio.to_thread(
        _serve, room, name, SEGMENT_TYPE, SEGMENT_MAX_AGE, immutable=True
    )
