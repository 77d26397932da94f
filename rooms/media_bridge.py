"""Connects room sockets to the audio router (`rooms.media`), which knows nothing of Django.

Two modes (setting `SPACES_MEDIA["MODE"]`): "inprocess" runs each room's router in the daphne
process that receives the offer; "worker" runs routers in media worker processes
(`manage.py mediaworker <channel>`), one channel per worker: the Space records which worker holds
its router (`Room.media_worker`), offers go there over the channel layer and the answer comes
back to the socket's channel as `media.answer`. Workers are members of the process group, so
mutes and moves back reach their routers the same way as in-process ones.

Whether an offer publishes is decided here from the database, never from the SDP: people on
stage get `connect_speaker` (muted as their row says); listeners and guests get
`connect_listener`, which answers send-only whatever they ask. The hub hands every room-wide
event to `on_room_event`, so a mute or a move back reaches the router in this process within
one tick, whoever made the change and wherever.
"""

import asyncio
import logging
import weakref
from typing import Any

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction
from django.db.models import Count

from . import events
from .media import JoinAborted, MediaConfig, OfferError, RouterClosed, RouterRegistry
from .models import Participant, Room
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
        listener_packet_ms=media.get("LISTENER_PACKET_MS", 20),
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


def _audio_role(room_id: int, user_id: int | None) -> tuple[str, bool]:
    """("speaker", muted) for people on stage in a live Space, else ("listener", True)."""
    room = Room.objects.filter(pk=room_id).only("state", "visibility", "host_id").first()
    if room is None or room.state != Room.State.LIVE:
        raise OfferRefused("wrong_state", "Audio is on while the Space is live.")
    if not room_visible_to_id(room, user_id):
        raise OfferRefused("private", "This Space is private.")
    if user_id is None:
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


def worker_mode() -> bool:
    return settings.SPACES_MEDIA["MODE"] == "worker"


def _assign_worker(room_id: int) -> str:
    """The media worker holding the room's router: kept once chosen, else the least busy."""
    workers = list(settings.SPACES_MEDIA["WORKERS"])
    if not workers:
        raise OfferRefused("no_media_worker", "Audio is not available right now.")
    with transaction.atomic():
        room = Room.objects.select_for_update().get(pk=room_id)
        if room.media_worker in workers:
            return room.media_worker
        busy = dict(
            Room.objects.filter(state=Room.State.LIVE, media_worker__in=workers)
            .values_list("media_worker")
            .annotate(rooms=Count("id"))
        )
        room.media_worker = min(workers, key=lambda name: (busy.get(name, 0), name))
        room.save(update_fields=["media_worker"])
        return room.media_worker


async def offer(viewer, sdp: str) -> str | None:
    """Answer a socket's WebRTC offer; a new offer replaces the socket's earlier connection.

    Returns the answer, or None in worker mode, where it arrives later as `media.answer`.
    """
    role, muted = await database_sync_to_async(_audio_role)(viewer.room_id, viewer.user_id)
    if not worker_mode():
        return await local_offer(viewer.room_id, viewer.peer_id, viewer.user_id, role, muted, sdp)
    viewer.media_worker = await database_sync_to_async(_assign_worker)(viewer.room_id)
    await get_channel_layer().send(
        viewer.media_worker,
        {
            "type": "media.offer",
            "room_id": viewer.room_id,
            "peer_id": viewer.peer_id,
            "user_id": viewer.user_id,
            "role": role,
            "muted": muted,
            "sdp": sdp,
            "reply_to": viewer.channel_name,
        },
    )
    return None


async def local_offer(
    room_id: int, peer_id: str, user_id: int | None, role: str, muted: bool, sdp: str
) -> str:
    """Answer an offer with this process's router of the room."""
    current = bridge()
    router = current.routers.get(str(room_id))
    room_speakers = current.speakers.setdefault(room_id, {})
    try:
        if role == "speaker":
            room_speakers[peer_id] = user_id
            return await router.connect_speaker(peer_id, sdp, muted=muted)
        room_speakers.pop(peer_id, None)
        return await router.connect_listener(peer_id, sdp)
    except OfferError as error:
        room_speakers.pop(peer_id, None)
        raise OfferRefused("bad_offer", f"That audio offer can't be used: {error}") from None
    except (RouterClosed, JoinAborted):
        # The Space's audio closed (it ended) or a newer offer replaced this one meanwhile.
        room_speakers.pop(peer_id, None)
        raise OfferRefused("audio_closed", "Audio for this Space is not available.") from None


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
            await current.routers.close(str(room_id))


LEAVES_STAGE = frozenset({"moved_to_audience", "participant_left", "participant_removed"})


async def on_room_event(room_id: int, event: dict[str, Any]) -> None:
    """Apply a room-wide event to this process's router of that room, if it has one."""
    current = bridge()
    kind = event["type"]
    if kind in ("room_ended", "room_cancelled"):
        current.speakers.pop(room_id, None)
        await current.routers.close(str(room_id))
        return
    router = current.routers.find(str(room_id))
    user = (event.get("user") or {}).get("id")
    if router is None or user is None:
        return
    for peer_id in current.peers_of(room_id, user):
        if kind in ("speaker_muted", "speaker_unmuted"):
            await router.set_muted(peer_id, kind == "speaker_muted")
        elif kind == "participant_removed":
            current.speakers[room_id].pop(peer_id, None)
            await router.disconnect(peer_id)
        elif kind in LEAVES_STAGE or (event.get("role") and event["role"] not in ON_STAGE):
            current.speakers[room_id].pop(peer_id, None)
            await router.set_role(peer_id, "listener")
