"""The audio settings an operator sets are what the routers run with."""

import pytest

from rooms.media_bridge import media_config


def test_media_settings_reach_the_routers(settings):
    settings.SPACES_MEDIA = {
        **settings.SPACES_MEDIA,
        "OPUS_BITRATE": 24_000,
        "LISTENER_PACKET_MS": 60,
    }
    config = media_config()
    assert config.opus_bitrate == 24_000
    assert config.listener_packet_ms == 60


def test_listener_packets_follow_the_crowd_unless_told_otherwise(settings):
    assert settings.SPACES_MEDIA["LISTENER_PACKET_MS"] is None  # SPACES_LISTENER_PACKET_MS=auto
    config = media_config()
    assert config.listener_packet_ms is None
    assert (config.listener_packet_up_at, config.listener_packet_down_at) == (250, 150)


def test_packet_thresholds_reach_the_routers_and_must_leave_a_gap(settings):
    settings.SPACES_MEDIA = {
        **settings.SPACES_MEDIA,
        "LISTENER_PACKET_UP_AT": 400,
        "LISTENER_PACKET_DOWN_AT": 300,
    }
    config = media_config()
    assert (config.listener_packet_up_at, config.listener_packet_down_at) == (400, 300)
    settings.SPACES_MEDIA = {**settings.SPACES_MEDIA, "LISTENER_PACKET_DOWN_AT": 400}
    with pytest.raises(ValueError, match="down_at"):
        media_config()


def test_a_listener_packet_length_opus_cannot_carry_fails_at_startup(settings):
    settings.SPACES_MEDIA = {**settings.SPACES_MEDIA, "LISTENER_PACKET_MS": 25}
    with pytest.raises(ValueError, match="listener_packet_ms"):
        media_config()
