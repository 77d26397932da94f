"""A live Space's audio router: mix the speakers once per 20 ms, send the same packets to everyone.

Speakers publish to the router and hear a mix-minus (everyone but themselves), encoded for each
speaker; listeners and guests all receive the *same* Opus packets, encoded once per tick and
written to every peer's RTP stream by one fan-out loop. Mute and demotion are enforced here,
not in the browser: a muted or demoted speaker's audio is not mixed from the next tick on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np
from aiortc import (
    MediaStreamTrack,
    RTCPeerConnection,
    RTCRtpSender,
    RTCRtpTransceiver,
    RTCSessionDescription,
)
from aiortc.exceptions import OperationError
from aiortc.mediastreams import MediaStreamError

from .aiortc_compat import (
    OPUS_MIME,
    RtpFormat,
    RtpStream,
    close_peer_connection,
    gather_on,
    ntp_now,
    rtp_template,
    server_peer_connection,
    shorten_jitter_buffer,
)
from .codec import MonoConverter, OpusEncoder
from .config import MediaConfig
from .mixer import (
    FRAME_SAMPLES,
    SAMPLE_RATE,
    SampleFifo,
    audio_level_dbov,
    mix,
    recording_mix,
    rms_dbfs,
)
from .sdp import OfferError, announce_host_candidates, audio_only_sections

logger = logging.getLogger(__name__)

Role = Literal["speaker", "listener"]
ROLES: tuple[Role, ...] = ("speaker", "listener")
LevelsCallback = Callable[[dict[str, float]], None]

TICK_SECONDS = FRAME_SAMPLES / SAMPLE_RATE
MAX_LAG_SECONDS = 0.2  # catch up after short stalls; further behind, skip ahead (drop audio)
SHORT_PACKET_MS, LONG_PACKET_MS = 20, 60  # listener packet lengths when they follow the crowd
SWITCH_AFTER_TICKS = 50  # the crowd stays past a threshold for 1 s: joins settle first
PRIMING_TICKS = 50  # 1 s of the mix primes a new encoder into the same mode (SILK, CELT)


class ListenerTap(Protocol):
    """Something else fed the listener mix every tick (the HLS encoder): must not block."""

    def feed(self, block: np.ndarray, wall_time: float) -> None: ...

    async def close(self) -> None: ...


class RouterClosed(RuntimeError):
    """The Space's router has been closed; nobody can join it any more."""


class JoinAborted(RuntimeError):
    """The peer left, reconnected or the router closed while its offer was being answered."""


@dataclass(eq=False)
class _Peer:
    """One person's media connection to the room."""

    peer_id: str
    pc: RTCPeerConnection
    role: Role
    muted: bool
    stream: RtpStream | None = None  # what they hear
    mic: MediaStreamTrack | None = None  # what a speaker publishes
    fifo: SampleFifo = field(default_factory=SampleFifo)
    reader: asyncio.Task[None] | None = None
    encoder: OpusEncoder | None = None  # their own mix-minus, while they are mixed
    peak_level: float = 0.0
    recorded: bool = True  # in the recording mix (a speaker who declined is heard live only)
    watchdog: asyncio.TimerHandle | None = None
    packets_sent: int = 0

    @property
    def mixed(self) -> bool:
        """Whether the room hears this peer: a publishing speaker who is not muted."""
        return self.role == "speaker" and not self.muted and self.mic is not None


def _opus_only(transceiver: RTCRtpTransceiver) -> None:
    codecs = RTCRtpSender.getCapabilities("audio").codecs
    transceiver.setCodecPreferences([c for c in codecs if c.mimeType.lower() == OPUS_MIME])


class Router:
    """The audio of one live Space. All methods run on the event loop and never block it.

    Public API (plain data in and out):
        router = Router(room_id, config, on_levels)
        answer_sdp = await router.connect_speaker(peer_id, offer_sdp, muted=False)
        answer_sdp = await router.connect_listener(peer_id, offer_sdp)  # listeners and guests
        await router.set_muted(peer_id, True)  -> bool (False: peer not in the room)
        await router.set_role(peer_id, "listener" | "speaker")  -> bool
        await router.disconnect(peer_id)  -> bool
        router.levels()  -> {peer_id: 0..1} for speakers;  router.stats()  -> dict
        router.add_listener_tap(tap)  # e.g. the HLS publisher: fed the listener mix every tick
        router.add_recording_tap(tap)  # fed the recording mix: the speakers who are recorded
        await router.remove_recording_taps()  # the recording was taken down: stop writing it
        await router.set_recorded(peer_id, False)  -> bool (left out of the recording from now)
        await router.close()

    Offers must be audio only and include Opus (OfferError otherwise); the SDP answer carries
    every candidate (no trickle). Connecting again with the same peer_id replaces the earlier
    connection: that is how a promoted listener starts publishing (connect_speaker with a new
    offer) and how a client recovers from a network change. A listener's offer is answered
    sendonly whatever it asks (inactive if it only offers to send): nothing it sends is read.
    A speaker's first audio section it sends on is its microphone and the first it receives on
    carries its mix-minus (one sendrecv section or two one-way sections both work).
    on_levels({peer_id: level}) is called at most once per config.levels_interval, and only
    when the rounded levels changed; it must not block (schedule work, do not await it).
    The recording mix is the listener mix while every mixed speaker is recorded (no second mix);
    once one is not (`set_recorded(peer_id, False)`, or `recorded=False` when connecting), it
    is mixed a second time without them, for the recording taps only.
    Listeners' packets are 20 ms, or 60 ms while the room is large (config.listener_packet_*);
    stats() says which, and how often it switched.
    """

    def __init__(
        self,
        room_id: str,
        config: MediaConfig | None = None,
        on_levels: LevelsCallback | None = None,
        *,
        on_closed: Callable[[Router], None] | None = None,
    ) -> None:
        self.room_id = room_id
        self.config = config or MediaConfig()
        self._on_levels = on_levels
        self._on_closed = on_closed
        self._peers: dict[str, _Peer] = {}
        self._joining: dict[str, _Peer] = {}
        self._background: set[asyncio.Task[Any]] = set()
        self._clock: asyncio.Task[None] | None = None
        self._listener_encoder: OpusEncoder | None = None
        self._packet_ms = self.config.listener_packet_ms or SHORT_PACKET_MS
        self._ticks_per_packet = self._packet_ms * SAMPLE_RATE // 1000 // FRAME_SAMPLES
        self._packet_switches = 0
        self._crowd_ticks = 0  # how long the crowd has been past the threshold that switches
        # the listener mix's latest ticks, to warm up an encoder for a new packet length
        self._listener_history: deque[np.ndarray] = deque(maxlen=PRIMING_TICKS)
        self._listener_blocks: list[np.ndarray] = []  # mixed ticks waiting for the next packet
        self._listener_timestamp = 0  # RTP timestamp of the first of them
        self._closed = False
        self._levels: dict[str, float] = {}
        self._reported_levels: dict[str, float] | None = None
        self._ticks_per_report = max(1, round(self.config.levels_interval / TICK_SECONDS))
        self._ticks = 0
        self._late_ticks = 0
        self._max_lag = 0.0
        self._tick_seconds = 0.0
        self._max_tick_seconds = 0.0
        self._packets_sent = 0
        self._stage_cache: list[_Peer] | None = None  # speakers among the peers, see _stage()
        self._taps: list[ListenerTap] = []
        self._recording_taps: list[ListenerTap] = []
        self._second_mixes = 0  # ticks that needed a recording mix apart from the listener mix

    # -- joining and leaving -------------------------------------------------------------------

    async def connect_speaker(
        self, peer_id: str, offer_sdp: str, *, muted: bool = False, recorded: bool = True
    ) -> str:
        """Answer a speaker's offer: their microphone is mixed; they hear all but themselves.

        Pass `muted` (and `recorded`) from the room's records: a reconnecting speaker starts
        from them.
        """
        return await self._connect(
            peer_id, offer_sdp, role="speaker", muted=muted, recorded=recorded
        )

    async def connect_listener(self, peer_id: str, offer_sdp: str) -> str:
        """Answer a listener's or guest's offer: they hear the room and are never heard."""
        return await self._connect(peer_id, offer_sdp, role="listener", muted=False)

    async def disconnect(self, peer_id: str) -> bool:
        """Close the peer's connection and everything attached to it; False if not present."""
        peer = self._peers.pop(peer_id, None)
        self._stage_cache = None
        joining = self._joining.pop(peer_id, None)
        for gone in (peer, joining):
            if gone is not None:
                await self._teardown(gone)
        return peer is not None or joining is not None

    async def close(self) -> None:
        """End the room's audio: stop the clock and close every peer connection."""
        if self._closed:
            return
        self._closed = True
        if self._clock is not None:
            self._clock.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._clock
            self._clock = None
        peers = [*self._peers.values(), *self._joining.values()]
        self._peers.clear()
        self._stage_cache = None
        self._joining.clear()
        await asyncio.gather(*(self._teardown(peer) for peer in peers))
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)
        self._listener_encoder = None
        taps, self._taps = [*self._taps, *self._recording_taps], []
        self._recording_taps = []
        for tap in taps:
            try:
                await tap.close()
            except Exception:
                logger.exception("room %s: closing a listener tap failed", self.room_id)
        if self._on_closed is not None:
            self._on_closed(self)

    @property
    def closed(self) -> bool:
        return self._closed

    def add_listener_tap(self, tap: ListenerTap) -> None:
        """Feed `tap` the listener mix (20 ms mono blocks) every tick; closed with the router."""
        if self._closed:
            raise RouterClosed(self.room_id)
        self._taps.append(tap)

    @property
    def listener_taps(self) -> list[ListenerTap]:
        return list(self._taps)

    def add_recording_tap(self, tap: ListenerTap) -> None:
        """Feed `tap` the recording mix (the recorded speakers only) every tick; closed with
        the router."""
        if self._closed:
            raise RouterClosed(self.room_id)
        self._recording_taps.append(tap)

    @property
    def recording_taps(self) -> list[ListenerTap]:
        return list(self._recording_taps)

    async def remove_recording_taps(self) -> int:
        """Stop feeding the recording taps from the next tick and close them (the recording was
        taken down while live); the listener mix and its taps go on. Returns how many."""
        taps, self._recording_taps = self._recording_taps, []
        for tap in taps:
            try:
                await tap.close()
            except Exception:
                logger.exception("room %s: closing a recording tap failed", self.room_id)
        return len(taps)

    # -- moderation ------------------------------------------------------------------------------

    async def set_muted(self, peer_id: str, muted: bool) -> bool:
        """Stop (or resume) mixing a speaker's audio from the next tick; False if not present."""
        peer = self._find(peer_id)
        if peer is None:
            return False
        peer.muted = muted
        if muted:
            peer.fifo.clear()
        return True

    async def set_role(self, peer_id: str, role: Role) -> bool:
        """Demote (stop mixing, hear the listener mix) or promote; False if not present.

        A promoted peer that joined as a listener has no microphone here yet: it is heard once
        it connects again with connect_speaker.
        """
        if role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}, not {role!r}")
        peer = self._find(peer_id)
        if peer is None:
            return False
        peer.role = role
        self._stage_cache = None
        if role == "listener":
            peer.fifo.clear()
        return True

    async def set_recorded(self, peer_id: str, recorded: bool) -> bool:
        """Keep a speaker in (or out of) the recording mix from the next tick; they are heard
        live either way. False if not present."""
        peer = self._find(peer_id)
        if peer is None:
            return False
        peer.recorded = recorded
        return True

    def recorded(self, peer_id: str) -> bool | None:
        """Whether the peer is in the recording mix (None: not in the room)."""
        peer = self._find(peer_id)
        return None if peer is None else peer.recorded

    # -- reading ---------------------------------------------------------------------------------

    def levels(self) -> dict[str, float]:
        """Latest speaking level of each speaker, 0 (silent, muted) to 1 (full scale)."""
        return dict(self._levels)

    def stats(self) -> dict[str, Any]:
        """Counters for dashboards and benchmarks."""
        peers = list(self._peers.values())
        return {
            "room_id": self.room_id,
            "speakers": sum(1 for p in peers if p.role == "speaker"),
            "listeners": sum(1 for p in peers if p.role == "listener"),
            "mixed": sum(1 for p in peers if p.mixed),
            "joining": len(self._joining),
            "ticks": self._ticks,
            "late_ticks": self._late_ticks,
            "max_tick_lag_ms": round(self._max_lag * 1000, 1),
            "tick_ms_mean": round(1000 * self._tick_seconds / max(self._ticks, 1), 3),
            "tick_ms_max": round(1000 * self._max_tick_seconds, 1),
            "packets_sent": self._packets_sent,
            "listener_packet_ms": self._packet_ms,
            "packet_switches": self._packet_switches,
            "underruns": sum(p.fifo.underruns for p in peers),
            "second_mixes": self._second_mixes,
        }

    def webrtc_listeners(self, besides: str | None = None) -> int:
        """Listeners connected or joining, not counting the peer `besides` (a re-offer)."""
        peers = [*self._peers.values(), *self._joining.values()]
        return sum(1 for p in peers if p.role == "listener" and p.peer_id != besides)

    # -- internals -------------------------------------------------------------------------------

    def _find(self, peer_id: str) -> _Peer | None:
        return self._peers.get(peer_id) or self._joining.get(peer_id)

    async def _connect(
        self, peer_id: str, offer_sdp: str, *, role: Role, muted: bool, recorded: bool = True
    ) -> str:
        if self._closed:
            raise RouterClosed(self.room_id)
        sections = audio_only_sections(offer_sdp)
        hear = next((i for i, s in enumerate(sections) if s.peer_receives), None)
        mic = None
        if role == "speaker":
            mic = next((i for i, s in enumerate(sections) if s.peer_sends), None)

        pc = server_peer_connection(self.config.rtc_configuration())
        peer = _Peer(peer_id, pc, role, muted, recorded=recorded)
        previous = self._joining.pop(peer_id, None)
        self._joining[peer_id] = peer
        if previous is not None:
            self._spawn(self._teardown(previous))
        try:
            transceivers = []
            for index in range(len(sections)):
                sends, receives = index == hear, index == mic
                direction = {
                    (True, True): "sendrecv",
                    (True, False): "sendonly",
                    (False, True): "recvonly",
                }.get((sends, receives), "inactive")
                transceiver = peer.pc.addTransceiver("audio", direction=direction)
                _opus_only(transceiver)
                transceivers.append(transceiver)
            if hear is not None:
                peer.stream = RtpStream(transceivers[hear].sender)
            try:
                await peer.pc.setRemoteDescription(RTCSessionDescription(offer_sdp, "offer"))
            except OperationError as exc:  # no codec in common, i.e. no Opus
                raise OfferError(f"the offer must include Opus audio: {exc}") from exc
            except (ValueError, LookupError) as exc:
                raise OfferError(f"cannot use this offer: {exc}") from exc
            if mic is not None:
                receiver = transceivers[mic].receiver
                shorten_jitter_buffer(receiver)
                peer.mic = receiver.track
            answer = await peer.pc.createAnswer()
            with gather_on(self.config.bind_addresses):
                await peer.pc.setLocalDescription(answer)
            answer_sdp = announce_host_candidates(
                peer.pc.localDescription.sdp, self.config.announce_addresses
            )
        except BaseException as exc:
            current = self._joining.get(peer_id) is peer
            if current:
                del self._joining[peer_id]
            await self._teardown(peer)
            if self._closed:
                raise RouterClosed(self.room_id) from exc
            if not current and isinstance(exc, Exception):
                raise JoinAborted(peer_id) from exc
            raise
        if self._closed or self._joining.get(peer_id) is not peer:
            await self._teardown(peer)
            raise JoinAborted(peer_id)
        del self._joining[peer_id]
        previous = self._peers.pop(peer_id, None)
        self._peers[peer_id] = peer
        self._stage_cache = None
        if previous is not None:
            self._spawn(self._teardown(previous))
        self._start(peer)
        return answer_sdp

    def _start(self, peer: _Peer) -> None:
        loop = asyncio.get_running_loop()

        @peer.pc.on("connectionstatechange")
        def on_state() -> None:
            if peer.pc.connectionState in ("failed", "closed"):
                self._drop_later(peer)

        peer.watchdog = loop.call_later(self.config.connect_timeout, self._check_connected, peer)
        if peer.mic is not None:
            peer.reader = loop.create_task(self._read_mic(peer))
        if self._clock is None:
            self._clock = loop.create_task(self._run_clock())

    def _check_connected(self, peer: _Peer) -> None:
        peer.watchdog = None
        if peer.pc.connectionState != "connected":
            logger.info("room %s: %s did not connect in time", self.room_id, peer.peer_id)
            self._drop_later(peer)

    def _drop_later(self, peer: _Peer) -> None:
        if self._peers.get(peer.peer_id) is peer:
            del self._peers[peer.peer_id]
            self._stage_cache = None
            self._spawn(self._teardown(peer))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _teardown(self, peer: _Peer) -> None:
        if peer.watchdog is not None:
            peer.watchdog.cancel()
            peer.watchdog = None
        if peer.stream is not None:
            peer.stream.detach()
        reader, peer.reader = peer.reader, None
        if reader is not None and reader is not asyncio.current_task():
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
        try:
            await asyncio.wait_for(
                close_peer_connection(peer.pc), timeout=self.config.close_timeout
            )
        except TimeoutError:
            logger.warning("room %s: closing %s timed out", self.room_id, peer.peer_id)
        except Exception:
            logger.exception("room %s: closing %s failed", self.room_id, peer.peer_id)
        peer.mic = None
        peer.stream = None
        peer.encoder = None
        peer.fifo.clear()

    async def _read_mic(self, peer: _Peer) -> None:
        """Decode-side of a speaker: keep their latest audio queued while they are mixed."""
        converter = MonoConverter()
        track = peer.mic
        assert track is not None
        try:
            while True:
                frame = await track.recv()
                # read even when not mixed, so aiortc's queue never grows
                if peer.mixed:
                    peer.fifo.push(converter.convert(frame))
        except MediaStreamError:
            pass

    async def _run_clock(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time()
        while True:
            deadline += TICK_SECONDS
            delay = deadline - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                self._max_lag = max(self._max_lag, -delay)
                if delay < -MAX_LAG_SECONDS:
                    self._late_ticks += 1
                    deadline = loop.time()
                await asyncio.sleep(0)
            started = loop.time()
            try:
                await self._tick()
            except Exception:
                logger.exception("room %s: tick failed", self.room_id)
            spent = loop.time() - started
            self._tick_seconds += spent
            self._max_tick_seconds = max(self._max_tick_seconds, spent)

    def _stage(self) -> list[_Peer]:
        """The speakers among the peers (a dozen at most): a tick need not scan the listeners."""
        if self._stage_cache is None:
            self._stage_cache = [p for p in self._peers.values() if p.role == "speaker"]
        return self._stage_cache

    async def _tick(self) -> None:
        self._ticks += 1
        stage = self._stage()
        contributors: list[_Peer] = []
        blocks = []
        for peer in stage:
            if peer.mixed:
                block = peer.fifo.pop()
                if block is not None:
                    contributors.append(peer)
                    blocks.append(block)
        stacked = np.stack(blocks) if blocks else np.zeros((0, FRAME_SAMPLES), np.int16)
        result = mix(stacked)
        for peer, level in zip(contributors, result.levels, strict=True):
            peer.peak_level = max(peer.peak_level, float(level))
        if self._ticks % self._ticks_per_report == 0:
            self._report_levels(stage)
        if self._taps:
            wall_time = time.time()  # when the block was mixed: its program date-time
            for tap in self._taps:
                tap.feed(result.listener, wall_time)
        if self._recording_taps:
            self._feed_recording(contributors, stacked, result.listener)
        if not self._peers:
            self._listener_blocks.clear()
            self._listener_history.clear()
            return

        timestamp = self._ticks * FRAME_SAMPLES
        ntp_time = ntp_now()
        # a speaker who is heard hears everyone but themselves, from their own encoder, every tick
        rows = {id(peer): row for row, peer in enumerate(contributors)}
        for peer in stage:
            stream = peer.stream
            if not peer.mixed or stream is None or stream.format is None:
                continue
            row = rows.get(id(peer))
            own = result.listener if row is None else result.minus[row]
            if peer.encoder is None:
                peer.encoder = OpusEncoder(self.config.opus_bitrate)
            payload = peer.encoder.encode(own)
            if payload is None:
                continue
            dbov = audio_level_dbov(float(rms_dbfs(own)[0]))
            template = rtp_template(stream.format, payload, dbov)
            if stream.write(
                template, payload_size=len(payload), timestamp=timestamp, ntp_time=ntp_time
            ):
                self._packets_sent += 1
                peer.packets_sent += 1

        # everyone else (listeners, guests, muted speakers) gets the same packet, when one is due
        if not self._listener_blocks:
            self._listener_timestamp = timestamp
            if self.config.listener_packet_ms is None:
                self._follow_crowd(len(self._peers) - len(stage))
        self._listener_blocks.append(result.listener)
        self._listener_history.append(result.listener)
        if len(self._listener_blocks) < self._ticks_per_packet:
            return
        heard = np.concatenate(self._listener_blocks)
        self._listener_blocks.clear()
        if self._listener_encoder is None:
            self._listener_encoder = OpusEncoder(self.config.opus_bitrate, heard.size)
        payload = self._listener_encoder.encode(heard)
        if payload is None:
            return
        dbov = audio_level_dbov(float(rms_dbfs(heard)[0]))
        size, timestamp = len(payload), self._listener_timestamp
        templates: dict[RtpFormat, bytes] = {}
        sent = 0
        # write() never awaits, so the peers cannot change while this loop runs
        for peer in self._peers.values():
            stream = peer.stream
            if stream is None or stream.format is None or (peer.role == "speaker" and peer.mixed):
                continue
            template = templates.get(stream.format)
            if template is None:
                template = templates[stream.format] = rtp_template(stream.format, payload, dbov)
            if stream.write(template, payload_size=size, timestamp=timestamp, ntp_time=ntp_time):
                sent += 1
                peer.packets_sent += 1
        self._packets_sent += sent

    def _feed_recording(
        self, contributors: list[_Peer], stacked: np.ndarray, listener: np.ndarray
    ) -> None:
        """The recording taps get the listener mix, or a second mix without the speakers who
        are not recorded (only on ticks where one of them is heard)."""
        if all(peer.recorded for peer in contributors):
            recorded = listener
        else:
            self._second_mixes += 1
            rows = [row for row, peer in enumerate(contributors) if peer.recorded]
            recorded = recording_mix(stacked, rows)
        wall_time = time.time()
        for tap in self._recording_taps:
            tap.feed(recorded, wall_time)

    def _follow_crowd(self, listeners: int) -> None:
        """At a packet boundary: 60 ms packets from `up_at` listeners on, 20 ms at `down_at`.

        The count must stay past the threshold for a second: a burst of joins or leaves (whose
        handshakes load the loop) is over before the switch, and a blip does not switch at all.
        """
        if self._packet_ms == SHORT_PACKET_MS:
            target = LONG_PACKET_MS if listeners >= self.config.listener_packet_up_at else None
        else:
            target = SHORT_PACKET_MS if listeners <= self.config.listener_packet_down_at else None
        if target is None:
            self._crowd_ticks = 0
            return
        self._crowd_ticks += self._ticks_per_packet
        if self._crowd_ticks >= SWITCH_AFTER_TICKS:
            self._crowd_ticks = 0
            self._switch_packets(target, listeners)

    def _switch_packets(self, packet_ms: int, listeners: int) -> None:
        """Change the listeners' packet length between two packets, without a gap or a click.

        The new encoder first encodes the mix's last ticks (output dropped): its state and
        lookahead then continue the audio the listeners' decoders already have, and the RTP
        timeline runs on unbroken (the next packet starts where the last one ended).
        """
        frame = packet_ms * SAMPLE_RATE // 1000
        encoder = OpusEncoder(self.config.opus_bitrate, frame)
        if self._listener_history:
            history = np.concatenate(self._listener_history)
            usable = history.size // frame * frame
            for chunk in history[history.size - usable :].reshape(-1, frame):
                encoder.encode(chunk)
        self._listener_encoder = encoder
        self._packet_ms = packet_ms
        self._ticks_per_packet = frame // FRAME_SAMPLES
        self._packet_switches += 1
        logger.info(
            "room %s: %d listeners, listener packets now %d ms", self.room_id, listeners, packet_ms
        )

    def _report_levels(self, peers: list[_Peer]) -> None:
        levels = {p.peer_id: round(p.peak_level, 2) for p in peers if p.role == "speaker"}
        for peer in peers:  # the stage
            peer.peak_level = 0.0
        self._levels = levels
        if self._on_levels is None or levels == self._reported_levels:
            return
        self._reported_levels = levels
        try:
            self._on_levels(dict(levels))
        except Exception:
            logger.exception("room %s: levels callback failed", self.room_id)


class RouterRegistry:
    """One router per live Space in this process, created on first use."""

    def __init__(
        self,
        config: MediaConfig | None = None,
        on_levels: Callable[[str, dict[str, float]], None] | None = None,
    ) -> None:
        self.config = config or MediaConfig()
        self._on_levels = on_levels
        self._routers: dict[str, Router] = {}

    def get(self, room_id: str) -> Router:
        """The room's router, created if the room has none (or its last one was closed)."""
        router = self._routers.get(room_id)
        if router is None or router.closed:
            callback = None
            if self._on_levels is not None:
                room_levels = self._on_levels

                def callback(levels: dict[str, float]) -> None:
                    room_levels(room_id, levels)

            router = Router(room_id, self.config, callback, on_closed=self._forget)
            self._routers[room_id] = router
        return router

    def find(self, room_id: str) -> Router | None:
        """The room's router if it has a live one, without creating it."""
        router = self._routers.get(room_id)
        return router if router is not None and not router.closed else None

    async def close(self, room_id: str) -> None:
        """End the room's audio (the Space ended)."""
        router = self._routers.pop(room_id, None)
        if router is not None:
            await router.close()

    async def close_all(self) -> None:
        """End every room's audio (process shutdown)."""
        routers = list(self._routers.values())
        self._routers.clear()
        await asyncio.gather(*(router.close() for router in routers))

    def __len__(self) -> int:
        return len(self._routers)

    def live_routers(self) -> list[Router]:
        return [router for router in self._routers.values() if not router.closed]

    def __contains__(self, room_id: object) -> bool:
        return isinstance(room_id, str) and self.find(room_id) is not None

    def _forget(self, router: Router) -> None:
        if self._routers.get(router.room_id) is router:
            del self._routers[router.room_id]


_registry = RouterRegistry()


def configure(
    config: MediaConfig, on_levels: Callable[[str, dict[str, float]], None] | None = None
) -> RouterRegistry:
    """Set the process-wide registry's configuration; call once at startup, before any join."""
    global _registry
    if len(_registry):
        raise RuntimeError("configure() must run before any room's audio starts")
    _registry = RouterRegistry(config, on_levels)
    return _registry


def registry() -> RouterRegistry:
    """The process-wide registry used by get_router()."""
    return _registry


def get_router(room_id: str) -> Router:
    """The process-wide router of a room, created on first use."""
    return _registry.get(room_id)
