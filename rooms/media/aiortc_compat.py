"""Every reach into aiortc and aioice internals, pinned to the exact versions it was read from.

Why each piece exists:
- `gather_on()`: aioice gathers host candidates on every non-loopback interface and has no
  option to choose them; a server must use its configured addresses (127.0.0.1 in tests).
- `RtpStream`: aiortc runs one encoder and one RTP task per sender. A room encodes each mix once
  and its single fan-out loop writes the same Opus payload into every peer's RTP stream; the
  sender's own loop is parked, while its RTCP keeps working: receiver reports as aiortc reads
  them, sender reports from `send_reports()` every 5 s (RFC 3550's minimum) instead of every
  second, which with a thousand listeners saves a tenth of the router's core.
- `shorten_jitter_buffer()`: aiortc holds a speaker's audio 4 frames (80 ms) before decoding,
  and any buffer of its kind holds at least one more packet, waiting for the next timestamp to
  prove a frame complete. An Opus packet is always a whole frame, so `OpusJitterBuffer` hands
  each packet to the decoder as it arrives; the router's own small buffer absorbs the jitter.
- `server_peer_connection()`: aiortc makes a DTLS certificate, and an OpenSSL context holding
  its read and write buffers, for every connection; a server shares one certificate (renewed
  daily) and one context whose buffers are released while idle (SRTP never passes through them).
- `close_peer_connection()`: closing a peer connection while its DTLS handshake finishes can
  start senders and receivers after they were stopped, leaking their tasks and the connection.

Upgrading aiortc or aioice means re-reading the code these rely on (named in each docstring)
and updating the pinned versions; `tests/media/test_aiortc_compat.py` covers every piece.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import random
import struct
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import lru_cache, partial
from importlib.metadata import version
from typing import Any

import aioice.ice
import aiortc
from aioice.ice import CandidatePair, StunProtocol
from aiortc import (
    MediaStreamTrack,
    RTCPeerConnection,
    RTCRtpCodecParameters,
    RTCRtpParameters,
    RTCRtpReceiver,
    RTCRtpSender,
)
from aiortc.clock import current_ntp_time
from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.mediastreams import MediaStreamError
from aiortc.rtcdtlstransport import RTCCertificate, RTCDtlsTransport
from aiortc.rtcdtlstransport import State as DtlsState
from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpSendParameters
from aiortc.rtp import (
    HeaderExtensionsMap,
    RtcpByePacket,
    RtcpSdesPacket,
    RtcpSenderInfo,
    RtcpSourceInfo,
    RtcpSrPacket,
    RtpPacket,
)
from aiortc.utils import random16, random32, uint16_add
from OpenSSL import SSL

AIORTC_VERSION = "1.16.0"
AIOICE_VERSION = "0.13.0"

if aiortc.__version__ != AIORTC_VERSION or version("aioice") != AIOICE_VERSION:
    raise ImportError(
        f"rooms.media.aiortc_compat was written against aiortc {AIORTC_VERSION} and aioice "
        f"{AIOICE_VERSION}; found aiortc {aiortc.__version__}, aioice {version('aioice')}. "
        "Re-check the internals listed in this module before changing the pins."
    )

logger = logging.getLogger(__name__)

MID_URI = "urn:ietf:params:rtp-hdrext:sdes:mid"
AUDIO_LEVEL_URI = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
OPUS_MIME = "audio/opus"
SPEECH_DBOV = 60  # RFC 6465 voice-activity flag: set when the block is louder than -60 dBov

# ---------------------------------------------------------------------------------------------
# Host candidates: aioice.ice.Connection.gather_candidates() calls the module-level
# aioice.ice.get_host_addresses(use_ipv4, use_ipv6), which skips 127.0.0.1 and offers no option.
# The wrapper answers from a context variable and defers to aioice when it is unset, so only
# peer connections negotiated inside gather_on() are affected.
# ---------------------------------------------------------------------------------------------

_bind_addresses: ContextVar[tuple[str, ...] | None] = ContextVar(
    "spaces_media_bind_addresses", default=None
)
_aioice_get_host_addresses: Callable[[bool, bool], list[str]] = getattr(
    aioice.ice.get_host_addresses, "__wrapped__", aioice.ice.get_host_addresses
)


def _get_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    chosen = _bind_addresses.get()
    if chosen is None:
        return _aioice_get_host_addresses(use_ipv4, use_ipv6)
    return [
        address
        for address in chosen
        if (use_ipv4 if ipaddress.ip_address(address).version == 4 else use_ipv6)
    ]


_get_host_addresses.__wrapped__ = _aioice_get_host_addresses  # type: ignore[attr-defined]


def _install_host_addresses() -> None:
    if aioice.ice.get_host_addresses is not _get_host_addresses:
        aioice.ice.get_host_addresses = _get_host_addresses


@contextmanager
def gather_on(addresses: Sequence[str] | None) -> Iterator[None]:
    """Gather host candidates only on `addresses` for calls made inside this block.

    Wrap `setLocalDescription()` (where aiortc gathers) in it. Empty or None keeps aioice's
    own choice of every non-loopback interface.
    """
    _install_host_addresses()
    token = _bind_addresses.set(tuple(addresses) if addresses else None)
    try:
        yield
    finally:
        _bind_addresses.reset(token)


# ---------------------------------------------------------------------------------------------
# Shared-payload RTP: RTCRtpSender._run_rtp (aiortc 1.16) awaits track.recv() and encodes or
# packs what it gets. RtpStream parks it on a track that never yields, learns the negotiated
# parameters by observing RTCRtpSender.send(), and writes packets the way
# RTCDtlsTransport._send_rtp does (its SRTP session `_tx_srtp`, then the ICE connection's
# nominated pair), keeping the sender's and transport's counters current so RTCP sender
# reports and getStats() stay truthful.
# ---------------------------------------------------------------------------------------------

_SENDER_COUNTERS = (
    "_RTCRtpSender__ntp_timestamp",
    "_RTCRtpSender__rtp_timestamp",
    "_RTCRtpSender__octet_count",
    "_RTCRtpSender__packet_count",
)


class ParkedTrack(MediaStreamTrack):
    """Handed to a sender so that its own RTP loop waits, idle, until the sender stops."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._ended = asyncio.Event()

    async def recv(self) -> Any:
        await self._ended.wait()
        raise MediaStreamError

    def stop(self) -> None:
        super().stop()
        self._ended.set()


@dataclass(frozen=True, slots=True)
class RtpFormat:
    """What differs between peers' RTP headers besides SSRC, sequence and timestamp."""

    payload_type: int
    mid: str | None
    mid_id: int | None
    audio_level_id: int | None


@lru_cache(maxsize=64)
def _extensions_map(mid_id: int | None, audio_level_id: int | None) -> HeaderExtensionsMap:
    extensions = []
    if mid_id:
        extensions.append(RTCRtpHeaderExtensionParameters(id=mid_id, uri=MID_URI))
    if audio_level_id:
        extensions.append(RTCRtpHeaderExtensionParameters(id=audio_level_id, uri=AUDIO_LEVEL_URI))
    extensions_map = HeaderExtensionsMap()
    extensions_map.configure(RTCRtpParameters(headerExtensions=extensions))
    return extensions_map


def rtp_template(fmt: RtpFormat, payload: bytes, audio_level_dbov: int | None) -> bytes:
    """A serialized RTP packet with zero sequence, timestamp and SSRC, patched per peer."""
    packet = RtpPacket(payload_type=fmt.payload_type, payload=payload)
    packet.extensions.mid = fmt.mid
    if audio_level_dbov is not None:
        packet.extensions.audio_level = (audio_level_dbov < SPEECH_DBOV, audio_level_dbov)
    return packet.serialize(_extensions_map(fmt.mid_id, fmt.audio_level_id))


def ntp_now() -> int:
    """The 64-bit NTP time RTCP sender reports carry (aiortc.clock)."""
    return current_ntp_time()


def stamp(template: bytes, *, marker: bool, sequence: int, timestamp: int, ssrc: int) -> bytes:
    """Fill in one peer's header fields (RFC 3550 section 5.1 layout) on a template's copy."""
    packet = bytearray(template)
    if marker:
        packet[1] |= 0x80
    struct.pack_into("!HLL", packet, 2, sequence & 0xFFFF, timestamp & 0xFFFFFFFF, ssrc)
    return bytes(packet)


_relayed: set[asyncio.Task[None]] = set()  # sends through TURN still under way

# RTCRtpSender._run_rtcp (aiortc 1.16) sends a sender report every 0.5-1.5 s. RFC 3550 section
# 6.2 sets 5 s as the minimum interval; with a thousand listeners, aiortc's rate cost a tenth of
# the router's core. send_reports() is the same loop at 5 s (randomised 0.5-1.5 times).
SENDER_REPORT_INTERVAL = 5.0
_SENDER_RTCP_STATE = (
    "_RTCRtpSender__rtcp_started",
    "_RTCRtpSender__rtcp_exited",
    "_RTCRtpSender__lsr",
    "_RTCRtpSender__lsr_time",
)


async def send_reports(sender: RTCRtpSender) -> None:
    """RTCP for a sender the fan-out writes: sender report and SDES, then BYE when stopped."""
    state = vars(sender)
    state["_RTCRtpSender__rtcp_started"].set()
    try:
        while True:
            spread = 0.5 + random.random()  # noqa: S311 - timing jitter, not a secret
            await asyncio.sleep(SENDER_REPORT_INTERVAL * spread)
            ntp_timestamp = state["_RTCRtpSender__ntp_timestamp"]
            packets: list[Any] = [
                RtcpSrPacket(
                    ssrc=sender._ssrc,
                    sender_info=RtcpSenderInfo(
                        ntp_timestamp=ntp_timestamp,
                        rtp_timestamp=state["_RTCRtpSender__rtp_timestamp"],
                        packet_count=state["_RTCRtpSender__packet_count"] & 0xFFFFFFFF,
                        octet_count=state["_RTCRtpSender__octet_count"] & 0xFFFFFFFF,
                    ),
                )
            ]
            # what a receiver report's "last SR" refers back to, for round-trip times
            state["_RTCRtpSender__lsr"] = (ntp_timestamp >> 16) & 0xFFFFFFFF
            state["_RTCRtpSender__lsr_time"] = time.time()
            cname = state.get("_RTCRtpSender__cname")
            if cname is not None:
                source = RtcpSourceInfo(ssrc=sender._ssrc, items=[(1, cname.encode("utf8"))])
                packets.append(RtcpSdesPacket(chunks=[source]))
            await sender._send_rtcp(packets)
    except asyncio.CancelledError:
        pass
    await sender._send_rtcp([RtcpByePacket(sources=[sender._ssrc])])
    state["_RTCRtpSender__rtcp_exited"].set()


class RtpStream:
    """One peer's outbound audio, written by the room's fan-out loop instead of by aiortc."""

    def __init__(self, sender: RTCRtpSender) -> None:
        for name in (*_SENDER_COUNTERS, *_SENDER_RTCP_STATE):
            if not hasattr(sender, name):
                raise RuntimeError(f"aiortc RTCRtpSender has no {name}; re-check aiortc_compat")
        self._sender: RTCRtpSender | None = sender
        self._track = ParkedTrack()
        sender.replaceTrack(self._track)
        self.format: RtpFormat | None = None
        self._sequence = random16() % 32768  # lower half, as aiortc: no early wrap under SRTP
        self._timestamp_origin = random32()
        self.packets_sent = 0
        self._pair: CandidatePair | None = None
        self._address: tuple[str, int] = ("", 0)
        self._sendto: Callable[[bytes, tuple[str, int]], None] | None = None
        self._dtls: RTCDtlsTransport | None = None  # set once negotiated
        self._nominated: dict[int, CandidatePair] = {}  # the ICE connection's chosen pairs
        send = sender.send

        async def observed_send(parameters: RTCRtpSendParameters) -> None:
            await send(parameters)
            self._negotiated(parameters)

        sender.send = observed_send  # type: ignore[method-assign]
        sender._run_rtcp = partial(send_reports, sender)  # type: ignore[method-assign]

    def _negotiated(self, parameters: RTCRtpSendParameters) -> None:
        codec: RTCRtpCodecParameters = parameters.codecs[0]
        if codec.mimeType.lower() != OPUS_MIME:
            logger.warning("peer negotiated %s, not Opus: sending it nothing", codec.mimeType)
            return
        if self._sender is None:  # detached while negotiating
            return
        # the transports are settled once the sender runs (bundling happens before)
        self._dtls = self._sender.transport
        self._nominated = self._dtls.transport._connection._nominated
        ids = {extension.uri: extension.id for extension in parameters.headerExtensions}
        self.format = RtpFormat(
            payload_type=codec.payloadType,
            mid=parameters.muxId,
            mid_id=ids.get(MID_URI),
            audio_level_id=ids.get(AUDIO_LEVEL_URI),
        )

    @property
    def ready(self) -> bool:
        """Negotiated and connected: packets written now reach the peer."""
        dtls = self._dtls
        return dtls is not None and dtls._state is DtlsState.CONNECTED

    def write(self, template: bytes, *, payload_size: int, timestamp: int, ntp_time: int) -> bool:
        """Send one packet made from `template`; False if the peer cannot take it now.

        Synchronous: the fan-out calls it for every listener every tick, and a coroutine per
        packet would be a measurable share of that loop. Through a TURN relay, whose first
        packet to an address may have to bind a channel, the send is a task (tasks start in
        the order they were created, so packets stay in order).
        """
        sender, dtls = self._sender, self._dtls
        if sender is None or dtls is None:
            return False
        # the nominated ICE pair, as aioice's Connection.sendto() would look it up
        pair = self._nominated.get(1)
        if dtls._state is not DtlsState.CONNECTED or pair is None:
            return False  # not connected yet (or any more)
        rtp_timestamp = (self._timestamp_origin + timestamp) & 0xFFFFFFFF
        packet = stamp(
            template,
            marker=self.packets_sent == 0,
            sequence=self._sequence,
            timestamp=rtp_timestamp,
            ssrc=sender._ssrc,
        )
        # what RTCDtlsTransport._send_rtp does (SRTP, then ICE), minus four coroutine layers
        # per packet: the fan-out calls this for every listener every 20 ms
        protected = dtls._tx_srtp.protect(packet)
        if pair is not self._pair:
            self._pair, self._address = pair, pair.remote_addr
            # a host or server-reflexive socket sends directly; a TURN allocation may await
            self._sendto = (
                pair.protocol.transport.sendto if type(pair.protocol) is StunProtocol else None
            )
        if self._sendto is not None:
            self._sendto(protected, self._address)
        else:
            task = asyncio.get_running_loop().create_task(
                pair.protocol.send_data(protected, self._address)
            )
            _relayed.add(task)
            task.add_done_callback(_relayed.discard)
        dtls._RTCDtlsTransport__tx_bytes += len(protected)
        dtls._RTCDtlsTransport__tx_packets += 1
        self._sequence = (self._sequence + 1) & 0xFFFF
        self.packets_sent += 1
        # keep RTCRtpSender's RTCP sender reports and getStats() in step with what we sent
        sender._RTCRtpSender__ntp_timestamp = ntp_time  # type: ignore[attr-defined]
        sender._RTCRtpSender__rtp_timestamp = rtp_timestamp  # type: ignore[attr-defined]
        sender._RTCRtpSender__octet_count += payload_size  # type: ignore[attr-defined]
        sender._RTCRtpSender__packet_count += 1  # type: ignore[attr-defined]
        return True

    def detach(self) -> None:
        """Stop writing and drop the observer, so the sender and this stream can be freed."""
        if self._sender is not None:
            self._sender.__dict__.pop("send", None)
        self._sender = self._dtls = None
        self._nominated = {}
        self._pair = self._sendto = None
        self._track.stop()


# ---------------------------------------------------------------------------------------------
# Speaker latency: RTCRtpReceiver.__init__ (aiortc 1.16) creates
# JitterBuffer(capacity=16, prefetch=4) for audio, and RTCRtpReceiver._handle_rtp_packet only
# calls its add(packet) (after setting packet._data to the depayloaded bytes), sends a PLI if the
# returned flag is set and queues the returned frame, if any, for the decoder thread.
# JitterBuffer._remove_frame releases a frame only once a packet with another timestamp follows
# it, so even JitterBuffer(prefetch=1) keeps every packet waiting 20 ms for the next one.
# ---------------------------------------------------------------------------------------------

_JITTER_BUFFER = "_RTCRtpReceiver__jitter_buffer"
LATE_WINDOW = 100  # packets (2 s) behind the last one released: late or repeated, not a restart


class OpusJitterBuffer(JitterBuffer):
    """Hands each Opus packet to the decoder the moment it arrives, holding none back.

    An Opus RTP packet is always one whole frame (RFC 7587), so there is nothing to reassemble:
    - the next packet, or one after a gap: released at once. The Opus decoder carries on from
      it and the router's SampleFifo rides over the missing 20 ms. Holding packets back in case
      one arrives out of order would delay all this speaker says for every listener, and
      loopback and server links rarely reorder.
    - a repeat, or a packet older than the last one released (up to LATE_WINDOW behind):
      dropped. Its moment has passed, and aiortc's TimestampMapper would take its older
      timestamp for a 32-bit wrap.
    - further behind than that, or from another SSRC: the stream restarted; released, and the
      sequence resyncs on it (a restart that jumps ahead is just a gap).
    - no payload (RTP padding): dropped; an empty packet ends aiortc's Opus decoder for good.
    Sequence numbers compare modulo 2**16, so 0 is simply the packet after 65535.
    """

    def __init__(self) -> None:
        super().__init__(capacity=1, prefetch=0)  # aiortc's packet slots stay unused
        self._ssrc: int | None = None
        self.dropped = 0

    def add(self, packet: RtpPacket) -> tuple[bool, JitterFrame | None]:
        data: bytes = packet._data  # type: ignore[attr-defined]
        sequence = packet.sequence_number
        if not data or (
            self._origin is not None
            and packet.ssrc == self._ssrc
            and 0 < uint16_add(self._origin, -sequence) <= LATE_WINDOW
        ):
            self.dropped += 1
            return False, None
        self._origin = uint16_add(sequence, 1)  # the packet expected next
        self._ssrc = packet.ssrc
        return False, JitterFrame(data=data, timestamp=packet.timestamp)


def shorten_jitter_buffer(receiver: RTCRtpReceiver) -> None:
    """Decode each of a speaker's packets as soon as it arrives; call before media flows."""
    if not isinstance(getattr(receiver, _JITTER_BUFFER, None), JitterBuffer):
        raise RuntimeError(
            "aiortc RTCRtpReceiver has no audio jitter buffer; re-check aiortc_compat"
        )
    setattr(receiver, _JITTER_BUFFER, OpusJitterBuffer())


def jitter_buffer_prefetch(receiver: RTCRtpReceiver) -> int:
    """How many frames the receiver holds back before decoding (for tests)."""
    buffer: JitterBuffer = getattr(receiver, _JITTER_BUFFER)
    return buffer._prefetch


# ---------------------------------------------------------------------------------------------
# DTLS identity: RTCPeerConnection.__init__ (aiortc 1.16) keeps its own
# [RTCCertificate.generateCertificate()] as the private __certificates, and
# RTCDtlsTransport.start() calls the certificate's _create_ssl_context(srtp_profiles) for a new
# SSL.Context per connection.
# ---------------------------------------------------------------------------------------------

CERTIFICATE_LIFETIME = 24 * 3600.0  # seconds before new connections get a new certificate
_CERTIFICATES = "_RTCPeerConnection__certificates"


class SharedCertificate(RTCCertificate):
    """One DTLS certificate and SSL context for many peer connections (as Janus does).

    The context releases its buffers while idle: after the handshake, audio travels as SRTP,
    which never passes through OpenSSL, so each connection would otherwise hold buffers it
    does not use.
    """

    def __init__(self, key: Any, cert: Any) -> None:
        super().__init__(key, cert)
        self.created = time.monotonic()
        self._contexts: dict[tuple[bytes, ...], SSL.Context] = {}

    def _create_ssl_context(self, srtp_profiles: list[Any]) -> SSL.Context:
        profiles = tuple(profile.openssl_profile for profile in srtp_profiles)
        context = self._contexts.get(profiles)
        if context is None:
            context = super()._create_ssl_context(srtp_profiles)
            context.set_mode(SSL.MODE_RELEASE_BUFFERS)
            self._contexts[profiles] = context
        return context


_certificate: SharedCertificate | None = None


def shared_certificate() -> SharedCertificate:
    """This process's DTLS certificate, renewed once it is CERTIFICATE_LIFETIME old."""
    global _certificate
    if _certificate is None or time.monotonic() - _certificate.created > CERTIFICATE_LIFETIME:
        _certificate = SharedCertificate.generateCertificate()
    return _certificate


def server_peer_connection(configuration: Any = None) -> RTCPeerConnection:
    """A peer connection that presents the process's shared DTLS certificate."""
    pc = RTCPeerConnection(configuration)
    if not isinstance(getattr(pc, _CERTIFICATES, None), list):
        raise RuntimeError(
            "aiortc RTCPeerConnection has no certificate list; re-check aiortc_compat"
        )
    setattr(pc, _CERTIFICATES, [shared_certificate()])
    return pc


# ---------------------------------------------------------------------------------------------
# Closing: RTCPeerConnection.close() (aiortc 1.16) stops the transceivers, then the transports,
# awaiting in between. A __connect() task resuming in that window sees DTLS "connected" and
# calls sender.send() / receiver.receive() on the already stopped transceivers, whose RTCP
# tasks (and a receiver's decoder thread) then run forever. Their stop() methods are
# idempotent, so stopping them again after close() ends whatever started late.
# ---------------------------------------------------------------------------------------------


async def close_peer_connection(pc: RTCPeerConnection) -> None:
    """Close a peer connection and everything it started, even during its handshake."""
    await pc.close()
    for transceiver in pc.getTransceivers():
        await transceiver.sender.stop()
        await transceiver.receiver.stop()
