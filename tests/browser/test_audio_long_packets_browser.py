"""Chromium plays the listener stream in 60 ms packets (SPACES_LISTENER_PACKET_MS=60)."""

import time

import pytest

from tests.factories import RoomFactory

from .conftest import run_daphne
from .room_helpers import inbound, wait_until
from .test_audio_browser import guest_listening, host_on_air


@pytest.fixture(scope="module")
def daphne_server(django_db_setup, django_db_blocker, tmp_path_factory):
    """The site with listeners on 60 ms packets (overrides the session's server here)."""
    with run_daphne(tmp_path_factory, SPACES_LISTENER_PACKET_MS="60") as server:
        yield server


def packet_rate(page, seconds=3.0) -> float:
    before, started = inbound(page)["packets"], time.monotonic()
    time.sleep(seconds)
    return (inbound(page)["packets"] - before) / (time.monotonic() - started)


def test_a_guest_hears_the_host_in_60_ms_packets_while_the_host_gets_20(new_page, signed_in_page):
    room = RoomFactory(title="Long packets")
    host = host_on_air(signed_in_page, room)
    guest = guest_listening(new_page, room)
    wait_until(lambda: ((s := inbound(guest))["level"] > 0.01, s))  # the host is heard

    guest_rate, host_rate = packet_rate(guest), packet_rate(host)
    print(f"packets per second: guest {guest_rate:.1f}, host {host_rate:.1f}")
    assert 12 <= guest_rate <= 20  # 1000 / 60 ms = 16.7
    assert 40 <= host_rate <= 60  # the host's mix-minus stays at 20 ms
