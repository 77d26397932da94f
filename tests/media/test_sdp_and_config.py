"""Offers the router accepts, the addresses it announces, and the ICE settings it uses."""

import pytest

from rooms.media import MediaConfig
from rooms.media.sdp import (
    OfferError,
    announce_host_candidates,
    audio_only_sections,
    media_sections,
)

BROWSER_OFFER = "\r\n".join(
    [
        "v=0",
        "o=- 1 2 IN IP4 127.0.0.1",
        "s=-",
        "t=0 0",
        "a=group:BUNDLE 0 1",
        "m=audio 9 UDP/TLS/RTP/SAVPF 111",
        "c=IN IP4 0.0.0.0",
        "a=mid:0",
        "a=sendonly",
        "a=rtpmap:111 opus/48000/2",
        "m=audio 0 UDP/TLS/RTP/SAVPF 111",
        "a=mid:1",
        "a=bundle-only",
        "a=rtpmap:111 opus/48000/2",
        "",
    ]
)

ANSWER = "\r\n".join(
    [
        "v=0",
        "m=audio 40000 UDP/TLS/RTP/SAVPF 111",
        "c=IN IP4 10.0.0.5",
        "a=candidate:abc 1 udp 2130706431 10.0.0.5 40000 typ host",
        "a=candidate:def 1 udp 1694498815 198.51.100.7 40000 typ srflx raddr 10.0.0.5 rport 40000",
        "a=end-of-candidates",
        "",
    ]
)


def test_sections_report_what_the_peer_sends_and_receives():
    first, second = media_sections(BROWSER_OFFER)
    assert (first.kind, first.direction, first.rejected) == ("audio", "sendonly", False)
    assert first.peer_sends and not first.peer_receives
    # no direction attribute means sendrecv; bundle-only port 0 is not a rejection
    assert second.direction == "sendrecv" and not second.rejected
    assert second.peer_sends and second.peer_receives


def test_session_level_direction_applies_to_sections_without_their_own():
    offer = "v=0\r\na=recvonly\r\nm=audio 9 RTP/SAVPF 111\r\nm=audio 0 RTP/SAVPF 111\r\n"
    first, second = media_sections(offer)
    assert first.direction == "recvonly" and first.peer_receives
    assert second.rejected and not second.peer_receives


@pytest.mark.parametrize(
    "offer, message",
    [
        ("v=0\r\n", "no media"),
        ("v=0\r\nm=audio 9 RTP/SAVPF 111\r\nm=video 9 RTP/SAVPF 96\r\n", "video"),
        ("v=0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n", "application"),
        ("v=0\r\nm=audio nine RTP/SAVPF 111\r\n", "malformed"),
    ],
)
def test_offers_other_than_audio_are_refused(offer, message):
    with pytest.raises(OfferError, match=message):
        audio_only_sections(offer)


def test_announced_address_replaces_the_bound_host_address():
    answer = announce_host_candidates(ANSWER, ["203.0.113.9"])
    assert "a=candidate:abc 1 udp 2130706431 203.0.113.9 40000 typ host" in answer
    assert "10.0.0.5 40000 typ host" not in answer
    assert "c=IN IP4 203.0.113.9" in answer
    assert "198.51.100.7 40000 typ srflx raddr 10.0.0.5" in answer  # only host candidates
    assert answer.endswith("\r\n")


def test_several_announced_addresses_become_distinct_candidates():
    answer = announce_host_candidates(ANSWER, ["203.0.113.9", "2001:db8::9"])
    assert "a=candidate:abc 1 udp 2130706431 203.0.113.9 40000 typ host" in answer
    assert "a=candidate:abc1 1 udp 2130706430 2001:db8::9 40000 typ host" in answer


def test_no_announced_addresses_leaves_the_answer_alone():
    assert announce_host_candidates(ANSWER, []) == ANSWER
    with pytest.raises(ValueError):
        announce_host_candidates(ANSWER, ["not-an-ip"])


def test_default_config_contacts_no_ice_server():
    config = MediaConfig()
    # an empty list, not None: None would make aiortc use stun.l.google.com
    assert config.rtc_configuration().iceServers == []
    assert MediaConfig.loopback().bind_addresses == ["127.0.0.1"]


def test_configured_ice_servers_are_used_exactly():
    config = MediaConfig(
        ice_servers=[
            {"urls": "stun:stun.example.org:3478"},
            {"urls": ["turn:turn.example.org:3478"], "username": "u", "credential": "p"},
        ]
    )
    stun, turn = config.rtc_configuration().iceServers
    assert stun.urls == "stun:stun.example.org:3478" and stun.username is None
    assert (turn.urls, turn.username, turn.credential) == (
        ["turn:turn.example.org:3478"],
        "u",
        "p",
    )


@pytest.mark.parametrize(
    "settings",
    [
        {"ice_servers": [{"urls": "http://example.org"}]},
        {"ice_servers": [{"urls": []}]},
        {"bind_addresses": ["localhost"]},
        {"announce_addresses": ["203.0.113.300"]},
        {"opus_bitrate": 1_000},
        {"listener_packet_ms": 30},
        {"listener_packet_up_at": 100, "listener_packet_down_at": 100},
        {"close_timeout": 0},
    ],
)
def test_mistakes_in_settings_fail_at_startup(settings):
    with pytest.raises(ValueError):
        MediaConfig(**settings)
