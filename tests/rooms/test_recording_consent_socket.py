"""The `recording_consent` socket message: who may send it and who hears of it."""

import pytest
from asgiref.sync import sync_to_async

from rooms.models import Participant, Room

from .live_helpers import join, settled_ticks  # noqa: F401 (a fixture)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("settled_ticks")]


async def test_a_speaker_declines_everyone_hears_of_it_and_others_are_refused(live_space):
    room = live_space.room
    await sync_to_async(Room.objects.filter(pk=room.pk).update)(record=True)
    speaker, _ = await join(room, live_space.speaker)
    listener, _ = await join(room, live_space.listener)
    guest, _ = await join(room, guest_id="guest-consent")
    try:
        await speaker.send(type="recording_consent", consent=False)
        for socket in (speaker, listener, guest):
            event = await socket.wait_for("recording_consent")
            assert event["user_id"] == live_space.speaker.pk and event["consent"] is False
        row = await sync_to_async(Participant.objects.get)(room=room, user=live_space.speaker)
        assert row.recording_consent is False

        await listener.send(type="recording_consent", consent=True)
        refused = await listener.wait_for("error", ref="recording_consent")
        assert refused["code"] == "not_in_space"
        await guest.send(type="recording_consent", consent=True)
        assert (await guest.wait_for("error", ref="recording_consent"))["code"] == "not_signed_in"
        await speaker.send(type="recording_consent", consent="yes")
        assert (await speaker.wait_for("error"))["code"] == "invalid_field"
        row = await sync_to_async(Participant.objects.get)(room=room, user=live_space.speaker)
        assert row.recording_consent is False
        assert not await sync_to_async(
            Participant.objects.filter(recording_consent__isnull=False)
            .exclude(user=live_space.speaker)
            .exists
        )()
    finally:
        for socket in (speaker, listener, guest):
            await socket.close()
