"""Questions on raised hands, through the room socket: asking, upvoting, the host bringing the
asker on stage from the queue, removal, limits."""

import pytest
from asgiref.sync import sync_to_async
from django.test import override_settings

from rooms.models import Question, RoomEvent
from tests.factories import ParticipantFactory, RoomFactory

from .live_helpers import join, settled_ticks  # noqa: F401 (a fixture)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("settled_ticks")]


def scene():
    room = RoomFactory(title="Ask me anything")
    asker, fan, other = (ParticipantFactory(room=room).user for _ in range(3))
    return room, asker, fan, other


async def test_a_question_is_upvoted_and_its_asker_brought_on_stage_from_the_queue():
    room, asker, fan, other = await sync_to_async(scene)()
    host, _ = await join(room, room.host)
    asking, _ = await join(room, asker)
    fan_socket, _ = await join(room, fan)
    other_socket, _ = await join(room, other)
    guest, _ = await join(room, guest_id="guest-q")

    await asking.send(type="hand_raise", question="  How do you pick your guests?  ")
    raised = await host.wait_for("hand_raised")
    question = raised["question"]
    assert question["text"] == "How do you pick your guests?" and question["votes"] == 0
    assert (await guest.wait_for("hand_raised"))["question"]["id"] == question["id"]

    await fan_socket.send(type="question_upvote", question=question["id"])
    assert (await host.wait_for("question_voted"))["votes"] == 1
    await other_socket.send(type="question_upvote", question=question["id"])
    assert (await host.wait_for("question_voted", votes=2))["question"] == question["id"]
    # A second upvote by the same person counts once; the asker cannot upvote themselves;
    # guests cannot upvote.
    await fan_socket.send(type="question_upvote", question=question["id"])
    await asking.send(type="question_upvote", question=question["id"])
    assert (await asking.wait_for("error", ref="question_upvote"))["code"] == "not_allowed"
    await guest.send(type="question_upvote", question=question["id"])
    assert (await guest.wait_for("error", ref="question_upvote"))["code"] == "not_signed_in"
    await fan_socket.roundtrip()

    # Someone arriving now sees the queue with the votes, and whether they voted.
    late, snapshot = await join(room, fan)
    [hand] = snapshot["hands"]
    assert hand["question"]["votes"] == 2 and hand["question"]["voted"] is True
    assert "question_upvote" in snapshot["you"]["may"]

    await host.send(type="hand_accept", user=asker.pk)
    accepted = await other_socket.wait_for("hand_accepted")
    assert accepted["user"]["id"] == asker.pk and accepted["role"] == "speaker"
    answered = await other_socket.wait_for("question_answered")
    assert answered["question"]["id"] == question["id"]
    assert answered["question"]["state"] == "answered"
    again, after = await join(room, other)
    assert after["hands"] == []
    assert [q["id"] for q in after["answered"]] == [question["id"]]
    assert (await Question.objects.aget(pk=question["id"])).votes == 2
    for socket in (host, asking, fan_socket, other_socket, guest, late, again):
        await socket.close()


async def test_a_long_question_is_refused_and_raises_no_hand():
    room, asker, *_ = await sync_to_async(scene)()
    asking, _ = await join(room, asker)
    await asking.send(type="hand_raise", question="x" * 141)
    error = await asking.wait_for("error", ref=None)
    assert error["code"] == "invalid_field"
    host, snapshot = await join(room, room.host)
    assert snapshot["hands"] == []
    assert not await Question.objects.aexists()
    await asking.close()
    await host.close()


async def test_the_host_removes_a_question_a_listener_cannot_and_the_text_is_kept():
    room, asker, fan, _ = await sync_to_async(scene)()
    host, _ = await join(room, room.host)
    asking, _ = await join(room, asker)
    fan_socket, _ = await join(room, fan)
    await asking.send(type="hand_raise", question="Something rude")
    question = (await host.wait_for("hand_raised"))["question"]["id"]
    await fan_socket.send(type="question_remove", question=question)
    assert (await fan_socket.wait_for("error", ref="question_remove"))["code"] == "not_allowed"
    await host.send(type="question_remove", question=question)
    assert (await fan_socket.wait_for("question_removed"))["question"] == question
    again, snapshot = await join(room, fan)
    assert snapshot["hands"][0]["question"] is None  # the hand stays up, without the question
    kept = await Question.objects.aget(pk=question)
    assert kept.state == "removed" and kept.text == "Something rude"
    assert await RoomEvent.objects.filter(verb="question_removed").aexists()
    for socket in (host, asking, fan_socket, again):
        await socket.close()


@override_settings(SPACES_QUESTION_RATE=2)
async def test_questions_are_rate_limited():
    room, asker, *_ = await sync_to_async(scene)()
    asking, _ = await join(room, asker)
    for n in range(2):
        await asking.send(type="hand_raise", question=f"Question {n}")
        await asking.wait_for("hand_raised")
        await asking.send(type="hand_lower")
        await asking.wait_for("hand_lowered")
    await asking.send(type="hand_raise", question="One too many")
    assert (await asking.wait_for("error", ref="hand_raise"))["code"] == "rate_limited"
    assert await Question.objects.acount() == 2
    assert not await Question.objects.filter(state="open").aexists()  # lowered: withdrawn
    await asking.close()
