"""The audio router of live Spaces: aiortc and numpy only, no Django.

Each live Space has one `Router`: speakers publish to it, it mixes them every 20 ms, encodes
the listener mix once and sends the same Opus packets to every listener and guest, and gives
each speaker a mix-minus. `RouterRegistry` / `get_router()` keep one router per room in this
process. Inputs and outputs are plain data: SDP strings, peer ids, dicts of levels and counters.

    router = get_router(room_id)  # after configure(MediaConfig(...), on_levels) at startup
    answer_sdp = await router.connect_speaker(peer_id, offer_sdp, muted=False)
    answer_sdp = await router.connect_listener(peer_id, offer_sdp)
    await router.set_muted(peer_id, True); await router.set_role(peer_id, "listener")
    await router.disconnect(peer_id); router.levels(); router.stats(); await router.close()

HLS: `router.add_listener_tap(HlsPublisher(HlsSegmenter(stream=..., write=..., delete=...)))`
encodes the same listener mix as AAC in fMP4 segments with a live playlist, off the event loop.
Recording: `router.add_recording_tap(tap)` is fed the recording mix (the listener mix, or a
second mix without the speakers `router.set_recorded(peer_id, False)` left out).

See `Router` for the full contract and `MediaConfig` for ICE servers and announced addresses.
"""

from .config import MediaConfig
from .hls import HlsPublisher, HlsSegmenter
from .router import (
    JoinAborted,
    LevelsCallback,
    ListenerTap,
    Role,
    Router,
    RouterClosed,
    RouterRegistry,
    configure,
    get_router,
    registry,
)
from .sdp import OfferError

__all__ = [
    "HlsPublisher",
    "HlsSegmenter",
    "JoinAborted",
    "LevelsCallback",
    "ListenerTap",
    "MediaConfig",
    "OfferError",
    "Role",
    "Router",
    "RouterClosed",
    "RouterRegistry",
    "configure",
    "get_router",
    "registry",
]
