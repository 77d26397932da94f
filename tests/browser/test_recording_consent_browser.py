"""Recording consent in the live room, in Chromium: a speaker brought on stage in a recorded
Space is asked, the choice goes on the socket, and everyone's page shows it on their tile."""

import json
from concurrent.futures import ThreadPoolExecutor

from playwright.sync_api import expect

from rooms import recordings, services
from tests.factories import ParticipantFactory, RoomFactory, UserFactory


def off_the_page_loop(call, **kwargs):
    """Run a service in another thread: Playwright's event loop holds this one, and a service
    broadcasts through async_to_sync after its commit."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(call, **kwargs).result()


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
    speaker_page.get_by_test_id("consent-no").click()
    expect(dialog).to_be_hidden()
    choices = [json.loads(f) for f in sent if '"recording_consent"' in f]
    assert choices == [{"type": "recording_consent", "consent": False}]
    tile = f'#room-app [data-user="{listener.pk}"]'
    expect(speaker_page.locator(f"{tile} [data-testid=tile-not-recorded]")).to_have_count(1)
    # their own controls switch it back
    expect(speaker_page.get_by_test_id("consent-record")).to_be_visible()

    # the server's room-wide event reaches everyone's page (the host's here)
    off_the_page_loop(recordings.set_recording_consent, room=room, user=listener, consent=False)
    expect(host_page.locator(f"{tile} [data-testid=tile-not-recorded]")).to_have_count(1)
    off_the_page_loop(recordings.set_recording_consent, room=room, user=listener, consent=True)
    expect(host_page.locator(f"{tile} [data-testid=tile-recorded]")).to_have_count(1)
