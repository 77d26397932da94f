"""Reads for the Spaces pages, each in a fixed number of queries however big the Space."""

from dataclasses import dataclass, field
from datetime import timedelta

from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery
from django.http import Http404
from django.utils import timezone

from accounts.models import Follow, User

from . import live, permissions
from .models import (
    ON_STAGE,
    Invite,
    ListenerSeen,
    Participant,
    Reminder,
    Role,
    Room,
    SpaceAccess,
    Topic,
)
from .permissions import Standing
from .visibility import listed, room_visible_to

HOME_LIMIT = 30
AUDIENCE_SHOWN = 60  # listeners listed on the room page; the rest are counted
HANDS_SHOWN = 50
PAST_SHOWN = 20

_PRESENT = Q(participants__left_at__isnull=True, participants__removed_at__isnull=True)
_ROLE_ORDER = {Role.HOST: 0, Role.COHOST: 1, Role.SPEAKER: 2, Role.LISTENER: 3}


def rooms_with_counts(queryset: QuerySet[Room] | None = None) -> QuerySet[Room]:
    """Spaces with their host (and profile), topics, and present listener and speaker counts."""
    queryset = Room.objects.all() if queryset is None else queryset
    return (
        queryset.select_related("host__profile")
        .prefetch_related("topics")
        .annotate(
            listener_count=live.listener_count_expression(),
            speaker_count=Count(
                "participants", filter=_PRESENT & Q(participants__role__in=ON_STAGE)
            ),
        )
    )


@dataclass
class Home:
    live: list[Room]
    upcoming: list[Room]
    topics: list[Topic]
    topic: Topic | None


def home(*, topic_slug: str | None = None) -> Home:
    """Live Spaces (most listened first), upcoming ones (soonest first), topics to filter by."""
    topics = list(Topic.objects.all())
    topic = next((t for t in topics if t.slug == topic_slug), None)
    live = listed(Room.objects.filter(state=Room.State.LIVE))
    upcoming = listed(Room.objects.all()).filter(
        state=Room.State.SCHEDULED, scheduled_for__gte=timezone.now() - timedelta(hours=1)
    )
    if topic is not None:
        live, upcoming = live.filter(topics=topic), upcoming.filter(topics=topic)
    return Home(
        live=list(rooms_with_counts(live).order_by("-listener_count", "-started_at")[:HOME_LIMIT]),
        upcoming=list(
            upcoming.select_related("host__profile")
            .prefetch_related("topics")
            .order_by("scheduled_for")[:HOME_LIMIT]
        ),
        topics=topics,
        topic=topic,
    )


def room_by_slug(slug: str, viewer=None) -> Room:
    """The Space behind a share slug, with its host and topics, or 404. Given a viewer, also
    whether they follow its host (`viewer_follows_host`), in the same query."""
    rooms = Room.objects.select_related("host__profile").prefetch_related("topics")
    if viewer is not None and viewer.is_authenticated:
        rooms = rooms.annotate(
            viewer_follows_host=Exists(
                Follow.objects.filter(follower_id=viewer.pk, followee_id=OuterRef("host_id"))
            )
        )
    room = rooms.filter(slug=slug).first()
    if room is None:
        raise Http404("No such Space")
    return room


def visible_room_by_slug(slug: str, viewer) -> Room:
    """The Space behind a slug if the viewer may see it; 404 otherwise (a private Space's
    card, calendar, embed and oEmbed say nothing, not even that it exists)."""
    room = room_by_slug(slug)
    if not room_visible_to(room, viewer):
        raise Http404("No such Space")
    return room


@dataclass
class AccessRequests:
    waiting: list[SpaceAccess]
    let_in: list[SpaceAccess]


def access_requests(*, room: Room, viewer: User) -> AccessRequests | None:
    """For the host (or staff) of a private Space: who asks to join, and who was let in."""
    if room.visibility != Room.Visibility.PRIVATE:
        return None
    if room.host_id != viewer.pk and not permissions.is_staff_moderator(viewer):
        return None
    rows = list(
        SpaceAccess.objects.filter(room=room)
        .exclude(status=SpaceAccess.Status.DECLINED)
        .select_related("user__profile")
    )
    return AccessRequests(
        waiting=[a for a in rows if a.status == SpaceAccess.Status.REQUESTED],
        let_in=[a for a in rows if a.status == SpaceAccess.Status.APPROVED],
    )


@dataclass
class Person:
    """One person as a page shows them, with what the viewer may do to them."""

    user: User
    role: str
    is_muted: bool
    hand_raised: bool
    actions: list[str] = field(default_factory=list)


@dataclass
class RoomPage:
    room: Room
    viewer: Standing
    viewer_row: Participant | None
    viewer_is_staff: bool
    stage: list[Person]
    hands: list[Person]
    audience: list[Person]
    listener_count: int
    invites: list[Invite]
    has_reminder: bool
    self_actions: list[str]

    @property
    def viewer_present(self) -> bool:
        return self.viewer_row is not None and self.viewer_row.is_present

    def may(self, action: permissions.Action) -> bool:
        """Whether the rules let the viewer do `action` to the Space itself."""
        return (
            permissions.refusal(
                action, room_state=self.room.state, actor=self.viewer, staff=self.viewer_is_staff
            )
            is None
        )

    @property
    def more_listeners(self) -> int:
        return max(0, self.listener_count - len(self.hands) - len(self.audience))


# What a page may offer to do to someone, in the order buttons appear.
PERSON_ACTIONS = [
    permissions.Action.HAND_ACCEPT,
    permissions.Action.HAND_DECLINE,
    permissions.Action.INVITE_SPEAKER,
    permissions.Action.INVITE_COHOST,
    permissions.Action.MUTE,
    permissions.Action.MOVE_TO_AUDIENCE,
    permissions.Action.COHOST_REMOVE,
    permissions.Action.REMOVE,
]
SELF_ACTIONS = [
    permissions.Action.HAND_RAISE,
    permissions.Action.HAND_LOWER,
    permissions.Action.MUTE,
    permissions.Action.UNMUTE,
    permissions.Action.MOVE_TO_AUDIENCE,
    permissions.Action.LEAVE,
    permissions.Action.END,
]


def _offers(
    room: Room, viewer: Standing, staff: bool, row: Participant, viewer_id: int | None
) -> list[str]:
    """The buttons worth showing next to `row` for the viewer: allowed and not pointless."""
    if row.user_id == viewer_id:
        return []
    target = permissions.standing_from_row(row.user_id, room, row)
    offers = []
    for action in PERSON_ACTIONS:
        if permissions.refusal(
            action, room_state=room.state, actor=viewer, staff=staff, target=target
        ):
            continue
        hand = row.hand_raised_at is not None
        if action in (permissions.Action.HAND_ACCEPT, permissions.Action.HAND_DECLINE) and not hand:
            continue
        if action == permissions.Action.MUTE and row.is_muted:
            continue
        if action == permissions.Action.MOVE_TO_AUDIENCE and row.role == Role.LISTENER:
            continue
        if action == permissions.Action.INVITE_SPEAKER and hand:
            continue  # accepting the hand is the way
        offers.append(action.value)
    return offers


def _self_offers(room: Room, viewer: Standing, staff: bool, row: Participant | None) -> list[str]:
    present = row is not None and row.is_present
    offers = []
    for action in SELF_ACTIONS:
        target = viewer if action in (permissions.Action.MUTE, permissions.Action.UNMUTE) else None
        if action == permissions.Action.MOVE_TO_AUDIENCE:
            target = viewer
        if permissions.refusal(
            action,
            room_state=room.state,
            actor=viewer,
            staff=staff,
            target=target,
            is_self=target is not None,
        ):
            continue
        if action != permissions.Action.END and not present:
            continue
        if action == permissions.Action.MOVE_TO_AUDIENCE and row.role == Role.LISTENER:
            continue
        hand = present and row.hand_raised_at is not None
        if (action == permissions.Action.HAND_RAISE and hand) or (
            action == permissions.Action.HAND_LOWER and not hand
        ):
            continue
        muted = row.is_muted if present else True
        if (action == permissions.Action.MUTE and muted) or (
            action == permissions.Action.UNMUTE and not muted
        ):
            continue
        offers.append(action.value)
    return offers


def room_page(*, slug: str, viewer: User, room: Room | None = None) -> RoomPage:
    """Everything the room page shows a signed-in viewer, in a fixed number of queries: the
    room, topics, viewer's row, people on stage and raised hands, a slice of the audience, the
    listener count, the viewer's open invites and reminder, and the viewer's staff permission.
    Pass `room` when already loaded (by `room_by_slug`)."""
    room = room if room is not None else room_by_slug(slug)
    viewer_row = Participant.objects.filter(room=room, user=viewer).first()
    standing = permissions.standing_from_row(viewer.pk, room, viewer_row)
    staff = permissions.is_staff_moderator(viewer)
    up_front: list[Participant] = []
    audience: list[Participant] = []
    listener_count = 0
    if room.is_live:
        present = Participant.objects.present().filter(room=room).select_related("user__profile")
        up_front = list(present.filter(Q(role__in=ON_STAGE) | Q(hand_raised_at__isnull=False)))
        up_front.sort(key=lambda p: (_ROLE_ORDER[p.role], p.hand_raised_at or p.role_since, p.pk))
        audience = list(
            present.filter(role=Role.LISTENER, hand_raised_at__isnull=True).order_by("joined_at")[
                :AUDIENCE_SHOWN
            ]
        )
        listener_count = live.listener_count(room.pk)

    def person(row: Participant) -> Person:
        return Person(
            user=row.user,
            role=row.role,
            is_muted=row.is_muted,
            hand_raised=row.hand_raised_at is not None,
            actions=_offers(room, standing, staff, row, viewer.pk),
        )

    invites = []
    has_reminder = False
    if room.is_live and viewer_row is not None:
        invites = list(
            Invite.objects.filter(
                room=room, invitee=viewer, outcome="", expires_at__gt=timezone.now()
            ).select_related("inviter__profile")
        )
    if room.is_scheduled:
        has_reminder = Reminder.objects.filter(room=room, user=viewer).exists()
    return RoomPage(
        room=room,
        viewer=standing,
        viewer_row=viewer_row,
        viewer_is_staff=staff,
        stage=[person(p) for p in up_front if p.role in ON_STAGE][:HANDS_SHOWN],
        hands=[person(p) for p in up_front if p.role == Role.LISTENER][:HANDS_SHOWN],
        audience=[person(p) for p in audience],
        listener_count=listener_count,
        invites=invites,
        has_reminder=has_reminder,
        self_actions=_self_offers(room, standing, staff, viewer_row),
    )


@dataclass
class PublicPage:
    room: Room
    stage: list[Participant]
    listener_count: int
    has_reminder: bool


def public_page(*, slug: str, viewer: User | None = None, room: Room | None = None) -> PublicPage:
    """What anyone with the link sees: the Space, who is on stage, how many listen."""
    room = room if room is not None else room_by_slug(slug)
    stage: list[Participant] = []
    listener_count = 0
    if room.is_live:
        stage = list(
            Participant.objects.on_stage().filter(room=room).select_related("user__profile")
        )
        stage.sort(key=lambda p: (_ROLE_ORDER[p.role], p.role_since, p.pk))
        listener_count = live.listener_count(room.pk)
    has_reminder = bool(
        room.is_scheduled
        and viewer is not None
        and viewer.is_authenticated
        and Reminder.objects.filter(room=room, user=viewer).exists()
    )
    return PublicPage(
        room=room, stage=stage, listener_count=listener_count, has_reminder=has_reminder
    )


@dataclass
class MySpaces:
    live: list[Room]
    upcoming: list[Room]
    past: list[Room]


def my_spaces(*, user: User) -> MySpaces:
    """Spaces the person hosts or is in now, upcoming ones they host or want a reminder for, and
    past ones they hosted or took part in."""
    mine = Q(host=user) | Q(participants__user=user)
    live = rooms_with_counts(
        Room.objects.filter(
            Q(host=user) | Q(pk__in=Participant.objects.present().filter(user=user).values("room")),
            state=Room.State.LIVE,
        )
    ).order_by("-started_at")
    upcoming = (
        Room.objects.filter(
            Q(host=user) | Q(pk__in=Reminder.objects.filter(user=user).values("room")),
            state=Room.State.SCHEDULED,
        )
        .select_related("host__profile")
        .prefetch_related("topics")
        .order_by("scheduled_for")
    )
    past = (
        Room.objects.filter(
            pk__in=Room.objects.filter(mine).values("pk"),
            state__in=[Room.State.ENDED, Room.State.CANCELLED],
        )
        .select_related("host__profile", "tally")
        .prefetch_related("topics")
        .annotate(
            unique_listeners=Subquery(
                ListenerSeen.objects.filter(room=OuterRef("pk"))
                .values("room")
                .annotate(n=Count("pk"))
                .values("n")[:1]
            )
        )
        .order_by("-ended_at", "-created_at")[:PAST_SHOWN]
    )
    return MySpaces(live=list(live), upcoming=list(upcoming), past=list(past))
