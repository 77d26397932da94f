"""Connects room sockets to the audio router (`rooms.media`), which knows nothing of Django.

Two modes (setting `SPACES_MEDIA["MODE"]`): "inprocess" runs each room's router in the daphne
process that receives the offer; "worker" runs routers in media worker processes
(`manage.py mediaworker <channel>`), one channel per worker: the Space records which worker holds
its router (`Room.media_worker`), offers go there over the channel layer and the answer comes
back to the asking process's hub (`Hub.request`). Workers are members of the process group, so
mutes and moves back reach their routers the same way as in-process ones.

Worker failures. Each worker writes a heartbeat to the cache every second
(`worker_heartbeat`); a worker whose heartbeat is older than `SPACES_MEDIA["WORKER_STALE_SECONDS"]`
is skipped. The live workers move the Spaces of a dead one to the least busy live worker
(`rescue_spaces`), and a move emits `media_moved`, on which every page offers again. An offer
that gets no answer within `OFFER_TIMEOUT` is tried once more on another live worker (moving the
Space), then refused with `media_unavailable`.

Whether an offer publishes is decided here from the database, never from the SDP: people on
stage get `connect_speaker` (muted as their row says); listeners and guests get
`connect_listener`, which answers send-only whatever they ask. The hub hands every room-wide
event to `on_room_event`, so a mute or a move back reaches the router in this process within
one tick, whoever made the change and wherever.
"""

import asyncio
import logging
import time
import weakref
from typing import Any

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Count
from django.utils.translation import gettext

from spaces_project.ratelimit import shared_cache

from . import events, hls, recordings
from .media import JoinAborted, MediaConfig, OfferError, RouterClosed, RouterRegistry
from .media.hls import PLAYLIST
from .media.sdp import OfferLimits, check_offer
from .models import Participant, Room, RoomEvent
from .permissions import ON_STAGE
from .visibility import room_visible_to_id

logger = logging.getLogger(__name__)


def media_config() -> MediaConfig:
    media = settings.SPACES_MEDIA
    return MediaConfig(
        ice_servers=media["ICE_SERVERS"],
        bind_addresses=media["BIND_ADDRESSES"],
        announce_addresses=media["ANNOUNCE_ADDRESSES"],
        opus_bitrate=media["OPUS_BITRATE"],
        listener_packet_ms=media.get("LISTENER_PACKET_MS"),
        listener_packet_up_at=media.get("LISTENER_PACKET_UP_AT", 250),
        listener_packet_down_at=media.get("LISTENER_PACKET_DOWN_AT", 150),
    )


class Bridge:
    """This process's routers (one per live room) and which user each speaker peer is."""

    def __init__(self) -> None:
        self.routers = RouterRegistry(media_config(), self._levels)
        self.speakers: dict[int, dict[str, int]] = {}  # room id -> {peer id: user id}

    def _levels(self, room_key: str, levels: dict[str, float]) -> None:
        room_id = int(room_key)
        by_user = {}
        for peer_id, level in levels.items():
            user_id = self.speakers.get(room_id, {}).get(peer_id)
            if user_id is not None:
                by_user[str(user_id)] = round(level, 3)
        task = asyncio.get_running_loop().create_task(
            events.abroadcast(room_id, "levels", {"levels": by_user})
        )
        task.add_done_callback(lambda t: t.cancelled() or t.exception())

    def peers_of(self, room_id: int, user_id: int) -> list[str]:
        return [p for p, u in self.speakers.get(room_id, {}).items() if u == user_id]


_bridges: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Bridge]" = (
    weakref.WeakKeyDictionary()
)


def bridge() -> Bridge:
    loop = asyncio.get_running_loop()
    found = _bridges.get(loop)
    if found is None:
        found = _bridges[loop] = Bridge()
    return found


class OfferRefused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def checked_offer(sdp: str) -> str:
    """The offer as aiortc may see it (rooms.media.sdp.check_offer), or OfferRefused
    `bad_offer`: shapes a browser never sends are refused before they cost anything."""
    limits = OfferLimits(
        candidate_networks=tuple(settings.SPACES_MEDIA.get("CANDIDATE_NETWORKS", ()))
    )
    try:
        return check_offer(sdp, limits)
    except OfferError as error:
        raise OfferRefused(
            "bad_offer", gettext("That audio offer can't be used: %(error)s") % {"error": error}
        ) from None


def _audio_role(room_id: int, user_id: int | None) -> tuple[str, bool]:
    """("speaker", muted) for people on stage in a live Space, else ("listener", True).
    A suspended or deactivated account only listens, whatever its seat says."""
    from moderation.selectors import suspension_of  # moderation builds on rooms

    room = Room.objects.filter(pk=room_id).only("state", "visibility", "host_id").first()
    if room is None or room.state != Room.State.LIVE:
        raise OfferRefused("wrong_state", gettext("Audio is on while the Space is live."))
    if not room_visible_to_id(room, user_id):
        raise OfferRefused("private", gettext("This Space is private."))
    if user_id is None:
        return "listener", True
    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    if user is None or suspension_of(user) is not None:
        return "listener", True
    row = (
        Participant.objects.present()
        .filter(room_id=room_id, user_id=user_id)
        .only("role", "is_muted")
        .first()
    )
    if row is not None and row.role in ON_STAGE:
        return "speaker", row.is_muted
    return "listener", True


# The channel of the media worker this process is (set by `manage.py mediaworker`), else "".
this_worker = ""


def worker_mode() -> bool:
    return settings.SPACES_MEDIA["MODE"] == "worker"


def _media_setting(name: str, default: float) -> float:
    return float(settings.SPACES_MEDIA.get(name, default))


def _heartbeat_key(worker: str) -> str:
    return f"spaces:mediaworker:{worker}"


def worker_heartbeat(worker: str) -> None:
    """Say that the media worker `worker` is alive (its command calls this every second)."""
    stale = _media_setting("WORKER_STALE_SECONDS", 3.0)
    shared_cache().set(_heartbeat_key(worker), time.time(), timeout=int(stale) + 60)


def worker_stopped(worker: str) -> None:
    """A worker that stops cleanly hands its Spaces over at once instead of going stale."""
    shared_cache().delete(_heartbeat_key(worker))


def live_workers() -> list[str]:
    """The configured media workers whose heartbeat is fresh."""
    workers = list(settings.SPACES_MEDIA["WORKERS"])
    stale = _media_setting("WORKER_STALE_SECONDS", 3.0)
    try:
        beats = shared_cache().get_many([_heartbeat_key(w) for w in workers])
    except Exception:
        logger.warning("Media worker heartbeats unreadable; trying every worker", exc_info=True)
        return workers
    now = time.time()
    return [w for w in workers if now - beats.get(_heartbeat_key(w), float("-inf")) < stale]


def _assign_worker(room_id: int, avoid: frozenset[str] = frozenset()) -> str:
    """The media worker holding the room's router: kept while it is alive, else the least busy
    live one. Moving a Space that had a worker emits `media_moved` (everyone offers again)."""
    if not settings.SPACES_MEDIA["WORKERS"]:
        raise OfferRefused("no_media_worker", gettext("Audio is not available right now."))
    workers = [w for w in live_workers() if w not in avoid]
    with transaction.atomic():
        room = Room.objects.select_for_update().get(pk=room_id)
        if room.media_worker in workers:
            return room.media_worker
        if not workers:
            raise OfferRefused(
                "media_unavailable", gettext("No audio server answered; trying again shortly.")
            )
        busy = dict(
            Room.objects.filter(state=Room.State.LIVE, media_worker__in=workers)
            .values_list("media_worker")
            .annotate(rooms=Count("id"))
        )
        previous = room.media_worker
        room.media_worker = min(workers, key=lambda name: (busy.get(name, 0), name))
        room.save(update_fields=["media_worker"])
        if previous and room.state == Room.State.LIVE:
            RoomEvent.objects.create(
                room=room, verb="media_moved", data={"from": previous, "to": room.media_worker}
            )
            events.emit(room.pk, "media_moved", {"room": room.slug, "actor": None})
        return room.media_worker


def rescue_spaces() -> list[int]:
    """Move the live Spaces of media workers that stopped beating to live ones; their ids."""
    alive = set(live_workers())
    dead = [w for w in settings.SPACES_MEDIA["WORKERS"] if w not in alive]
    if not alive or not dead:
        return []
    stranded = list(
        Room.objects.filter(state=Room.State.LIVE, media_worker__in=dead).values_list(
            "pk", flat=True
        )
    )
    for room_id in stranded:
        try:
            _assign_worker(room_id)
        except OfferRefused:
            return []
    return stranded


async def offer(viewer, sdp: str) -> str | None:
    """Answer a socket's WebRTC offer; a new offer replaces the socket's earlier connection.

    In worker mode the Space's worker answers; one that does not within `OFFER_TIMEOUT`
    seconds is passed over for another live worker once, then the offer is refused
    (`media_unavailable`: the page tries again with backoff).
    """
    sdp = checked_offer(sdp)
    from .realtime import hub

    role, muted = await database_sync_to_async(_audio_role)(viewer.room_id, viewer.user_id)
    if not worker_mode():
        return await local_offer(viewer.room_id, viewer.peer_id, viewer.user_id, role, muted, sdp)
    request = {
        "type": "media.offer",
        "room_id": viewer.room_id,
        "peer_id": viewer.peer_id,
        "user_id": viewer.user_id,
        "role": role,
        "muted": muted,
        "sdp": sdp,
    }
    timeout = _media_setting("OFFER_TIMEOUT", 2.5)
    tried: set[str] = set()
    for _ in range(2):
        worker = await database_sync_to_async(_assign_worker)(viewer.room_id, frozenset(tried))
        viewer.media_worker = worker
        reply = await hub().request(worker, request, timeout)
        if reply is None:
            logger.warning("Media worker %s did not answer an offer in %.1f s", worker, timeout)
            tried.add(worker)
            continue
        if reply.get("error"):
            # The worker writes in English; the catalog has this socket's words for its messages.
            raise OfferRefused(reply.get("code") or "bad_offer", gettext(reply["error"]))
        return reply["sdp"]
    raise OfferRefused(
        "media_unavailable", gettext("No audio server answered; trying again shortly.")
    )


def webrtc_full(current: Bridge, room_id: int, peer_id: str) -> bool:
    """Whether this process (one media worker) holds as many WebRTC listeners as its
    capacity (`SPACES_MEDIA["WEBRTC_LISTENER_CAPACITY"]`); a re-offer keeps its own seat.
    Only while HLS is published: with it off there is nowhere else to send a listener."""
    if not settings.SPACES_HLS["ENABLED"]:
        return False
    capacity = int(settings.SPACES_MEDIA.get("WEBRTC_LISTENER_CAPACITY", 1000))
    room_key = str(room_id)
    taken = sum(
        router.webrtc_listeners(besides=peer_id if router.room_id == room_key else None)
        for router in current.routers.live_routers()
    )
    return taken >= capacity


async def local_offer(
    room_id: int, peer_id: str, user_id: int | None, role: str, muted: bool, sdp: str
) -> str:
    """Answer an offer with this process's router of the room.

    A speaker's peer is registered before it connects, and their seat is read again once it
    has: a mute or a move back that landed after `role` was read (and before the peer could
    be found by `on_room_event`) still applies.
    """
    sdp = checked_offer(sdp)
    current = bridge()
    if role != "speaker" and webrtc_full(current, room_id, peer_id):
        raise OfferRefused("use_hls", "This Space is full on live audio; listen to its stream.")
    router = current.routers.get(str(room_id))
    recorded = False
    if role == "speaker":  # the router that mixes the stage publishes the HLS stream and
        await hls.ensure_publishing(router, room_id)  # records a recorded Space
        await recordings.ensure_recording(router, room_id)
        if recordings.records(router):
            recorded = await database_sync_to_async(recordings.speaker_recorded)(room_id, user_id)
    room_speakers = current.speakers.setdefault(room_id, {})
    try:
        if role != "speaker":
            room_speakers.pop(peer_id, None)
            return await router.connect_listener(peer_id, sdp)
        room_speakers[peer_id] = user_id
        answer = await router.connect_speaker(peer_id, sdp, muted=muted, recorded=recorded)
        now_role, now_muted = await database_sync_to_async(_audio_role)(room_id, user_id)
        if now_role != "speaker":
            room_speakers.pop(peer_id, None)
            await router.set_role(peer_id, "listener")
        elif now_muted != muted:
            await router.set_muted(peer_id, now_muted)
        if recordings.records(router):  # a choice made while the offer was answered
            await router.set_recorded(
                peer_id,
                await database_sync_to_async(recordings.speaker_recorded)(room_id, user_id),
            )
        return answer
    except OfferRefused:
        room_speakers.pop(peer_id, None)
        await router.disconnect(peer_id)
        raise OfferRefused(
            "audio_closed", gettext("Audio for this Space is not available.")
        ) from None
    except OfferError as error:
        room_speakers.pop(peer_id, None)
        raise OfferRefused(
            "bad_offer", gettext("That audio offer can't be used: %(error)s") % {"error": error}
        ) from None
    except (RouterClosed, JoinAborted):
        # The Space's audio closed (it ended) or a newer offer replaced this one meanwhile.
        room_speakers.pop(peer_id, None)
        raise OfferRefused(
            "audio_closed", gettext("Audio for this Space is not available.")
        ) from None
    except (AssertionError, ValueError, LookupError, TypeError, AttributeError) as error:
        # What aiortc still chokes on after the shape check: a refusal, not a traceback.
        room_speakers.pop(peer_id, None)
        logger.warning("Audio offer refused by aiortc: %s: %s", type(error).__name__, error)
        raise OfferRefused("bad_offer", gettext("That audio offer can't be used.")) from None


async def disconnect(room_id: int, peer_id: str, media_worker: str | None = None) -> None:
    """Close the socket's audio connection, wherever its router is."""
    if media_worker:
        await get_channel_layer().send(
            media_worker, {"type": "media.disconnect", "room_id": room_id, "peer_id": peer_id}
        )
        return
    current = bridge()
    router = current.routers.find(str(room_id))
    current.speakers.get(room_id, {}).pop(peer_id, None)
    if router is not None:
        await router.disconnect(peer_id)
        stats = router.stats()
        if not (stats["speakers"] or stats["listeners"] or stats["joining"]):
            if hls.publisher_of(router) is None:
                await current.routers.close(str(room_id))
            elif router not in _streaming_alone:
                # HLS players are nobody's peer: the stream goes on until the Space ends
                _streaming_alone.add(router)
                task = asyncio.get_running_loop().create_task(_stream_until_over(room_id, router))
                task.add_done_callback(lambda t: t.cancelled() or t.exception())


# Routers kept only for their HLS stream, each watched by `_stream_until_over`.
_streaming_alone: "weakref.WeakSet[Any]" = weakref.WeakSet()
STREAM_ALONE_CHECK_SECONDS = 1.0


def _stream_state(room_id: int, stream: str | None) -> str:
    """ "streams" while the Space is live, held here (worker mode) and nobody else writes its
    stream; "moved" when another worker or process publishes it now (files of another stream
    written in the last two seconds); "over" otherwise."""
    row = Room.objects.filter(pk=room_id).values_list("state", "media_worker").first()
    if row is None or row[0] != Room.State.LIVE:
        return "over"
    if this_worker and row[1] != this_worker:
        return "moved"
    storage = hls.hls_storage()
    try:
        _, names = storage.listdir(str(room_id))
    except FileNotFoundError:
        names = []
    ours = (stream or "").split("-")[0] + "-"
    recent = time.time() - 2 * STREAM_ALONE_CHECK_SECONDS
    for name in names:
        if name.startswith((ours, ".")) or name == PLAYLIST:
            continue
        try:
            if storage.get_modified_time(hls.room_path(room_id, name)).timestamp() > recent:
                return "moved"
        except (FileNotFoundError, NotImplementedError):
            continue
    return "streams"


async def _stream_until_over(room_id: int, router) -> None:
    """Close a router that only streams once its Space is no longer live, or its audio moved
    (another worker or process publishes the stream now): with no socket of the room left in
    this process, neither may reach it as an event."""
    publisher = hls.publisher_of(router)
    stream = publisher.segmenter.init_name if publisher is not None else None
    try:
        while not router.closed:
            await asyncio.sleep(STREAM_ALONE_CHECK_SECONDS)
            stats = router.stats()
            if stats["speakers"] or stats["listeners"] or stats["joining"]:
                return  # peers are back: their leaving starts this again
            state = await database_sync_to_async(_stream_state)(room_id, stream)
            if state == "streams":
                continue
            current = bridge()
            if current.routers.find(str(room_id)) is router:
                current.speakers.pop(room_id, None)
                await current.routers.close(str(room_id))  # its own files go with its stream
            if state == "over":
                await hls.on_room_ended(room_id)
            return
    finally:
        _streaming_alone.discard(router)


RECORDED_ROLE_EVENTS = frozenset({"cohost_promoted", "cohost_removed", "host_changed"})
LEAVES_STAGE = frozenset({"moved_to_audience", "participant_left", "participant_removed"})


async def on_room_event(room_id: int, event: dict[str, Any]) -> None:
    """Apply a room-wide event to this process's router of that room, if it has one."""
    current = bridge()
    kind = event["type"]
    if kind in ("room_ended", "room_cancelled"):
        current.speakers.pop(room_id, None)
        await current.routers.close(str(room_id))
        await hls.on_room_ended(room_id)
        return
    if kind == "media_moved" and this_worker and current.routers.find(str(room_id)):
        # A worker that was thought dead (it stalled) and lost the Space lets its router go.
        holder = await database_sync_to_async(
            lambda: Room.objects.filter(pk=room_id).values_list("media_worker", flat=True).first()
        )()
        if holder != this_worker:
            current.speakers.pop(room_id, None)
            await current.routers.close(str(room_id))
        return
    router = current.routers.find(str(room_id))
    if kind == "recording_removed":
        if router is not None:
            await recordings.stop_recording(router, room_id)
        return
    if kind == "recording_consent":
        for peer_id in current.peers_of(room_id, event.get("user_id")) if router else ():
            await router.set_recorded(peer_id, bool(event.get("consent")))
        return
    user = (event.get("user") or {}).get("id")
    if router is None or user is None:
        return
    if kind in RECORDED_ROLE_EVENTS and recordings.records(router):
        # a co-host is always recorded; back to speaker, their own choice counts again
        recorded = await database_sync_to_async(recordings.speaker_recorded)(room_id, user)
        for peer_id in current.peers_of(room_id, user):
            await router.set_recorded(peer_id, recorded)
    for peer_id in current.peers_of(room_id, user):
        if kind in ("speaker_muted", "speaker_unmuted"):
            await router.set_muted(peer_id, kind == "speaker_muted")
        elif kind == "participant_removed":
            current.speakers[room_id].pop(peer_id, None)
            await router.disconnect(peer_id)
        elif kind in LEAVES_STAGE or (event.get("role") and event["role"] not in ON_STAGE):
            current.speakers[room_id].pop(peer_id, None)
            await router.set_role(peer_id, "listener")
