"""Recording consent in the live room, in Chromium: a speaker brought on stage in a recorded
Space is asked, the choice goes on the socket, and everyone's page shows it on their tile."""

import json
from concurrent.futures import ThreadPoolExecutor

from playwright.sync_api import expect

from rooms import services
from rooms.models import Participant
from tests.browser.room_helpers import wait_until
from tests.browser.test_a11y_browser import serious_violations
from tests.browser.test_room_layout_browser import PHONE, check_fits
from tests.factories import ParticipantFactory, RoomFactory, UserFactory


def off_the_page_loop(call, **kwargs):
    """Run a service in another thread: Playwright's event loop holds this one, and a service
    broadcasts through async_to_sync after its commit."""
    from django.db import connections

    def run():
        try:
            return call(**kwargs)
        finally:
            connections.close_all()  # the thread's own connection, before it ends

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(run).result()


def test_a_speaker_is_asked_and_the_choice_shows_on_their_tile(signed_in_page):
    room = RoomFactory(title="Taped live", record=True)
    listener = UserFactory(profile="Lea Listener")
    ParticipantFactory(room=room, user=listener, role="listener")
    host_page = signed_in_page(room.host, f"/rooms/{room.slug}/")
    speaker_page = signed_in_page(listener, f"/rooms/{room.slug}/")
    sent = []
    speaker_page.on(
        "websocket",
        lambda socket: socket.on(
            "framesent", lambda payload: sent.append(payload) if isinstance(payload, str) else None
        ),
    )
    speaker_page.reload()
    expect(speaker_page.get_by_test_id("raise-hand")).to_be_visible()
    # the host sees the REC badge and their own tile says it is recorded
    expect(host_page.get_by_test_id("rec-badge").first).to_be_visible()
    expect(
        host_page.locator(f'#room-app [data-user="{room.host.pk}"] [data-testid=tile-recorded]')
    ).to_have_count(1)

    off_the_page_loop(services.speaker_promote, room=room, user=listener, actor=room.host)
    dialog = speaker_page.get_by_test_id("consent-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("This Space is recorded")
    check_fits(speaker_page, PHONE["width"], "consent dialog")
    assert serious_violations(speaker_page) == []
    speaker_page.get_by_test_id("consent-no").click()
    expect(dialog).to_be_hidden()
    choices = [json.loads(f) for f in sent if '"recording_consent"' in f]
    assert choices == [{"type": "recording_consent", "consent": False}]
    tile = f'#room-app [data-user="{listener.pk}"]'
    expect(speaker_page.locator(f"{tile} [data-testid=tile-not-recorded]")).to_have_count(1)
    # their own controls switch it back
    expect(speaker_page.get_by_test_id("consent-record")).to_be_visible()

    # the server took the choice: its room-wide event reaches everyone's page (the host's here)
    expect(host_page.locator(f"{tile} [data-testid=tile-not-recorded]")).to_have_count(1)
    speaker_page.get_by_test_id("consent-record").click()
    expect(host_page.locator(f"{tile} [data-testid=tile-recorded]")).to_have_count(1)
    assert off_the_page_loop(
        lambda: Participant.objects.get(room=room, user=listener).recording_consent
    )
    # the choice is in the snapshot: a reload asks nothing and shows it
    speaker_page.reload()
    expect(speaker_page.locator(f"{tile} [data-testid=tile-recorded]")).to_have_count(1)
    expect(speaker_page.get_by_test_id("consent-leave-out")).to_be_visible()
    expect(speaker_page.get_by_test_id("consent-dialog")).to_have_count(0)


def test_a_listener_clips_the_last_30_seconds_of_a_live_recorded_space(signed_in_page):
    from datetime import timedelta

    from django.utils import timezone

    from rooms.models import Clip, Recording
    from tests.recording_fixtures import write_recording

    room = RoomFactory(title="Taped and live", record=True)
    recording = write_recording(
        room,
        tones=[(440.0, 40.0)],
        state=Recording.State.RECORDING,
        started_at=timezone.now() - timedelta(seconds=40),
    )
    Recording.objects.filter(pk=recording.pk).update(audio_file="")  # only segments so far
    listener = UserFactory(profile="Lou Listener")
    ParticipantFactory(room=room, user=listener, role="listener")
    page = signed_in_page(listener, f"/rooms/{room.slug}/")
    button = page.get_by_test_id("live-clip-button")
    expect(button).to_be_visible()
    check_fits(page, PHONE["width"], "live recorded Space")
    button.click()
    expect(page.get_by_test_id("live-clip-link")).to_be_visible(timeout=20_000)
    clip = Clip.objects.get()
    # the last 30 s of what was recorded (page load and click take a few seconds here)
    assert clip.duration == 30 and 9 <= clip.start <= 25 and clip.state == "ready"
    page.get_by_test_id("live-clip-link").click()
    page.wait_for_url(f"**/c/{clip.slug}/")
    expect(page.get_by_test_id("clip-audio")).to_be_visible()


def test_a_choice_made_while_the_socket_is_down_is_asked_again_not_taken(signed_in_page):
    room = RoomFactory(title="Taped, shaky line", record=True)
    listener = UserFactory(profile="Sam Shaky")
    ParticipantFactory(room=room, user=listener, role="listener")
    page = signed_in_page(listener, f"/rooms/{room.slug}/")
    expect(page.get_by_test_id("raise-hand")).to_be_visible()
    off_the_page_loop(services.speaker_promote, room=room, user=listener, actor=room.host)
    dialog = page.get_by_test_id("consent-dialog")
    expect(dialog).to_be_visible()
    # the socket drops just as they answer: the page says so and keeps asking
    page.evaluate(
        """() => { window.droppedSocket = window.spacesRoom.connection.socket;
                   window.droppedSocket.close();
                   document.querySelector('[data-testid=consent-no]').click(); }"""
    )
    expect(page.get_by_test_id("room-flash")).to_contain_text("Not connected")
    expect(dialog).to_be_visible()
    tile = f'#room-app [data-user="{listener.pk}"]'
    expect(page.locator(f"{tile} [data-testid=tile-not-recorded]")).to_have_count(0)
    # back online (the page reconnects and gets a fresh snapshot), the same answer goes through
    page.wait_for_function(
        """() => window.spacesRoom.connection.socket !== window.droppedSocket
                 && window.spacesRoom.state.connection === 'open'""",
        timeout=20_000,
    )
    page.get_by_test_id("consent-no").click()
    expect(dialog).to_be_hidden()
    expect(page.locator(f"{tile} [data-testid=tile-not-recorded]")).to_have_count(1)
    expect(page.get_by_test_id("consent-record")).to_be_visible()
    # the server took it (the tile shows the choice at once; the row follows the message)
    wait_until(
        lambda: (
            (
                consent := off_the_page_loop(
                    lambda: Participant.objects.get(room=room, user=listener).recording_consent
                )
            )
            is False,
            consent,
        ),
        timeout=15,
    )


def test_a_recording_taken_down_while_live_leaves_the_room_page_at_once(signed_in_page):
    from django.utils import timezone

    from rooms import recordings
    from rooms.models import Recording
    from tests.recording_fixtures import write_recording

    room = RoomFactory(title="Taped, then not", record=True)
    recording = write_recording(
        room, tones=[(440.0, 4.0)], state=Recording.State.RECORDING, started_at=timezone.now()
    )
    listener = UserFactory(profile="Lin Listener")
    ParticipantFactory(room=room, user=listener, role="listener")
    page = signed_in_page(listener, f"/rooms/{room.slug}/")
    expect(page.get_by_test_id("live-clip-button")).to_be_visible()
    expect(page.locator("[data-testid=rec-badge]:visible")).to_have_count(2)
    # the page's socket is in the room (its snapshot applied) before staff act
    expect(page.locator("[data-room-app]")).to_have_attribute("data-connection", "open")
    expect(page.locator("[data-room-app]")).to_have_attribute("data-role", "listener")

    staff = UserFactory(is_staff=True, is_superuser=True)
    off_the_page_loop(
        recordings.take_down_recording, recording=recording, staff=staff, reason="Hate speech"
    )
    # the event reaches the open page: no REC, no clip button, and it is said
    expect(page.locator("[data-testid=rec-badge]:visible")).to_have_count(0)
    expect(page.get_by_test_id("live-clip-button")).to_be_hidden()
    expect(page.get_by_test_id("announcer")).to_have_text("This Space is no longer recorded.")
    page.reload()
    expect(page.get_by_test_id("raise-hand")).to_be_visible()
    expect(page.get_by_test_id("rec-badge")).to_have_count(0)
    expect(page.get_by_test_id("live-clip")).to_have_count(0)
