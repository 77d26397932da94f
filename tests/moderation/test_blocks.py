"""Blocking: the button on a profile, and what a blocked person can no longer do to the one who
blocked them."""

import pytest
from django.test import Client
from django.urls import reverse

from moderation import selectors, services
from moderation.exceptions import ModerationRefused
from moderation.models import Block
from rooms import services as room_services
from rooms.exceptions import ActionRefused, Code
from rooms.models import Participant
from tests.factories import BlockFactory, InviteFactory, ParticipantFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_block_and_unblock_from_the_profile(client_for, user):
    troll = UserFactory()
    client = client_for(user)
    profile = reverse("profile_detail", args=[troll.username])
    page = client.get(profile).content.decode()
    assert 'data-testid="block-button">Block<' in page

    response = client.post(reverse("person_block", args=[troll.username]), follow=True)
    assert "You blocked" in response.content.decode()
    assert 'data-testid="block-button">Unblock<' in response.content.decode()
    assert selectors.blocked_user_ids(user) == [troll.pk]
    client.post(reverse("person_block", args=[troll.username]))  # twice: still one block
    assert Block.objects.count() == 1

    response = client.post(reverse("person_unblock", args=[troll.username]), follow=True)
    assert "You unblocked" in response.content.decode()
    assert selectors.blocked_user_ids(user) == []


def test_blocking_needs_a_signed_in_post_with_a_csrf_token(client, user):
    troll = UserFactory()
    url = reverse("person_block", args=[troll.username])
    assert client.post(url).status_code == 302  # to sign in
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(user)
    assert strict.post(url).status_code == 403
    strict.get(reverse("profile_detail", args=[troll.username]))
    assert strict.get(url).status_code == 405
    assert not Block.objects.exists()


def test_no_block_button_on_your_own_profile_or_for_guests(client, client_for, user):
    own = client_for(user).get(reverse("profile_detail", args=[user.username]))
    assert "block-button" not in own.content.decode()
    client.logout()
    guest = client.get(reverse("profile_detail", args=[user.username])).content.decode()
    assert "block-button" not in guest and "report-person" in guest


def test_you_cannot_block_yourself(user):
    with pytest.raises(ModerationRefused):
        services.block_create(blocker=user, blocked=user)


@pytest.fixture
def blocked_in_space(space):
    """The host of a live Space has blocked one of its listeners."""
    BlockFactory(blocker=space.host, blocked=space.listener)
    return space


def test_a_blocked_person_cannot_raise_a_hand_in_the_blockers_space(blocked_in_space):
    space = blocked_in_space
    with pytest.raises(ActionRefused) as refused:
        room_services.hand_raise(room=space.room, user=space.listener)
    assert refused.value.code == Code.NOT_ALLOWED
    assert refused.value.message == "You can't speak in this Space."
    assert Participant.objects.get(room=space.room, user=space.listener).hand_raised_at is None


def test_the_blocker_and_their_cohosts_cannot_bring_them_on_stage(blocked_in_space):
    space = blocked_in_space
    cohost = ParticipantFactory(room=space.room, role="cohost").user
    for inviter in (space.host, cohost):
        with pytest.raises(ActionRefused) as refused:
            room_services.invite_create(room=space.room, invitee=space.listener, inviter=inviter)
        assert refused.value.code == Code.NOT_ALLOWED
    with pytest.raises(ActionRefused):
        room_services.speaker_promote(room=space.room, user=space.listener, actor=space.host)


def test_a_hand_raised_or_an_invite_sent_before_the_block_goes_nowhere(space):
    from django.utils import timezone

    Participant.objects.filter(room=space.room, user=space.listener).update(
        hand_raised_at=timezone.now()
    )
    invite = InviteFactory(room=space.room, invitee=space.listener)
    services.block_create(blocker=space.host, blocked=space.listener)
    with pytest.raises(ActionRefused):
        room_services.hand_accept(room=space.room, user=space.listener, actor=space.host)
    with pytest.raises(ActionRefused):
        room_services.invite_accept(invite=invite, user=space.listener)
    assert Participant.objects.get(room=space.room, user=space.listener).role == "listener"


def test_blocks_are_one_way_and_only_about_the_blockers_spaces(space):
    # The listener blocked the host: the host may still invite them (they can decline).
    BlockFactory(blocker=space.listener, blocked=space.host)
    other = UserFactory()
    BlockFactory(blocker=other, blocked=space.speaker)
    assert room_services.invite_create(room=space.room, invitee=space.listener, inviter=space.host)
    room_services.hand_raise(room=space.room, user=space.listener)


def test_after_unblocking_they_may_ask_again(blocked_in_space):
    space = blocked_in_space
    services.block_delete(blocker=space.host, blocked=space.listener)
    assert room_services.hand_raise(room=space.room, user=space.listener).hand_raised_at


def test_blocking_by_handle_ignores_its_case(client_for, user):
    troll = UserFactory(username="loud_one")
    client = client_for(user)
    response = client.post(reverse("person_block", args=["Loud_One"]))
    assert response.status_code == 302
    assert response["Location"] == reverse("profile_detail", args=["loud_one"])
    assert selectors.blocked_user_ids(user) == [troll.pk]
    client.post(reverse("person_unblock", args=["LOUD_ONE"]))
    assert selectors.blocked_user_ids(user) == []
