"""The live HLS stream of a Space, for players past WebRTC and for the HTTP caches before them.

    GET /s/<slug>/hls/live.m3u8    the live playlist     Cache-Control: max-age=1
    GET /s/<slug>/hls/<name>       init and media segments (named in the playlist, relative to
                                   it), immutable: names are never reused

Who may fetch them is who may listen: anyone while the Space is live and lets guests listen
(then the responses are `public`, for shared caches), signed-in people who are neither removed
from it nor suspended when guests are off (`private`). A Space that is not live has no stream.
"""

import re

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.http import require_safe

from .hls import hls_storage, room_path
from .media.hls import PLAYLIST
from .models import Room
from .permissions import Standing, standing_of
from .visibility import room_visible_to

PLAYLIST_TYPE = "application/vnd.apple.mpegurl"
SEGMENT_TYPE = "audio/mp4"
SEGMENT_NAME = re.compile(r"[0-9a-f]{1,16}-(?:init\.mp4|\d{1,12}\.m4s)")
PLAYLIST_MAX_AGE = 1  # seconds: a player and a cache see a new segment within one
SEGMENT_MAX_AGE = 365 * 24 * 3600


def _cacheable(room: Room) -> bool:
    """Anyone may fetch it, so shared caches may keep it: guests may listen, not private."""
    return room.guests_may_listen and room.visibility != Room.Visibility.PRIVATE


def _listenable(request: HttpRequest, slug: str) -> Room:
    room = (
        Room.objects.filter(slug=slug)
        .only("pk", "state", "guests_may_listen", "visibility", "host_id")
        .first()
    )
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


@require_safe
def live_playlist(request: HttpRequest, slug: str) -> HttpResponse:
    room = _listenable(request, slug)
    return _serve(room, PLAYLIST, PLAYLIST_TYPE, PLAYLIST_MAX_AGE, immutable=False)


@require_safe
def live_segment(request: HttpRequest, slug: str, name: str) -> HttpResponse:
    if not SEGMENT_NAME.fullmatch(name):
        raise Http404("No such segment.")
    room = _listenable(request, slug)
    return _serve(room, name, SEGMENT_TYPE, SEGMENT_MAX_AGE, immutable=True)
