from datetime import timedelta

import factory
from allauth.account.models import EmailAddress
from django.utils import timezone

from accounts.models import Profile, User


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"person{n}")
    email = factory.Sequence(lambda n: f"person{n}@example.org")
    password = factory.django.Password("a-long-test-password")

    @factory.post_generation
    def verified(self, create, extracted, **kwargs):
        if create and extracted is not False:
            EmailAddress.objects.create(user=self, email=self.email, verified=True, primary=True)

    @factory.post_generation
    def profile(self, create, extracted, **kwargs):
        if create:
            Profile.objects.create(user=self, display_name=extracted or f"{self.username.title()}")


# Spaces. Factories set up a scene directly; the behaviour under test goes through services.


class TopicFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "rooms.Topic"
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"topic-{n}")
    name = factory.LazyAttribute(lambda o: o.slug.replace("-", " ").title())


class RoomFactory(factory.django.DjangoModelFactory):
    """A live Space by default; pass state="scheduled" (with scheduled_for) for an upcoming one.
    The host's participant row comes from `with_host=True` (default for live Spaces)."""

    class Meta:
        model = "rooms.Room"
        skip_postgeneration_save = True

    title = factory.Sequence(lambda n: f"Space number {n}")
    description = "A conversation."
    host = factory.SubFactory(UserFactory)
    state = "live"
    started_at = factory.LazyFunction(timezone.now)
    scheduled_for = None

    @factory.post_generation
    def with_host(self, create, extracted, **kwargs):
        if create and (extracted if extracted is not None else self.state == "live"):
            ParticipantFactory(room=self, user=self.host, role="host")


class ScheduledRoomFactory(RoomFactory):
    state = "scheduled"
    started_at = None
    scheduled_for = factory.LazyFunction(lambda: timezone.now() + timedelta(days=1))


class ParticipantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "rooms.Participant"

    room = factory.SubFactory(RoomFactory)
    user = factory.SubFactory(UserFactory)
    role = "listener"
    is_muted = True
    role_since = factory.LazyFunction(timezone.now)
    joined_at = factory.LazyFunction(timezone.now)


class InviteFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "rooms.Invite"

    room = factory.SubFactory(RoomFactory)
    invitee = factory.SubFactory(UserFactory)
    inviter = factory.LazyAttribute(lambda o: o.room.host)
    role = "speaker"
    created_at = factory.LazyFunction(timezone.now)
    expires_at = factory.LazyAttribute(lambda o: o.created_at + timedelta(minutes=10))


# Moderation.


class PostFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "rooms.Post"

    room = factory.SubFactory(RoomFactory)
    author = factory.SubFactory(UserFactory)
    text = factory.Sequence(lambda n: f"Post number {n}")


class ReportFactory(factory.django.DjangoModelFactory):
    """A report about a Space by a signed-in person (set the target fields for others)."""

    class Meta:
        model = "moderation.Report"

    reporter = factory.SubFactory(UserFactory)
    reporter_key = factory.LazyAttribute(
        lambda o: f"user:{o.reporter.pk}" if o.reporter else f"ip:{o.ip_hash}"
    )
    target_type = "space"
    room = factory.SubFactory(RoomFactory)
    target_key = factory.LazyAttribute(lambda o: f"space:{o.room.pk}")
    accused = factory.LazyAttribute(lambda o: o.room.host)
    category = "spam"
    text = "Selling things all the time."
    snapshot = factory.LazyAttribute(lambda o: {"space": {"title": o.room.title}})


class SuspensionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "moderation.Suspension"

    user = factory.SubFactory(UserFactory)
    until = factory.LazyFunction(lambda: timezone.now() + timedelta(days=3))
    reason = "spam"


class BlockFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "moderation.Block"

    blocker = factory.SubFactory(UserFactory)
    blocked = factory.SubFactory(UserFactory)


def moderators_group():
    """The "Moderators" group the migration made; rebuilt the same way if a transactional test
    flushed the database since."""
    from django.contrib.auth.models import Group, Permission

    from moderation.permissions import MODERATOR_PERMISSIONS

    group, created = Group.objects.get_or_create(name="Moderators")
    if created:
        for app_label, codename in MODERATOR_PERMISSIONS:
            group.permissions.add(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )
    return group


class ModeratorFactory(UserFactory):
    """Staff in the Moderators group."""

    is_staff = True

    @factory.post_generation
    def moderator(self, create, extracted, **kwargs):
        if create:
            self.groups.add(moderators_group())
