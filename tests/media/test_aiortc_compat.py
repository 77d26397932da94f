"""The pieces that reach into aiortc and aioice internals, checked against the pinned versions."""

import asyncio
import time
from importlib.metadata import version

import aioice.ice
import numpy as np
import pytest
from aiortc import MediaStreamTrack, RTCPeerConnection
from aiortc.codecs.opus import OpusEncoder
from aiortc.jitterbuffer import JitterBuffer
from aiortc.mediastreams import MediaStreamError
from aiortc.rtcrtpparameters import (
    RTCRtpCodecParameters,
    RTCRtpHeaderExtensionParameters,
    RTCRtpParameters,
    RTCRtpReceiveParameters,
    RTCRtpSendParameters,
)
from aiortc.rtcrtpreceiver import RemoteStreamTrack
from aiortc.rtp import HeaderExtensionsMap, RtpPacket
from av.audio.frame import AudioFrame
from OpenSSL import SSL

from rooms.media import MediaConfig, Router
from rooms.media import aiortc_compat as compat
from rooms.media.mixer import FRAME_SAMPLES, SAMPLE_RATE

from .audio_peers import TIME_BASE, AudioClient, eventually


def test_pinned_versions_are_the_installed_ones():
    assert version("aiortc") == compat.AIORTC_VERSION == "1.16.0"
    assert version("aioice") == compat.AIOICE_VERSION == "0.13.0"


async def test_host_candidates_are_gathered_only_where_configured():
    pc = RTCPeerConnection(MediaConfig.loopback().rtc_configuration())
    pc.addTransceiver("audio")
    started = time.monotonic()
    with compat.gather_on(["127.0.0.1"]):
        await pc.setLocalDescription(await pc.createOffer())
    took = time.monotonic() - started
    candidates = [
        line.split()[4:8:3]
        for line in pc.localDescription.sdp.splitlines()
        if line.startswith("a=candidate:")
    ]
    await pc.close()
    assert candidates == [["127.0.0.1", "host"]]  # no server-reflexive: no STUN server asked
    assert took < 1.0


async def test_outside_gather_on_aioice_chooses_as_usual():
    with compat.gather_on(["127.0.0.1"]):
        assert aioice.ice.get_host_addresses(True, True) == ["127.0.0.1"]
        assert aioice.ice.get_host_addresses(False, True) == []
    assert "127.0.0.1" not in aioice.ice.get_host_addresses(True, True)
    with compat.gather_on([]):
        assert "127.0.0.1" not in aioice.ice.get_host_addresses(True, True)


def test_templates_become_valid_rtp_for_each_peer():
    fmt = compat.RtpFormat(payload_type=111, mid="0", mid_id=4, audio_level_id=1)
    template = compat.rtp_template(fmt, b"opus-payload", audio_level_dbov=30)
    first = compat.stamp(template, marker=True, sequence=65_535, timestamp=2**32 + 5, ssrc=7)
    later = compat.stamp(template, marker=False, sequence=0, timestamp=960, ssrc=7)

    extensions = HeaderExtensionsMap()
    extensions.configure(
        RTCRtpParameters(
            headerExtensions=[
                RTCRtpHeaderExtensionParameters(id=4, uri=compat.MID_URI),
                RTCRtpHeaderExtensionParameters(id=1, uri=compat.AUDIO_LEVEL_URI),
            ]
        )
    )
    packet = RtpPacket.parse(first, extensions)
    assert (packet.payload_type, packet.sequence_number, packet.timestamp, packet.ssrc) == (
        111,
        65_535,
        5,
        7,
    )
    assert packet.marker == 1 and packet.payload == b"opus-payload"
    assert packet.extensions.mid == "0"
    assert packet.extensions.audio_level == (True, 30)
    packet = RtpPacket.parse(later, extensions)
    assert (packet.marker, packet.sequence_number, packet.timestamp) == (0, 0, 960)
    assert RtpPacket.parse(template, extensions).sequence_number == 0  # template untouched


async def test_parked_track_waits_until_stopped():
    track = compat.ParkedTrack()
    waiting = asyncio.ensure_future(track.recv())
    await asyncio.sleep(0.05)
    assert not waiting.done()
    track.stop()
    with pytest.raises(MediaStreamError):
        await waiting


async def test_speaker_receivers_decode_without_waiting_for_four_frames():
    pc = RTCPeerConnection()
    receiver = pc.addTransceiver("audio").receiver
    assert compat.jitter_buffer_prefetch(receiver) == 4  # aiortc's default: 80 ms
    compat.shorten_jitter_buffer(receiver)
    assert compat.jitter_buffer_prefetch(receiver) == 0
    await pc.close()
    with pytest.raises(RuntimeError):
        compat.shorten_jitter_buffer(object())  # type: ignore[arg-type]


@pytest.mark.media
async def test_shared_packets_keep_the_senders_reports_truthful(media_config, monkeypatch):
    monkeypatch.setattr(compat, "SENDER_REPORT_INTERVAL", 0.5)  # 0.25-0.75 s apart
    room = Router("reports", media_config)
    listener = AudioClient(media_config)
    try:
        await listener.join(room, "listener")
        await asyncio.sleep(2.0)
        (peer,) = room._peers.values()
        sender = peer.stream._sender
        sent = (await sender.getStats())[f"outbound-rtp_{id(sender)}"].packetsSent
        counted = peer.packets_sent
        received = await listener.pc.getReceivers()[0].getStats()
        inbound = next(s for s in received.values() if s.type == "inbound-rtp")
        reported = next(s for s in received.values() if s.type == "remote-outbound-rtp")
    finally:
        await listener.close()
        await room.close()
    assert sent >= 80 and sent == counted
    assert inbound.packetsReceived >= sent - 2 and inbound.packetsLost == 0
    assert 0 < reported.packetsSent <= sent  # from the sender's RTCP report


async def test_closing_during_the_handshake_stops_late_started_senders():
    pc = RTCPeerConnection()
    sender = pc.addTransceiver("audio", direction="sendonly").sender
    await pc.close()
    # what aiortc's connect task does when DTLS completes while close() is running
    parameters = RTCRtpSendParameters(
        codecs=[RTCRtpCodecParameters(mimeType="audio/opus", clockRate=48000, payloadType=111)],
        muxId="0",
    )
    await sender.send(parameters)
    assert running_rtcp(sender)
    await compat.close_peer_connection(pc)
    assert not running_rtcp(sender)


def running_rtcp(sender):
    task = sender._RTCRtpSender__rtcp_task
    return task is not None and not task.done()


def test_rtp_stream_refuses_a_sender_it_does_not_know():
    class Stranger:
        pass

    with pytest.raises(RuntimeError, match="re-check aiortc_compat"):
        compat.RtpStream(Stranger())  # type: ignore[arg-type]


# --- a speaker's packets, released as they arrive ---------------------------------------------


def opus_packet(sequence, *, ssrc=1234, payload=None):
    """What RTCRtpReceiver hands its jitter buffer: the packet, with its Opus bytes in _data."""
    packet = RtpPacket(
        payload_type=111,
        sequence_number=sequence,
        timestamp=(sequence * FRAME_SAMPLES) & 0xFFFFFFFF,
        ssrc=ssrc,
        payload=f"opus-{sequence}".encode() if payload is None else payload,
    )
    packet._data = packet.payload
    return packet


def released(buffer, *packets):
    """The payloads each added packet released at once (None where it released nothing)."""
    out = []
    for packet in packets:
        pli, frame = buffer.add(packet)
        assert pli is False
        out.append(None if frame is None else frame.data)
    return out


def test_each_packet_is_released_as_it_arrives_with_its_timestamp():
    buffer = compat.OpusJitterBuffer()
    for sequence in (4000, 4001, 4002):
        _, frame = buffer.add(opus_packet(sequence))
        assert frame is not None
        assert (frame.data, frame.timestamp) == (f"opus-{sequence}".encode(), sequence * 960)
    assert buffer.dropped == 0


def test_repeated_and_late_packets_are_dropped():
    buffer = compat.OpusJitterBuffer()
    assert released(buffer, *map(opus_packet, (10, 11, 11, 12, 10, 12))) == [
        b"opus-10",
        b"opus-11",
        None,  # a repeat
        b"opus-12",
        None,  # late: 11 and 12 were already decoded
        None,
    ]
    assert buffer.dropped == 3


def test_a_gap_does_not_hold_back_the_next_packet():
    buffer = compat.OpusJitterBuffer()
    assert released(buffer, *map(opus_packet, (10, 13, 14, 11))) == [
        b"opus-10",
        b"opus-13",  # 11 and 12 lost (or late): 13 is decoded now, not after a wait
        b"opus-14",
        None,  # 11 turned up after all: too late
    ]


def test_sequence_numbers_wrap_around_at_65535():
    buffer = compat.OpusJitterBuffer()
    assert released(buffer, *map(opus_packet, (65_534, 65_535, 0, 1, 65_535, 2))) == [
        b"opus-65534",
        b"opus-65535",
        b"opus-0",
        b"opus-1",
        None,  # from before the wrap: late, not a restart
        b"opus-2",
    ]


def test_a_restarted_stream_is_released_and_followed():
    buffer = compat.OpusJitterBuffer()
    before = [opus_packet(sequence) for sequence in (5000, 5001)]
    restarted = [opus_packet(sequence) for sequence in (30, 31, 30)]
    assert released(buffer, *before, *restarted) == [
        b"opus-5000",
        b"opus-5001",
        b"opus-30",  # far behind 5001: a new start, not a late packet
        b"opus-31",
        None,  # and it is followed from there
    ]
    # a new SSRC is a new stream, even when its numbers sit just behind the old one's
    assert released(buffer, opus_packet(20, ssrc=99), opus_packet(21, ssrc=99)) == [
        b"opus-20",
        b"opus-21",
    ]


def test_padding_without_audio_never_reaches_the_decoder():
    # aiortc's Opus decoder takes an empty packet for the end of the stream and fails from then on
    buffer = compat.OpusJitterBuffer()
    assert released(buffer, opus_packet(7), opus_packet(8, payload=b""), opus_packet(9)) == [
        b"opus-7",
        None,
        b"opus-9",
    ]


def spoken_packets(count, *, first_sequence=65_535):
    """`count` consecutive RTP packets of a 440 Hz tone, Opus-encoded as aiortc's sender does."""
    encoder = OpusEncoder()
    packets = []
    for index in range(count):
        frame = tone_frame(index)
        payloads, timestamp = encoder.encode(frame)
        (payload,) = payloads
        packets.append(
            RtpPacket(
                payload_type=111,
                sequence_number=(first_sequence + index) & 0xFFFF,
                timestamp=timestamp,
                ssrc=4321,
                payload=payload,
            )
        )
    return packets


def tone_frame(index):
    n = np.arange(index * FRAME_SAMPLES, (index + 1) * FRAME_SAMPLES)
    wave = 8000 * np.sin(2 * np.pi * 440 * n / SAMPLE_RATE)
    frame = AudioFrame.from_ndarray(wave.astype(np.int16).reshape(1, -1), layout="mono")
    frame.sample_rate = SAMPLE_RATE
    frame.pts = index * FRAME_SAMPLES
    frame.time_base = TIME_BASE
    return frame


async def test_a_speakers_packet_is_decoded_without_waiting_for_the_next():
    opus = RTCRtpCodecParameters(
        mimeType="audio/opus", clockRate=SAMPLE_RATE, channels=2, payloadType=111
    )
    pc = RTCPeerConnection()
    stock, ours = (pc.addTransceiver("audio").receiver for _ in range(2))
    # the shortest aiortc's own buffer goes (what this module installed before)
    setattr(stock, compat._JITTER_BUFFER, JitterBuffer(capacity=8, prefetch=1))
    compat.shorten_jitter_buffer(ours)
    first, second = spoken_packets(2)
    try:
        for receiver in (stock, ours):
            receiver._track = RemoteStreamTrack(kind="audio")  # as setRemoteDescription() does
            await receiver.receive(RTCRtpReceiveParameters(codecs=[opus]))
            await receiver._handle_rtp_packet(first, arrival_time_ms=0)

        frame = await asyncio.wait_for(ours.track.recv(), 1.0)
        assert (frame.samples, frame.pts) == (FRAME_SAMPLES, 0)
        # aiortc's buffer keeps that packet until the next one proves its frame complete
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(stock.track.recv(), 0.2)

        for receiver in (stock, ours):
            await receiver._handle_rtp_packet(second, arrival_time_ms=20)
        assert (await asyncio.wait_for(stock.track.recv(), 1.0)).pts == 0  # 20 ms late
        assert (await asyncio.wait_for(ours.track.recv(), 1.0)).pts == FRAME_SAMPLES
    finally:
        await compat.close_peer_connection(pc)


class MicrophoneOnCue(MediaStreamTrack):
    """A speaker's microphone that says one 20 ms frame each time the test cues it."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self.cues: asyncio.Queue[None] = asyncio.Queue()
        self._index = 0

    async def recv(self) -> AudioFrame:
        await self.cues.get()
        self._index += 1
        return tone_frame(self._index - 1)


@pytest.mark.media
async def test_the_router_hears_a_speakers_first_packet_before_a_second_is_sent(
    router, make_client
):
    speaker = make_client(direction="sendrecv")
    microphone = MicrophoneOnCue()
    speaker.pc.getTransceivers()[0].sender.replaceTrack(microphone)
    await speaker.join(router, "speaker", role="speaker")
    peer = router._peers["speaker"]
    (receiver,) = peer.pc.getReceivers()
    # the router's receiver must be listening, or the single packet would be discarded
    assert await eventually(lambda: receiver._RTCRtpReceiver__started, within=3.0)

    microphone.cues.put_nowait(None)
    # one packet sent and nothing after it, yet its 20 ms are decoded and queued for the mix
    assert await eventually(lambda: len(peer.fifo) == FRAME_SAMPLES, within=2.0)


def count_reports(client: AudioClient) -> list[str]:
    """The RTCP packet types a client's receiver gets from the router, in order."""
    seen: list[str] = []
    receiver = client.pc.getReceivers()[0]
    handle = receiver._handle_rtcp_packet

    async def noted(packet):
        seen.append(type(packet).__name__)
        await handle(packet)

    receiver._handle_rtcp_packet = noted
    return seen


@pytest.mark.media
@pytest.mark.parametrize("interval, most", [(0.2, None), (compat.SENDER_REPORT_INTERVAL, 0)])
async def test_sender_reports_go_out_at_the_rfc_interval_and_bye_at_the_end(
    media_config, monkeypatch, interval, most
):
    monkeypatch.setattr(compat, "SENDER_REPORT_INTERVAL", interval)
    room = Router("report-rate", media_config)
    listener = AudioClient(media_config)
    try:
        await listener.join(room, "listener")
        seen = count_reports(listener)
        await asyncio.sleep(2.0)
        reports = seen.count("RtcpSrPacket")
        if most is None:  # 0.1-0.3 s apart: several in 2 s
            assert reports >= 5
        else:  # the real interval: none in the first 2 s (the first is 2.5-7.5 s in)
            assert reports <= most
        await room.disconnect("listener")
        await eventually(lambda: "RtcpByePacket" in seen)
        assert "RtcpByePacket" in seen
    finally:
        await listener.close()
        await room.close()


def fingerprint(sdp: str) -> str:
    return next(line for line in sdp.splitlines() if line.startswith("a=fingerprint:"))


@pytest.mark.media
async def test_server_connections_share_one_certificate_and_one_lean_ssl_context(media_config):
    room = Router("certificate", media_config)
    listeners = [AudioClient(media_config) for _ in range(2)]
    try:
        answers = [await x.join(room, f"listener-{i}") for i, x in enumerate(listeners)]
        assert fingerprint(answers[0]) == fingerprint(answers[1])
        client_offers = [x.pc.localDescription.sdp for x in listeners]
        assert fingerprint(client_offers[0]) != fingerprint(client_offers[1])  # aiortc's own
        contexts = {
            id(peer.pc.getTransceivers()[0].sender.transport._ssl.get_context())
            for peer in room._peers.values()
        }
        assert len(contexts) == 1
        (context,) = compat.shared_certificate()._contexts.values()
        mode = SSL._lib.SSL_CTX_set_mode(context._context, 0)  # adds nothing, returns the mode
        assert mode & SSL.MODE_RELEASE_BUFFERS
    finally:
        for x in listeners:
            await x.close()
        await room.close()


def test_the_shared_certificate_is_renewed_when_old(monkeypatch):
    first = compat.shared_certificate()
    assert compat.shared_certificate() is first
    monkeypatch.setattr(compat, "CERTIFICATE_LIFETIME", 0.0)
    renewed = compat.shared_certificate()
    assert renewed is not first
    assert renewed.getFingerprints()[0].value != first.getFingerprints()[0].value
