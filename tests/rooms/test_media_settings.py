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


def test_listeners_get_20_ms_packets_unless_told_otherwise(settings):
    assert settings.SPACES_MEDIA["LISTENER_PACKET_MS"] == 20
    assert media_config().listener_packet_ms == 20


def test_a_listener_packet_length_opus_cannot_carry_fails_at_startup(settings):
    settings.SPACES_MEDIA = {**settings.SPACES_MEDIA, "LISTENER_PACKET_MS": 25}
    with pytest.raises(ValueError, match="listener_packet_ms"):
        media_config()
