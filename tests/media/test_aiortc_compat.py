"""The pieces that reach into aiortc and aioice internals, checked against the pinned versions."""

import asyncio
import time
from importlib.metadata import version

import aioice.ice
import pytest
from aiortc import RTCPeerConnection
from aiortc.mediastreams import MediaStreamError
from aiortc.rtcrtpparameters import (
    RTCRtpCodecParameters,
    RTCRtpHeaderExtensionParameters,
    RTCRtpParameters,
    RTCRtpSendParameters,
)
from aiortc.rtp import HeaderExtensionsMap, RtpPacket

from rooms.media import MediaConfig, Router
from rooms.media import aiortc_compat as compat

from .audio_peers import AudioClient


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
    assert compat.jitter_buffer_prefetch(receiver) == 1
    await pc.close()
    with pytest.raises(RuntimeError):
        compat.shorten_jitter_buffer(object())  # type: ignore[arg-type]


@pytest.mark.media
async def test_shared_packets_keep_the_senders_reports_truthful(media_config):
    room = Router("reports", media_config)
    listener = AudioClient(media_config)
    try:
        await listener.join(room, "listener")
        await asyncio.sleep(2.0)  # RTCP sender reports go out every 0.5-1.5 s
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
