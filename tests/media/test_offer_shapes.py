"""The shape check an audio offer passes before aiortc sees it (`rooms.media.sdp.check_offer`).

Browsers' offers pass and come out as aiortc reads them; everything else is an OfferError with a
readable reason, and nothing the check lets through makes aiortc's parser raise. No Django here.
"""

import asyncio
import time

import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.sdp import SessionDescription
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rooms.media.sdp import OfferError, OfferLimits, check_offer

FINGERPRINT = ":".join(["AB"] * 32)
LOOPBACK = OfferLimits(candidate_networks=("127.0.0.0/8",))


def offer(*, media: list[str] | None = None, session: list[str] | None = None) -> str:
    """A Chrome-shaped audio offer; `media`/`session` replace those parts."""
    head = session or [
        "v=0",
        "o=- 4611731400430051336 2 IN IP4 127.0.0.1",
        "s=-",
        "t=0 0",
        "a=group:BUNDLE 0",
        "a=extmap-allow-mixed",
        "a=msid-semantic: WMS ",
    ]
    body = media or [
        "m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126",
        "c=IN IP4 0.0.0.0",
        "a=rtcp:9 IN IP4 0.0.0.0",
        "a=candidate:3 1 udp 2122260223 127.0.0.1 50000 typ host generation 0 network-id 1",
        "a=candidate:4 1 tcp 1518280447 127.0.0.1 9 typ host tcptype active generation 0",
        "a=candidate:5 1 udp 2122260223 a1b2c3d4-1234.local 50002 typ host generation 0",
        "a=candidate:6 1 udp 1686052607 8.8.8.8 50004 typ srflx raddr 0.0.0.0 rport 0",
        "a=ice-ufrag:Xy2b",
        "a=ice-pwd:abcdefghijklmnopqrstuvwx",
        "a=ice-options:trickle",
        f"a=fingerprint:sha-256 {FINGERPRINT}",
        "a=setup:actpass",
        "a=mid:0",
        "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level",
        "a=extmap:2/recvonly urn:ietf:params:rtp-hdrext:csrc-audio-level",
        "a=sendrecv",
        "a=msid:- 7d3b6c4e-1111-2222-3333-444455556666",
        "a=rtcp-mux",
        "a=rtcp-rsize",
        "a=rtpmap:111 opus/48000/2",
        "a=rtcp-fb:111 transport-cc",
        "a=fmtp:111 minptime=10;useinbandfec=1",
        "a=rtpmap:63 red/48000/2",
        "a=fmtp:63 111/111",
        "a=rtpmap:9 G722/8000",
        "a=rtpmap:0 PCMU/8000",
        "a=rtpmap:8 PCMA/8000",
        "a=rtpmap:13 CN/8000",
        "a=rtpmap:110 telephone-event/48000",
        "a=rtpmap:126 telephone-event/8000",
        "a=ssrc:1001 cname:abcd",
        "a=ssrc:1001 msid:- 7d3b6c4e-1111-2222-3333-444455556666",
    ]
    return "\r\n".join(head + body) + "\r\n"


def with_line(old: str, new: str | None) -> str:
    """The Chrome offer with one line replaced (or removed when `new` is None)."""
    text = offer()
    assert old in text
    return text.replace(old + "\r\n", "" if new is None else new + "\r\n")


def candidates(sdp: str) -> list[str]:
    return [line.split()[4] for line in sdp.splitlines() if line.startswith("a=candidate:")]


def test_a_browser_offer_passes_and_aiortc_reads_what_comes_out():
    checked = check_offer(offer(), LOOPBACK)
    parsed = SessionDescription.parse(checked)
    (media,) = parsed.media
    assert media.kind == "audio" and media.direction == "sendrecv"
    assert "opus" in [c.mimeType.split("/")[1] for c in media.rtp.codecs]
    assert media.dtls.role == "auto" and media.ice.usernameFragment == "Xy2b"
    # UDP candidates at allowed addresses only: not TCP, not the mDNS name.
    assert candidates(checked) == ["127.0.0.1", "8.8.8.8"]


def test_candidates_at_loopback_private_and_link_local_addresses_are_dropped_by_default():
    lines = [
        f"a=candidate:{n} 1 udp 2122260223 {address} 5000{n} typ host"
        for n, address in enumerate(
            ["127.0.0.1", "10.1.2.3", "192.168.1.9", "169.254.0.7", "fe80::1", "::1", "224.0.0.1"]
        )
    ]
    lines.append("a=candidate:9 1 udp 1686052607 198.51.100.20 40000 typ srflx")  # TEST-NET
    lines.append("a=candidate:8 1 udp 1686052607 8.8.4.4 40000 typ srflx")
    text = offer().replace("a=ice-ufrag:", "\r\n".join(lines) + "\r\na=ice-ufrag:")
    assert candidates(check_offer(text)) == ["8.8.8.8", "8.8.4.4"]
    allowed = OfferLimits(candidate_networks=("10.0.0.0/8", "127.0.0.0/8"))
    # A LAN network allowed: browsers' mDNS names (LAN addresses) are kept too.
    kept = ["127.0.0.1", "a1b2c3d4-1234.local", "8.8.8.8", "127.0.0.1", "10.1.2.3", "8.8.4.4"]
    assert candidates(check_offer(text, allowed)) == kept


def test_candidates_are_capped():
    many = [f"a=candidate:{n} 1 udp 2122260223 8.8.{n}.1 5000 typ host" for n in range(20)]
    text = offer().replace("a=ice-ufrag:", "\r\n".join(many) + "\r\na=ice-ufrag:")
    assert len(candidates(check_offer(text))) == 8
    flood = [f"a=candidate:{n} 1 udp 2122260223 8.8.{n}.1 5000 typ host" for n in range(300)]
    text = offer().replace("a=ice-ufrag:", "\r\n".join(flood) + "\r\na=ice-ufrag:")
    with pytest.raises(OfferError, match="more than"):
        check_offer(text, OfferLimits(max_chars=100_000, max_lines=1_000))


def test_an_offer_with_hundreds_of_m_lines_is_refused_at_once():
    sections = []
    for n in range(300):
        sections += ["m=audio 9 UDP/TLS/RTP/SAVPF 111", f"a=mid:{n}", "a=rtpmap:111 opus/48000/2"]
    text = offer(media=offer().split("\r\n")[7:-1] + sections)
    started = time.perf_counter()
    with pytest.raises(OfferError):
        check_offer(text, OfferLimits(max_chars=1_000_000, max_lines=10_000))
    with pytest.raises(OfferError):
        check_offer(text)
    assert time.perf_counter() - started < 0.05


# Shapes that made aiortc's parser raise (AssertionError, KeyError, ValueError...) before.
M_LINE = "m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126"
HOSTILE = {
    "lower-case profile": (
        "m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126",
        "m=audio 9 udp/tls/rtp/savpf 111",
    ),
    "m-line without formats": (
        "m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126",
        "m=audio 9 UDP/TLS/RTP/SAVPF",
    ),
    "payload type 300": (
        "m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126",
        "m=audio 9 UDP/TLS/RTP/SAVPF 111 300",
    ),
    "payload type 72": (
        "m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126",
        "m=audio 9 UDP/TLS/RTP/SAVPF 111 72",
    ),
    "no a=setup": ("a=setup:actpass", None),
    "unknown setup": ("a=setup:actpass", "a=setup:sideways"),
    "bad direction": ("a=sendrecv", "a=sendrecv:now"),
    "two directions": ("a=sendrecv", "a=sendrecv\r\na=recvonly"),
    "no rtcp-mux": ("a=rtcp-mux", None),
    "no mid": ("a=mid:0", None),
    "c= without address": ("c=IN IP4 0.0.0.0", "c=IN IP4"),
    "c= with a name": ("c=IN IP4 0.0.0.0", "c=IN IP4 example.org"),
    "5-field candidate": (
        "a=candidate:3 1 udp 2122260223 127.0.0.1 50000 typ host generation 0 network-id 1",
        "a=candidate:3 1 udp 2122260223 127.0.0.1",
    ),
    "candidate port not a number": (
        "a=candidate:3 1 udp 2122260223 127.0.0.1 50000 typ host generation 0 network-id 1",
        "a=candidate:3 1 udp 2122260223 127.0.0.1 port typ host",
    ),
    "fingerprint without value": (f"a=fingerprint:sha-256 {FINGERPRINT}", "a=fingerprint:sha-256"),
    "no fingerprint": (f"a=fingerprint:sha-256 {FINGERPRINT}", None),
    "no ICE password": ("a=ice-pwd:abcdefghijklmnopqrstuvwx", None),
    "rtpmap without clock": ("a=rtpmap:111 opus/48000/2", "a=rtpmap:111 opus"),
    "no Opus": ("a=rtpmap:111 opus/48000/2", "a=rtpmap:111 speex/48000"),
    "fmtp for an unknown format": ("a=fmtp:111 minptime=10;useinbandfec=1", "a=fmtp:99 x=1"),
    "fmtp with a non-number": ("a=fmtp:111 minptime=10;useinbandfec=1", "a=fmtp:111 minptime=ten"),
    "extmap id not a number": (
        "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level",
        "a=extmap:x urn:ietf:params:rtp-hdrext:ssrc-audio-level",
    ),
    "ssrc without attribute": ("a=ssrc:1001 cname:abcd", "a=ssrc:1001"),
    "rtcp port not a number": ("a=rtcp:9 IN IP4 0.0.0.0", "a=rtcp:nine"),
    "video": (
        "m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126",
        "m=video 9 UDP/TLS/RTP/SAVPF 111",
    ),
    "port zero": (
        "m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126",
        "m=audio 0 UDP/TLS/RTP/SAVPF 111",
    ),
    "binary": ("a=mid:0", "a=mid:\x00\x01"),
}


@pytest.mark.parametrize("shape", sorted(HOSTILE))
def test_malformed_shapes_are_refused_with_a_reason(shape):
    old, new = HOSTILE[shape]
    with pytest.raises(OfferError) as refused:
        check_offer(with_line(old, new), LOOPBACK)
    assert str(refused.value)


def test_two_media_sections_are_refused():
    text = offer() + "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n"
    with pytest.raises(OfferError, match="one audio"):
        check_offer(text, LOOPBACK)


LINES = offer().split("\r\n")[:-1]
TOKENS = st.sampled_from(
    ["0", "-1", "300", "72", "audio", "video", "IN", "IP4", "IP6", "::1", "127.0.0.1", "x", ":",
     "/", "typ", "host", "udp", "sha-256", "actpass", "opus/48000/2", "", " ", "\x00", "é", "99"]
)  # fmt: skip


@st.composite
def mutated_offers(draw) -> str:
    lines = list(LINES)
    for _ in range(draw(st.integers(1, 6))):
        index = draw(st.integers(0, len(lines) - 1))
        action = draw(st.sampled_from(["drop", "duplicate", "token", "split", "junk", "swap"]))
        line = lines[index]
        if action == "drop":
            del lines[index]
        elif action == "duplicate":
            lines.insert(index, line)
        elif action == "token":
            parts = line.split(" ")
            parts[draw(st.integers(0, len(parts) - 1))] = draw(TOKENS)
            lines[index] = " ".join(parts)
        elif action == "split":
            lines[index] = line[: draw(st.integers(0, len(line)))]
        elif action == "junk":
            lines.insert(index, draw(st.text(max_size=40)))
        else:
            other = draw(st.integers(0, len(lines) - 1))
            lines[index], lines[other] = lines[other], line
        if not lines:
            break
    return "\r\n".join(lines) + draw(st.sampled_from(["\r\n", "\n", ""]))


async def answer(sdp: str) -> str:
    """What the router does with an offer, short of gathering candidates: aiortc parses it,
    applies it to a connection with one audio transceiver and writes an answer."""
    pc = RTCPeerConnection()
    try:
        pc.addTransceiver("audio", direction="sendonly")
        await pc.setRemoteDescription(RTCSessionDescription(sdp, "offer"))
        return (await pc.createAnswer()).sdp
    finally:
        await pc.close()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_offers())
def test_fuzzed_offers_are_refused_cleanly_or_answered_by_aiortc(text):
    try:
        checked = check_offer(text, LOOPBACK)
    except OfferError:
        return
    parsed = SessionDescription.parse(checked)  # raises on anything aiortc cannot read
    assert len(parsed.media) == 1 and parsed.media[0].kind == "audio"
    assert parsed.media[0].dtls is not None
    assert "m=audio" in asyncio.run(answer(checked))


@pytest.mark.parametrize("direction", [None, "a=sendonly", "a=recvonly", "a=inactive"])
def test_every_direction_or_none_is_answered(direction):
    text = with_line("a=sendrecv", direction)
    assert "m=audio" in asyncio.run(answer(check_offer(text, LOOPBACK)))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_arbitrary_text_is_refused_cleanly(text):
    try:
        SessionDescription.parse(check_offer(text, LOOPBACK))
    except OfferError:
        pass
