"""The live room as each role uses it, in Chromium with a fake microphone: what people see and
hear, one journey per test, without reloading any page."""

import time

from playwright.sync_api import expect

from rooms.models import Participant, Room
from tests.browser.room_helpers import hears_tone
from tests.factories import ParticipantFactory, RoomFactory, ScheduledRoomFactory, UserFactory


def tile(page, user):
    return page.locator(f'#room-app [data-testid=stage] li[data-user="{user.pk}"]')


def listener_tile(page, user):
    return page.locator(f'.room-live [data-testid=audience] li[data-user="{user.pk}"]')


def test_start_now_puts_the_host_on_air_and_a_guest_hears_them(signed_in_page, new_page):
    host = UserFactory(profile="Ada on air")
    page = signed_in_page(host, "/rooms/new/")
    page.fill("input[name=title]", "First click")
    page.get_by_role("button", name="Create Space").click()
    # The host touches nothing else: the microphone opens and the Space hears them.
    expect(page.get_by_test_id("self-mute")).to_have_attribute("aria-pressed", "true")
    expect(page.get_by_test_id("listen")).to_have_count(0)
    expect(page.locator("[data-room-app]")).to_have_attribute("data-audio", "connected")
    room = Room.objects.get(title="First click")

    guest = new_page(f"/s/{room.slug}/")
    guest.get_by_test_id("listen").click()
    heard = hears_tone(guest)
    print(f"guest hears the host: {heard}")
    expect(guest.get_by_test_id("room-status")).to_have_text("Live · listening")
    # The host hears the room too, without a Listen step: their page plays the room's stream.
    assert page.evaluate("() => Boolean(window.spacesRoom.audio.element.srcObject)")


def test_a_guest_waiting_on_a_scheduled_page_gets_listen_when_the_host_goes_live(
    signed_in_page, new_page
):
    room = ScheduledRoomFactory(title="Later today")
    guest = new_page(f"/s/{room.slug}/")
    expect(guest.get_by_test_id("room-status")).to_contain_text("Waiting for the host")
    expect(guest.get_by_test_id("listen")).to_have_count(0)

    host = signed_in_page(room.host, f"/rooms/{room.slug}/")
    host.get_by_role("button", name="Go live now").click()
    expect(host.get_by_test_id("self-mute")).to_have_attribute("aria-pressed", "true")

    # The guest's page follows without a reload, and hears the host after one click.
    expect(guest.get_by_test_id("listen")).to_be_visible()
    expect(guest.locator("[data-room-badge]")).to_have_text("Live")
    guest.get_by_test_id("listen").click()
    hears_tone(guest)


def test_the_host_invites_a_listener_from_the_grid_who_accepts_and_is_heard(signed_in_page):
    room = RoomFactory(title="Open floor")
    listener = UserFactory(profile="Lin Listener")
    host = signed_in_page(room.host, f"/rooms/{room.slug}/")
    expect(host.locator("[data-room-app]")).to_have_attribute("data-audio", "connected")
    page = signed_in_page(listener, f"/rooms/{room.slug}/")
    expect(page.locator("[data-you-line]")).to_have_text("You are a listener")

    person = listener_tile(host, listener)
    expect(person).to_contain_text("Lin Listener")
    person.get_by_test_id("person-menu").click()
    person.get_by_test_id("invite-speaker").click()

    invite = page.get_by_test_id("invite")
    expect(invite).to_contain_text("invites you to speak")
    invite.get_by_test_id("invite-accept").click()
    expect(tile(page, listener)).to_have_attribute("data-role", "speaker")
    expect(page.locator("[data-you-line]")).to_have_text("You are a speaker")
    expect(tile(host, listener)).to_be_visible()
    expect(listener_tile(host, listener)).to_have_count(0)

    page.get_by_test_id("self-mute").click()
    expect(page.get_by_test_id("self-mute")).to_have_attribute("aria-pressed", "true")
    hears_tone(host)


def test_remove_asks_for_confirmation_and_says_it_is_permanent(signed_in_page):
    room = RoomFactory(title="Moderated")
    listener = UserFactory(profile="Rex Rowdy")
    host = signed_in_page(room.host, f"/rooms/{room.slug}/")
    page = signed_in_page(listener, f"/rooms/{room.slug}/")
    person = listener_tile(host, listener)
    expect(person).to_be_visible()

    person.get_by_test_id("person-menu").click()
    person.get_by_test_id("remove").click()
    dialog = host.get_by_test_id("confirm-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Remove Rex Rowdy from this Space?")
    expect(dialog).to_contain_text("permanent")
    dialog.get_by_test_id("confirm-no").click()
    expect(dialog).to_be_hidden()
    time.sleep(0.5)
    assert Participant.objects.get(room=room, user=listener).removed_at is None
    expect(person).to_be_visible()

    person.get_by_test_id("person-menu").click()
    person.get_by_test_id("remove").click()
    dialog.get_by_test_id("confirm-yes").click()
    expect(page.get_by_test_id("removed")).to_contain_text("You were removed from this Space.")
    expect(page.get_by_test_id("action-bar")).to_have_count(0)
    expect(listener_tile(host, listener)).to_have_count(0)


def test_a_speaker_steps_down_and_becomes_a_listener(signed_in_page):
    room = RoomFactory(title="Panel")
    speaker = ParticipantFactory(room=room, role="speaker", user__profile="Sid Speaker").user
    host = signed_in_page(room.host, f"/rooms/{room.slug}/")
    page = signed_in_page(speaker, f"/rooms/{room.slug}/")
    expect(tile(host, speaker)).to_be_visible()

    page.get_by_test_id("step-down").click()
    expect(page.locator("[data-you-line]")).to_have_text("You are a listener")
    expect(page.get_by_test_id("raise-hand")).to_be_visible()
    expect(page.get_by_test_id("self-mute")).to_have_count(0)
    expect(tile(host, speaker)).to_have_count(0)
    expect(listener_tile(host, speaker)).to_contain_text("Sid Speaker")
    # They keep hearing the room, now as a listener (a new connection: ICE and DTLS again;
    # on a loaded machine it may take the page one retry after its 8 s connect timeout).
    expect(page.locator("[data-room-app]")).to_have_attribute(
        "data-audio", "connected", timeout=25_000
    )


def test_the_host_leaves_and_the_cohost_is_host_on_every_page(signed_in_page, new_page):
    room = RoomFactory(title="Hand over")
    cohost = ParticipantFactory(room=room, role="cohost", user__profile="Cora Cohost").user
    listener = UserFactory(profile="Leo Listener")
    host = signed_in_page(room.host, f"/rooms/{room.slug}/")
    co = signed_in_page(cohost, f"/rooms/{room.slug}/")
    lis = signed_in_page(listener, f"/rooms/{room.slug}/")
    guest = new_page(f"/s/{room.slug}/")
    expect(co.locator("[data-you-line]")).to_have_text("You are a co-host")

    leave = host.get_by_test_id("leave")
    expect(leave).to_contain_text("Leave and hand over")
    leave.click()
    expect(host.get_by_test_id("left")).to_contain_text("You left the Space.")
    expect(co.locator("[data-you-line]")).to_have_text("You are the host")
    expect(co.get_by_test_id("end-space")).to_be_visible()
    for page in (co, lis, guest):
        expect(tile(page, cohost)).to_have_attribute("data-role", "host")
        expect(tile(page, room.host)).to_have_count(0)


def test_end_turns_every_open_page_into_the_ended_page_within_two_seconds(signed_in_page, new_page):
    room = RoomFactory(title="Last call")
    speaker = ParticipantFactory(room=room, role="speaker", user__profile="Sue").user
    listener = UserFactory(profile="Lou")
    host = signed_in_page(room.host, f"/rooms/{room.slug}/")
    pages = [
        signed_in_page(speaker, f"/rooms/{room.slug}/"),
        signed_in_page(listener, f"/rooms/{room.slug}/"),
        new_page(f"/s/{room.slug}/"),
    ]
    for page in pages:
        expect(page.get_by_test_id("action-bar")).to_be_visible()

    host.get_by_test_id("end-space").click()
    expect(host.get_by_test_id("confirm-dialog")).to_contain_text("End this Space for everyone?")
    host.get_by_test_id("confirm-yes").click()
    started = time.monotonic()
    for page in [host, *pages]:
        expect(page.get_by_test_id("ended")).to_contain_text("This Space has ended.", timeout=2000)
    print(f"every page ended within {time.monotonic() - started:.2f} s")
    for page in [host, *pages]:
        expect(page.get_by_test_id("action-bar")).to_have_count(0)
        expect(page.locator("[data-room-badge]")).to_have_text("Ended")
        expect(page.locator("[data-testid=stage]:visible")).to_have_count(0)
        assert page.evaluate("() => window.spacesRoom.pc") is None


REFUSE_MICROPHONE = """
navigator.mediaDevices.getUserMedia = () =>
  Promise.reject(new DOMException("Permission denied", "NotAllowedError"));
"""


def test_a_refused_microphone_says_how_to_allow_it(signed_in_page):
    room = RoomFactory(title="No mic")
    speaker = ParticipantFactory(room=room, role="speaker", user__profile="Mia").user
    page = signed_in_page(speaker, None)
    page.add_init_script(REFUSE_MICROPHONE)
    page.goto(f"/rooms/{room.slug}/")
    error = page.get_by_test_id("mic-error")
    expect(error).to_contain_text("blocked the microphone")
    expect(error).to_contain_text("allow microphone access")
    expect(error.get_by_test_id("mic-retry")).to_be_visible()
    # They still hear the room.
    expect(page.locator("[data-room-app]")).to_have_attribute("data-audio", "connected")


def test_guests_are_told_when_the_host_steps_away_and_when_they_are_back(signed_in_page, new_page):
    room = RoomFactory(title="Coffee break")
    host = signed_in_page(room.host, f"/rooms/{room.slug}/")
    expect(host.locator("[data-room-app]")).to_have_attribute("data-audio", "connected")
    guest = new_page(f"/s/{room.slug}/")
    expect(guest.get_by_test_id("listen")).to_be_visible()
    expect(guest.get_by_test_id("host-away")).to_have_count(0)

    host.close()  # the host's tab closes: no Leave
    notice = guest.get_by_test_id("host-away")
    expect(notice).to_contain_text("The host has stepped away", timeout=15_000)
    signed_in_page(room.host, f"/rooms/{room.slug}/")
    expect(notice).to_have_count(0, timeout=10_000)


def test_a_post_typed_while_the_socket_is_down_is_sent_after_it_reconnects(
    signed_in_page, new_page
):
    room = RoomFactory(title="Flaky wifi")
    listener = UserFactory(profile="Wendy Wifi")
    page = signed_in_page(listener, f"/rooms/{room.slug}/")
    guest = new_page(f"/s/{room.slug}/")
    expect(page.locator("[data-room-app]")).to_have_attribute("data-connection", "open")
    # The connection drops and the person posts before it is back.
    page.evaluate(
        """() => {
          window.spacesRoom.connection.socket.close();
          const form = document.querySelector("[data-testid=post-form]");
          form.querySelector("input").value = "Sent when the socket is back";
          form.requestSubmit();
        }"""
    )
    expect(page.get_by_test_id("pending-post")).to_contain_text("sending…")
    expect(guest.get_by_test_id("feed")).to_contain_text("Wendy Wifi: Sent when the socket is back")
    expect(page.get_by_test_id("pending-post")).to_have_count(0)
    expect(page.get_by_test_id("feed")).to_contain_text("Sent when the socket is back")
