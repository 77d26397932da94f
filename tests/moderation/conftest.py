from types import SimpleNamespace

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from tests.factories import (
    ModeratorFactory,
    ParticipantFactory,
    PostFactory,
    RoomFactory,
    UserFactory,
)


def fresh(user):
    """The same person read again: Django caches permissions on the instance."""
    return type(user).objects.get(pk=user.pk)


@pytest.fixture
def moderator(db):
    """Staff in the Moderators group (made by the migration)."""
    return fresh(ModeratorFactory(email="mod@example.org"))


@pytest.fixture
def staff_without_group(db):
    """Staff who may look at the queue but hold none of the moderation permissions."""
    user = UserFactory(is_staff=True, email="staff@example.org")
    user.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="moderation",
            codename__in=["view_report", "view_moderationaction", "view_suspension"],
        )
    )
    return fresh(user)


@pytest.fixture
def space(db):
    """A live Space with a host, a speaker, a listener and a post by the listener."""
    room = RoomFactory(title="Night talk")
    speaker = ParticipantFactory(room=room, role="speaker").user
    listener = ParticipantFactory(room=room, hand_raised_at=None).user
    post = PostFactory(room=room, author=listener, text="Buy cheap followers at spam.example")
    return SimpleNamespace(room=room, host=room.host, speaker=speaker, listener=listener, post=post)


@pytest.fixture
def now():
    return timezone.now()
