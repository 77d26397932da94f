"""A Space's replay and its clips, for players and downloads.

    GET /s/<slug>/replay/replay.m3u8   the VOD playlist                 max-age=60
    GET /s/<slug>/replay/<name>        init and media segments           immutable (names are
                                       (named in the playlist)           never reused)
    GET /s/<slug>/replay/audio.m4a     the whole replay in one file      ranges; max-age=3600
    GET /c/<slug>/audio.m4a            a clip's audio                    ranges; max-age=3600

Every request asks again whether the person may see the Space (`room_visible_to`) and whether
the recording (or clip) is still there (READY): a deleted or taken-down one is a 404 at once.
Guests may fetch them unless the host switched guest listening off; then signed-in people who
are neither removed from the Space nor suspended. Responses anyone may fetch are `public` (shared
caches), the others `private`. With object storage, the two `.m4a` answers are redirects to a
short-lived signed storage URL.
"""

import re

from django.core.exceptions import PermissionDenied
from django.core.files.storage import FileSystemStorage
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
)
from django.views.decorators.http import require_safe

from .models import Clip, Recording, Room
from .permissions import Standing, standing_of
from .recordings import INIT_NAME, SEGMENT_NAME, recordings_storage
from .visibility import room_visible_to

PLAYLIST_TYPE = "application/vnd.apple.mpegurl"
SEGMENT_TYPE = "audio/mp4"
PLAYLIST_MAX_AGE = 60
SEGMENT_MAX_AGE = 365 * 24 * 3600
AUDIO_MAX_AGE = 3600
RANGE = re.compile(r"bytes=(\d*)-(\d*)")


def _cacheable(room: Room) -> bool:
    return room.guests_may_listen and room.visibility != Room.Visibility.PRIVATE


def _may_listen(request: HttpRequest, room: Room) -> None:
    if not room_visible_to(room, request.user):
        raise Http404("No such replay.")
    if _cacheable(room):
        return
    user = request.user
    if not user.is_authenticated:
        raise PermissionDenied("Sign in to listen to this Space.")
    from moderation.selectors import suspension_of  # moderation builds on rooms

    if suspension_of(user) is not None or standing_of(user, room) == Standing.REMOVED:
        raise PermissionDenied("You cannot listen to this Space.")


def _replay(request: HttpRequest, slug: str) -> Recording:
    recording = (
        Recording.objects.select_related("room")
        .filter(room__slug=slug, state=Recording.State.READY)
        .first()
    )
    if recording is None:
        raise Http404("This Space has no replay.")
    _may_listen(request, recording.room)
    return recording


def _scope(room: Room) -> str:
    return "public" if _cacheable(room) else "private"


def _serve(room: Room, name: str, content_type: str, max_age: int, *, immutable: bool):
    try:
        with recordings_storage().open(name, "rb") as file:
            data = file.read()
    except FileNotFoundError:
        raise Http404("No such file.") from None
    response = HttpResponse(data, content_type=content_type)
    response["Cache-Control"] = f"{_scope(room)}, max-age={max_age}" + (
        ", immutable" if immutable else ""
    )
    return response


def _audio(request: HttpRequest, room: Room, name: str, filename: str) -> HttpResponse:
    """A whole `.m4a`, with byte ranges (Safari's <audio> asks for them)."""
    storage = recordings_storage()
    if not isinstance(storage, FileSystemStorage):
        response = HttpResponseRedirect(storage.url(name))
        response["Cache-Control"] = "private, no-store"
        return response
    try:
        size = storage.size(name)
        file = storage.open(name, "rb")
    except FileNotFoundError:
        raise Http404("No such file.") from None
    wanted = RANGE.fullmatch(request.headers.get("Range", "").strip())
    if wanted and (wanted[1] or wanted[2]):
        if wanted[1]:
            start = int(wanted[1])
            end = min(int(wanted[2]), size - 1) if wanted[2] else size - 1
        else:  # the last N bytes
            start, end = max(0, size - int(wanted[2])), size - 1
        if start > end or start >= size:
            file.close()
            response = HttpResponse(status=416)
            response["Content-Range"] = f"bytes */{size}"
            return response
        file.seek(start)
        data = file.read(end - start + 1)
        file.close()
        response = HttpResponse(data, status=206, content_type=SEGMENT_TYPE)
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
    else:
        response = FileResponse(file, content_type=SEGMENT_TYPE)
        response["Content-Length"] = str(size)
    response["Accept-Ranges"] = "bytes"
    response["Content-Disposition"] = f'inline; filename="{filename}"'
    response["Cache-Control"] = f"{_scope(room)}, max-age={AUDIO_MAX_AGE}"
    return response


@require_safe
def replay_playlist(request: HttpRequest, slug: str) -> HttpResponse:
    recording = _replay(request, slug)
    return _serve(
        recording.room,
        recording.prefix + recording.playlist,
        PLAYLIST_TYPE,
        PLAYLIST_MAX_AGE,
        immutable=False,
    )


@require_safe
def replay_segment(request: HttpRequest, slug: str, name: str) -> HttpResponse:
    if not (SEGMENT_NAME.fullmatch(name) or INIT_NAME.fullmatch(name)):
        raise Http404("No such segment.")
    recording = _replay(request, slug)
    return _serve(
        recording.room, recording.prefix + name, SEGMENT_TYPE, SEGMENT_MAX_AGE, immutable=True
    )


@require_safe
def replay_audio(request: HttpRequest, slug: str) -> HttpResponse:
    recording = _replay(request, slug)
    return _audio(request, recording.room, recording.prefix + recording.audio_file, f"{slug}.m4a")


@require_safe
def clip_audio(request: HttpRequest, slug: str) -> HttpResponse:
    clip = (
        Clip.objects.select_related("room", "recording")
        .filter(slug=slug, state=Clip.State.READY)
        .exclude(recording__state__in=[Recording.State.DELETED, Recording.State.REMOVED])
        .first()
    )
    if clip is None:
        raise Http404("No such clip.")
    _may_listen(request, clip.room)
    return _audio(request, clip.room, clip.recording.prefix + clip.audio_file, f"{slug}.m4a")
