"""Recording consent (the contract's `set_recording_consent`): who may choose, what is kept."""

import pytest

from rooms import recordings
from rooms.exceptions import ActionRefused
from rooms.models import Participant, RoomEvent
from tests.factories import ParticipantFactory, RoomFactory

pytestmark = pytest.mark.django_db


def test_a_speaker_chooses_either_way_and_each_change_is_logged():
    room = RoomFactory(record=True)
    speaker = ParticipantFactory(room=room, role="speaker").user
    row = recordings.set_recording_consent(room=room, user=speaker, consent=False)
    assert row.recording_consent is False
    recordings.set_recording_consent(room=room, user=speaker, consent=True)
    recordings.set_recording_consent(room=room, user=speaker, consent=True)  # no change
    assert Participant.objects.get(room=room, user=speaker).recording_consent is True
    logged = RoomEvent.objects.filter(room=room, verb="recording_consent").order_by("id")
    assert [e.data["consent"] for e in logged] == [False, True]


def test_the_host_is_always_recorded():
    room = RoomFactory(record=True)
    with pytest.raises(ActionRefused):
        recordings.set_recording_consent(room=room, user=room.host, consent=False)
    assert not RoomEvent.objects.filter(verb="recording_consent").exists()


@pytest.mark.parametrize("case", ["listener", "not recorded", "ended"])
def test_consent_is_refused_off_stage_or_outside_a_live_recorded_space(case):
    room = RoomFactory(record=case != "not recorded", state="ended" if case == "ended" else "live")
    person = ParticipantFactory(room=room, role="listener" if case == "listener" else "speaker")
    with pytest.raises(ActionRefused):
        recordings.set_recording_consent(room=room, user=person.user, consent=True)
    assert Participant.objects.get(pk=person.pk).recording_consent is None
    assert not RoomEvent.objects.filter(verb="recording_consent").exists()
