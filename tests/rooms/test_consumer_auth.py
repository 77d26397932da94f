"""Who may do what over the room socket: every role × every client message that acts.

A refused message comes back to its sender as an `error` event with a stable code, and nothing
changes: not the database, and nobody else hears of it. An allowed one changes the Space and the
people in the room see it live. Messages aimed at another Space are refused and change nothing
there either.
"""

from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace

import pytest
from asgiref.sync import sync_to_async
from django.db import transaction
from django.utils import timezone

from rooms.models import Invite, Participant, Post, Room
from tests.factories import InviteFactory, ParticipantFactory, RoomFactory, UserFactory

from .live_helpers import (
    join,
    open_socket,
    room_state,
    settled_ticks,  # noqa: F401 (a fixture)
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("settled_ticks")]

ROLES = ("host", "cohost", "speaker", "listener", "outsider", "guest")


@transaction.atomic
def make_scene(title: str = "Matrix") -> SimpleNamespace:
    """A live Space: host, co-host, two unmuted speakers, a raised hand, two quiet listeners,
    one post; and a signed-in person who is not in it yet."""
    room = RoomFactory(title=title)
    cast = SimpleNamespace(
        room=room,
        host=room.host,
        cohost=ParticipantFactory(room=room, role="cohost").user,
        speaker=ParticipantFactory(room=room, role="speaker", is_muted=False).user,
        speaker2=ParticipantFactory(room=room, role="speaker", is_muted=False).user,
        hand=ParticipantFactory(room=room, hand_raised_at=timezone.now()).user,
        listener=ParticipantFactory(room=room).user,
        quiet=ParticipantFactory(room=room).user,
        outsider=UserFactory(),
    )
    cast.post = Post.objects.create(room=room, author=cast.quiet, text="Hello from the floor")
    return cast


def row(s, user) -> Participant:
    return Participant.objects.get(room=s.room, user=user)


def raise_own_hand(s, actor) -> None:
    if actor is not None:
        Participant.objects.filter(room=s.room, user=actor, role="listener").update(
            hand_raised_at=timezone.now()
        )


def mute_self(s, actor) -> None:
    Participant.objects.filter(room=s.room, user=actor or s.speaker2).update(is_muted=True)


def inviter_for(s, actor):
    return s.cohost if actor == s.host else s.host


def invite_actor(s, actor) -> None:
    s.invite = InviteFactory(
        room=s.room, invitee=actor or s.listener, inviter=inviter_for(s, actor)
    )


@dataclass(frozen=True)
class Case:
    message: Callable  # (scene, actor) -> the frame's fields
    # One outcome for host, co-host, speaker, listener and outsider (the guest is always refused
    # with not_signed_in): "ok" (the room sees `event`), "ok=<event>", "silent" (changes, no
    # room-wide event), "noop" (allowed, nothing to change), or the error code.
    outcomes: str
    event: str | None = None
    effect: Callable = lambda s, actor: True  # what a user would notice, read from the DB
    prepare: Callable | None = None  # (scene, actor), after everyone connected
    watcher: Callable = lambda s, actor: None  # whose socket should see it; None: a guest
    closes_actor: bool = False


MODERATORS = "ok ok not_allowed not_allowed not_allowed"
HOST_ONLY = "ok not_allowed not_allowed not_allowed not_allowed"

CASES = {
    "hand_raise": Case(
        lambda s, a: {"type": "hand_raise"},
        "not_allowed not_allowed not_allowed ok ok",
        "hand_raised",
        effect=lambda s, a: row(s, a).hand_raised_at is not None,
    ),
    "hand_lower": Case(
        lambda s, a: {"type": "hand_lower"},
        "noop noop noop ok ok",
        "hand_lowered",
        effect=lambda s, a: row(s, a).hand_raised_at is None,
        prepare=raise_own_hand,
    ),
    "hand_accept": Case(
        lambda s, a: {"type": "hand_accept", "user": s.hand.pk},
        MODERATORS,
        "hand_accepted",
        effect=lambda s, a: row(s, s.hand).role == "speaker",
    ),
    "hand_decline": Case(
        lambda s, a: {"type": "hand_decline", "user": s.hand.pk},
        MODERATORS,
        "hand_lowered",
        effect=lambda s, a: row(s, s.hand).hand_raised_at is None,
    ),
    "invite_speaker": Case(
        lambda s, a: {"type": "invite", "user": s.quiet.pk, "role": "speaker"},
        MODERATORS,
        "invite_received",
        effect=lambda s, a: Invite.objects.filter(room=s.room, invitee=s.quiet).exists(),
        watcher=lambda s, a: s.quiet,
    ),
    "invite_cohost": Case(
        lambda s, a: {"type": "invite", "user": s.quiet.pk, "role": "cohost"},
        HOST_ONLY,
        "invite_received",
        effect=lambda s, a: Invite.objects.filter(room=s.room, role="cohost").exists(),
        watcher=lambda s, a: s.quiet,
    ),
    "invite_accept": Case(
        lambda s, a: {"type": "invite_accept", "invite": s.invite.pk},
        # Someone already on stage cannot take a seat offered to a listener.
        "invite_revoked wrong_state wrong_state ok ok",
        "invite_accepted",
        effect=lambda s, a: Invite.objects.get(pk=s.invite.pk).outcome == "accepted",
        prepare=invite_actor,
    ),
    "invite_decline": Case(
        lambda s, a: {"type": "invite_decline", "invite": s.invite.pk},
        "ok ok ok ok ok",
        "invite_declined",
        effect=lambda s, a: Invite.objects.get(pk=s.invite.pk).outcome == "declined",
        prepare=invite_actor,
        watcher=inviter_for,
    ),
    "invite_revoke": Case(  # an invite the host sent: the host or a co-host withdraws it
        lambda s, a: {"type": "invite_revoke", "invite": s.invite.pk},
        MODERATORS,
        "invite_revoked",
        effect=lambda s, a: Invite.objects.get(pk=s.invite.pk).outcome == "revoked",
        prepare=lambda s, a: setattr(
            s, "invite", InviteFactory(room=s.room, invitee=s.quiet, inviter=s.host)
        ),
        watcher=lambda s, a: s.quiet,
    ),
    "promote_speaker": Case(
        lambda s, a: {"type": "promote", "user": s.quiet.pk, "role": "speaker"},
        MODERATORS,
        "speaker_promoted",
        effect=lambda s, a: row(s, s.quiet).role == "speaker",
    ),
    "promote_cohost": Case(
        lambda s, a: {"type": "promote", "user": s.quiet.pk, "role": "cohost"},
        HOST_ONLY,
        "cohost_promoted",
        effect=lambda s, a: row(s, s.quiet).role == "cohost",
    ),
    "move_to_audience": Case(
        lambda s, a: {"type": "move_to_audience", "user": s.speaker2.pk},
        MODERATORS,
        "moved_to_audience",
        effect=lambda s, a: row(s, s.speaker2).role == "listener",
    ),
    "cohost_remove": Case(  # the co-host stays on stage as a speaker
        lambda s, a: {"type": "cohost_remove", "user": s.cohost.pk},
        # A co-host "removing" themselves is refused: stepping down is move_to_audience.
        HOST_ONLY,
        "cohost_removed",
        effect=lambda s, a: row(s, s.cohost).role == "speaker",
    ),
    "mute": Case(
        lambda s, a: {"type": "mute", "user": s.speaker2.pk, "muted": True},
        MODERATORS,
        "speaker_muted",
        effect=lambda s, a: row(s, s.speaker2).is_muted,
    ),
    "unmute_self": Case(
        lambda s, a: {"type": "mute", "user": (a or s.speaker2).pk, "muted": False},
        "ok ok ok wrong_state wrong_state",
        "speaker_unmuted",
        effect=lambda s, a: not row(s, a).is_muted,
        prepare=mute_self,
    ),
    "unmute_someone_else": Case(  # nobody opens another person's microphone, not the host
        lambda s, a: {"type": "mute", "user": s.speaker2.pk, "muted": False},
        "not_allowed not_allowed not_allowed not_allowed not_allowed",
        prepare=lambda s, a: mute_self(s, None),
    ),
    "remove": Case(
        lambda s, a: {"type": "remove", "user": s.quiet.pk},
        MODERATORS,
        "participant_removed",
        effect=lambda s, a: row(s, s.quiet).removed_at is not None,
    ),
    "end": Case(
        lambda s, a: {"type": "end"},
        HOST_ONLY,
        "room_ended",
        effect=lambda s, a: Room.objects.get(pk=s.room.pk).state == "ended",
        closes_actor=True,
    ),
    "post": Case(
        lambda s, a: {"type": "post", "text": "  Great point!  "},
        "ok ok ok ok ok",
        "post_created",
        effect=lambda s, a: Post.objects.filter(author=a, text="Great point!").exists(),
    ),
    "post_pin": Case(
        lambda s, a: {"type": "post_pin", "post": s.post.pk, "pinned": True},
        MODERATORS,
        "post_pinned",
        effect=lambda s, a: Post.objects.get(pk=s.post.pk).pinned_at is not None,
    ),
    "post_delete": Case(
        lambda s, a: {"type": "post_delete", "post": s.post.pk},
        MODERATORS,
        "post_deleted",
        effect=lambda s, a: Post.objects.get(pk=s.post.pk).deleted_at is not None,
    ),
    "leave": Case(
        lambda s, a: {"type": "leave"},
        # The host hands over to the co-host; listeners leaving are not announced (counts are).
        "ok=host_changed ok=participant_left ok=participant_left silent silent",
        effect=lambda s, a: row(s, a).left_at is not None,
        closes_actor=True,
    ),
}


def changes_state(outcome: str) -> bool:
    return outcome in ("ok", "silent") or outcome.startswith("ok=")


async def run_case(case: Case, s, role: str, outcome: str, watcher) -> None:
    actor = None if role == "guest" else getattr(s, role)
    socket, hello = await join(s.room, actor, guest_id=f"actor-{role}")
    try:
        assert hello["you"]["role"] == ("listener" if role == "outsider" else role)
        if case.prepare:
            await sync_to_async(case.prepare)(s, actor)
        before = await room_state(s.room)
        await socket.send(**case.message(s, actor))

        if changes_state(outcome) or outcome == "noop":
            event = outcome.partition("=")[2] or (case.event if outcome == "ok" else None)
            if event:
                await watcher.wait_for(event)
            if case.closes_actor and outcome != "noop":
                await socket.wait_closed()
            else:
                errors = [e for e in await socket.roundtrip() if e["type"] == "error"]
                assert not errors, errors
            after = await room_state(s.room)
            if outcome == "noop":
                assert after == before
                assert await watcher.roundtrip() == []
            else:
                assert after != before
                assert await sync_to_async(case.effect)(s, actor)
        else:
            error = await socket.wait_for("error")
            assert error["code"] == outcome, error
            assert error["ref"] == case.message(s, actor)["type"]
            assert error["message"]
            assert await room_state(s.room) == before
            # Nobody else heard of it, and the sender's socket is still open.
            assert await watcher.roundtrip() == []
            assert await socket.roundtrip() == []
    finally:
        await socket.close()


@pytest.mark.parametrize("name", CASES)
async def test_each_role_may_do_exactly_what_it_is_allowed(name):
    case = CASES[name]
    outcomes = case.outcomes.split() + ["not_signed_in"]
    assert len(outcomes) == len(ROLES)
    scene, watchers = None, {}
    # Refused messages change nothing, so the next role tries in the same Space; after an
    # allowed one, a fresh Space.
    for role, outcome in zip(ROLES, outcomes, strict=True):
        if scene is None:
            scene = await sync_to_async(make_scene)(f"{name} as {role}")
        actor = None if role == "guest" else getattr(scene, role)
        seer = case.watcher(scene, actor)
        if seer not in watchers:
            watchers[seer] = (await join(scene.room, seer, guest_id="watcher"))[0]
        try:
            await run_case(case, scene, role, outcome, watchers[seer])
        except AssertionError as failure:
            raise AssertionError(f"{name} by the {role} (expected {outcome}): {failure}") from None
        finally:
            if changes_state(outcome) or role == ROLES[-1]:
                for watcher in watchers.values():
                    await watcher.close()
                scene, watchers = None, {}


# Forged messages: a role or a room named in the message is refused before anything happens.


@pytest.mark.parametrize(
    "forged",
    [
        {"type": "end", "as": "host"},
        {"type": "promote", "user": 1, "role": "speaker", "actor": 1},
        {"type": "promote", "user": 1, "role": "host"},
        {"type": "end", "room": "another-space"},
        {"type": "hand_accept", "user": 1, "role": "host"},
    ],
)
async def test_a_message_that_claims_a_role_or_a_room_is_refused(forged):
    s = await sync_to_async(make_scene)()
    forged = {**forged, **({"user": s.hand.pk} if "user" in forged else {})}
    for actor in (s.listener, None):
        socket, _ = await join(s.room, actor)
        before = await room_state(s.room)
        await socket.send(**forged)
        error = await socket.wait_for("error")
        assert error["code"] == "invalid_field"
        assert await room_state(s.room) == before
        await socket.close()


# Messages aimed at another Space.


def make_two_spaces() -> tuple[SimpleNamespace, SimpleNamespace]:
    here, there = make_scene("Here"), make_scene("There")
    # The host here has been invited to speak over there; that invite is not for this Space.
    there.invite = InviteFactory(room=there.room, invitee=here.host, inviter=there.host)
    here.listener_invite = InviteFactory(room=there.room, invitee=here.listener, inviter=there.host)
    return here, there


FOREIGN = {
    "hand_accept": (lambda t: {"user": t.hand.pk}, "not_in_space"),
    "hand_decline": (lambda t: {"user": t.hand.pk}, "not_in_space"),
    "invite": (lambda t: {"user": t.quiet.pk, "role": "speaker"}, "not_in_space"),
    "promote": (lambda t: {"user": t.quiet.pk, "role": "cohost"}, "not_in_space"),
    "move_to_audience": (lambda t: {"user": t.speaker.pk}, "not_in_space"),
    "mute": (lambda t: {"user": t.speaker.pk, "muted": True}, "not_in_space"),
    "remove": (lambda t: {"user": t.listener.pk}, "not_in_space"),
    "post_pin": (lambda t: {"post": t.post.pk, "pinned": True}, "invalid"),
    "post_delete": (lambda t: {"post": t.post.pk}, "invalid"),
    "cohost_remove": (lambda t: {"user": t.cohost.pk}, "not_in_space"),
    "invite_revoke": (lambda t: {"invite": t.invite.pk}, "not_found"),
    "invite_accept": (lambda t: {"invite": t.invite.pk}, "not_found"),
    "invite_decline": (lambda t: {"invite": t.invite.pk}, "not_found"),
}


async def test_messages_aimed_at_another_space_are_refused_and_change_nothing():
    here, there = await sync_to_async(make_two_spaces)()
    host, _ = await join(here.room, here.host)
    watcher_there, _ = await join(there.room, None, guest_id="there")
    before = (await room_state(here.room), await room_state(there.room))
    for kind, (fields, code) in FOREIGN.items():
        await host.send(type=kind, **fields(there))
        error = await host.wait_for("error")
        assert (kind, error["code"], error["ref"]) == (kind, code, kind)
    # Somebody with no account at all, and a post that does not exist.
    await host.send(type="promote", user=2**40, role="speaker")
    assert (await host.wait_for("error"))["code"] == "not_in_space"
    await host.send(type="post_delete", post=2**40)
    assert (await host.wait_for("error"))["code"] == "invalid"
    assert (await room_state(here.room), await room_state(there.room)) == before
    assert await watcher_there.roundtrip() == []
    await host.close()
    await watcher_there.close()


async def test_a_person_in_both_spaces_acts_only_in_the_one_their_socket_is_in():
    here, there = await sync_to_async(make_two_spaces)()
    # The listener here co-hosts over there: over this socket they are only a listener.
    await sync_to_async(ParticipantFactory)(room=there.room, user=here.listener, role="cohost")
    socket, hello = await join(here.room, here.listener)
    assert hello["you"]["role"] == "listener"
    before = (await room_state(here.room), await room_state(there.room))
    await socket.send(type="promote", user=there.quiet.pk, role="speaker")
    assert (await socket.wait_for("error"))["code"] == "not_allowed"
    await socket.send(type="promote", user=here.quiet.pk, role="speaker")
    assert (await socket.wait_for("error"))["code"] == "not_allowed"
    await socket.send(type="end")
    assert (await socket.wait_for("error"))["code"] == "not_allowed"
    assert (await room_state(here.room), await room_state(there.room)) == before
    await socket.close()


# Who may connect at all.


def removed_person(s):
    Participant.objects.filter(room=s.room, user=s.quiet).update(
        removed_at=timezone.now(), left_at=timezone.now()
    )
    return s.quiet


def end_space(s):
    Room.objects.filter(pk=s.room.pk).update(state="ended", ended_at=timezone.now())
    return s.listener


def guests_off(s):
    Room.objects.filter(pk=s.room.pk).update(guests_may_listen=False)


@pytest.mark.parametrize(
    "setup, who, close_code, code",
    [
        (removed_person, "user", 4403, "removed"),
        (guests_off, "guest", 4403, "guests_off"),
        (None, "no_cookie", 4401, "no_guest_cookie"),
        (None, "forged_cookie", 4401, "no_guest_cookie"),
        (None, "unknown_slug", 4404, "not_found"),
        (None, "suspended", 4403, "suspended"),
    ],
)
async def test_people_who_may_not_listen_are_refused_at_connect(
    monkeypatch, setup, who, close_code, code
):
    s = await sync_to_async(make_scene)()
    user = await sync_to_async(setup)(s) if setup else None
    room, kwargs = s.room, {}
    if who == "no_cookie":
        kwargs = {"guest_id": None}
    elif who == "forged_cookie":
        kwargs = {"cookie": "guest-1:forgedsignature"}
    elif who == "unknown_slug":
        room = SimpleNamespace(slug="no-such-space")
    elif who == "suspended":
        from moderation import selectors

        user = s.listener
        monkeypatch.setattr(
            selectors, "suspension_of", lambda u: SimpleNamespace(explanation="Suspended.")
        )
    before = await room_state(s.room)
    socket = await open_socket(room, user, **kwargs)
    closing = await socket.wait_for("closing")
    assert closing["code"] == code and closing["message"]
    assert await socket.wait_closed() == close_code
    assert await room_state(s.room) == before
    assert not await s.room.presences.aexists()
    await socket.close()


async def test_an_ended_space_sends_its_final_state_and_closes():
    s = await sync_to_async(make_scene)()
    await sync_to_async(end_space)(s)
    socket, hello = await join(s.room, s.listener)
    assert hello["room"]["state"] == "ended"
    assert hello["you"]["may"] == []
    assert await socket.wait_closed() == 4410
    await socket.close()


async def test_staff_act_as_host_in_any_space_over_the_socket(staff_moderator, live_space):
    room, host = live_space.room, live_space.host
    guest, _ = await join(room, None)
    staff, hello = await join(room, staff_moderator)
    assert hello["you"]["role"] == "listener"
    assert {"end", "remove", "promote_cohost", "post_pin"} <= set(hello["you"]["may"])
    await staff.send(type="promote", user=live_space.listener.pk, role="cohost")
    assert (await guest.wait_for("cohost_promoted"))["actor"] == staff_moderator.pk
    # Staff may remove even the host: the longest-serving co-host takes over.
    await staff.send(type="remove", user=host.pk)
    await guest.wait_for("participant_removed")
    assert (await guest.wait_for("host_changed"))["user"]["id"] == live_space.cohost.pk
    await staff.send(type="end")
    await guest.wait_for("room_ended")
    assert await staff.wait_closed() == 4410
    await staff.close()
    await guest.close()
