"""The live room's side of the services: who is on a socket (presence), and socket actions.

Sync functions, run by the consumer through `database_sync_to_async`. Presence rows are the
room's truth about open sockets, so counts survive a process restart: a socket that vanished
without `disconnect` is swept once its heartbeat is stale (`presence_sweep`, a Celery task).
"""

import contextlib
import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from importlib import import_module
from typing import Any

from django.conf import settings
from django.contrib.auth import HASH_SESSION_KEY
from django.core import signing
from django.db import transaction
from django.db.models import Count, Exists, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from django.utils.translation import gettext as _

from spaces_project import ratelimit

from . import events, insights, posts, questions, services
from .exceptions import ActionRefused
from .models import Invite, Participant, Presence, Room
from .permissions import Standing, standing_of
from .realtime import Coalescer
from .visibility import room_visible_to

GUEST_COOKIE = "spaces_guest"
GUEST_SALT = "rooms.guest"


def new_guest_id() -> str:
    return secrets.token_urlsafe(12)


def guest_id_from_cookie(value: str | None) -> str | None:
    """The guest id in a cookie set by the public page, or None if missing or forged."""
    if not value:
        return None
    try:
        return signing.get_cookie_signer(salt=GUEST_SALT).unsign(
            value, max_age=settings.SPACES_GUEST_COOKIE_AGE
        )
    except signing.BadSignature:
        return None


def guest_cookie_value(guest_id: str) -> str:
    return signing.get_cookie_signer(salt=GUEST_SALT).sign(guest_id)


class Refused(Exception):
    """A socket may not connect, or a live action is refused outside the room services.
    `ends_socket`: the person lost their account's powers (suspended, deactivated, signed out),
    so the socket closes with `close_code` instead of answering with an error."""

    def __init__(
        self, code: str, message: str, close_code: int = 4403, *, ends_socket: bool = False
    ) -> None:
        super().__init__(message)
        self.code, self.message, self.close_code = code, message, close_code
        self.ends_socket = ends_socket


@dataclass
class Viewer:
    """One socket's person: a signed-in user or a guest, in one Space."""

    room_id: int
    channel_name: str
    user_id: int | None = None
    guest_id: str | None = None
    role: str = "guest"
    # The media worker channel holding this socket's audio, in media worker mode.
    media_worker: str | None = None
    # Posts by people this viewer has blocked are not delivered to them.
    hidden_authors: frozenset[int] = field(default_factory=frozenset)
    # Whether this socket's audio is on (it counts as listening).
    listening: bool = False
    # The session the socket was opened with and its auth hash: every action checks that the
    # session still exists (no sign-out) and the password has not changed since.
    session_key: str | None = None
    auth_hash: str | None = None
    # A guest's counter of open sockets from their address in this Space (given back on close).
    socket_slot: str | None = None

    @property
    def is_guest(self) -> bool:
        return self.user_id is None

    @property
    def peer_id(self) -> str:
        """The audio router's id for this socket's connection."""
        return f"s:{self.channel_name}"

    def wants(self, event: dict[str, Any]) -> bool:
        if event["type"] == "post_created" and self.hidden_authors:
            return event["post"]["author"]["id"] not in self.hidden_authors
        return True


@dataclass(frozen=True)
class RoomGate:
    """What admitting a guest needs to know of a Space: read once and shared by a process's
    guest joins (rooms.realtime.Hub.room_gate) while no room event says it changed."""

    room_id: int
    state: str
    private: bool
    guests_may_listen: bool

    @classmethod
    def of(cls, room: Room) -> "RoomGate":
        return cls(
            room_id=room.pk,
            state=room.state,
            private=room.visibility == Room.Visibility.PRIVATE,
            guests_may_listen=room.guests_may_listen,
        )


def room_gate(slug: str) -> RoomGate | None:
    """The gate of the Space at `slug` (None if there is none): one query."""
    row = (
        Room.objects.filter(slug=slug)
        .values_list("pk", "state", "visibility", "guests_may_listen")
        .first()
    )
    if row is None:
        return None
    pk, state, visibility, guests_may_listen = row
    return RoomGate(pk, state, visibility == Room.Visibility.PRIVATE, guests_may_listen)


def guest_admit(
    *,
    gate: RoomGate | None,
    guest_cookie: str | None,
    channel_name: str,
    client_address: str | None = None,
) -> Viewer:
    """Admit a guest's socket to the Space behind `gate`, without the database: the connect
    rate and the sockets per address are counters in the shared cache.

    Refuses unknown Spaces (4404), private ones (4403), guests connecting too often from one
    address (4429), guests without the public page's cookie (4401), Spaces whose host turned
    guest listening off (4403) and too many sockets from one address (4429). Recording the
    socket's presence is the caller's (rooms.presence for a socket, a row in viewer_connect).
    """
    request = {
        "gate": gate,
        "guest_cookie": guest_cookie,
        "channel_name": channel_name,
        "client_address": client_address,
    }
    result = guest_admit_all([request])[0]
    if isinstance(result, Refused):
        raise result
    return result


def guest_admit_all(requests: list[dict[str, Any]]) -> list[Viewer | Refused]:
    """`guest_admit` for several sockets at once, a refusal in its socket's place: the
    counters of all of them are counted together (two round trips to Redis for a batch of
    joins, rooms.consumers.GuestAdmissions)."""
    results: list[Viewer | Refused] = []
    addresses: list[str] = []
    for request in requests:
        gate = request["gate"]
        address = ratelimit.client_key(request.get("client_address"))
        addresses.append(address)
        if gate is None:
            results.append(Refused("not_found", _("There is no Space at this link."), 4404))
        elif gate.private:
            results.append(
                Refused("private", "This Space is private. Ask the host to let you in.", 4403)
            )
        else:
            results.append(
                Viewer(
                    room_id=gate.room_id,
                    channel_name=request["channel_name"],
                    role=Standing.GUEST,
                )
            )
    # The connect rate per address, counted for every socket that got this far.
    counting = [i for i, result in enumerate(results) if isinstance(result, Viewer)]
    hits = ratelimit.count_hits([f"rl:guest_socket:{addresses[i]}" for i in counting], 60)
    for i, hit in zip(counting, hits, strict=True):
        request, viewer = requests[i], results[i]
        if hit > settings.SPACES_GUEST_CONNECT_RATE:
            results[i] = Refused(
                "rate_limited", _("Too many connections; try again in a minute."), 4429
            )
            continue
        viewer.guest_id = guest_id_from_cookie(request.get("guest_cookie"))
        if viewer.guest_id is None:
            results[i] = Refused("no_guest_cookie", _("Open the Space's link to listen."), 4401)
        elif not request["gate"].guests_may_listen:
            results[i] = Refused("guests_off", _("Sign in to listen to this Space."), 4403)
    # The sockets open per address in the Space (given back on close).
    slotted = [i for i, result in enumerate(results) if isinstance(result, Viewer)]
    names = [guest_slot_name(results[i].room_id, addresses[i]) for i in slotted]
    open_now = ratelimit.count_hits(names, GUEST_SLOT_SECONDS)
    for i, name, count in zip(slotted, names, open_now, strict=True):
        if count == 0:  # the cache could not count: admission does not depend on it
            continue
        if count > settings.SPACES_GUEST_SOCKETS_PER_ADDRESS:
            release_socket_slot(name)
            results[i] = Refused(
                "too_many_sockets",
                _("Too many listeners from your network; try again later."),
                4429,
            )
        else:
            results[i].socket_slot = name
    return results


def viewer_connect(
    *,
    slug: str,
    user,
    guest_cookie: str | None,
    channel_name: str,
    client_address: str | None = None,
    session=None,
) -> tuple[Viewer, str]:
    """Admit a socket to a Space: join it as a participant (signed in) and record presence.

    Refuses unknown Spaces (4404), people not let into a private Space, suspended people and
    removed people (4403), and guests as `guest_admit` does. The room socket admits guests
    with `guest_admit` and keeps their presence in the process (rooms.presence).
    """
    room = Room.objects.filter(slug=slug).first()
    if room is None:
        raise Refused("not_found", _("There is no Space at this link."), 4404)
    signed_in = user is not None and user.is_authenticated
    if not signed_in:
        viewer = guest_admit(
            gate=RoomGate.of(room),
            guest_cookie=guest_cookie,
            channel_name=channel_name,
            client_address=client_address,
        )
        if room.state == Room.State.LIVE:
            Presence.objects.create(channel_name=channel_name, room=room, guest_id=viewer.guest_id)
        return viewer, room.state
    if not room_visible_to(room, user):
        raise Refused("private", "This Space is private. Ask the host to let you in.", 4403)
    viewer = Viewer(room_id=room.pk, channel_name=channel_name)
    account_check(user.pk)
    viewer.user_id = user.pk
    viewer.hidden_authors = blocked_by(user.pk)
    if session is not None and session.session_key:
        viewer.session_key = session.session_key
        viewer.auth_hash = session.get(HASH_SESSION_KEY)
    if room.state != Room.State.LIVE:
        viewer.role = standing_of(user, room)
        return viewer, room.state
    standing = standing_of(user, room)
    if standing == Standing.REMOVED:
        raise Refused("removed", _("You were removed from this Space."), 4403)
    sockets = Presence.objects.filter(room=room, user_id=user.pk).count()
    if sockets >= settings.SPACES_SOCKETS_PER_PERSON:
        raise Refused(
            "too_many_sockets",
            _("You have this Space open in too many tabs; close one and try again."),
            4429,
        )
    try:
        viewer.role = services.participant_join(room=room, user=user).role
    except ActionRefused as refused:  # e.g. suspended since the check above
        raise Refused(refused.code.value, refused.message, 4403) from None
    # Channel names are new for every socket: one INSERT, not a locked read-then-write.
    Presence.objects.create(channel_name=channel_name, room=room, user_id=viewer.user_id)
    return viewer, room.state


def room_state(room_id: int) -> str | None:
    """The Space's state (None if it no longer exists)."""
    return Room.objects.filter(pk=room_id).values_list("state", flat=True).first()


def blocked_by(user_id: int) -> frozenset[int]:
    """Whose posts the person does not see: the people they blocked."""
    from accounts.models import User
    from moderation.selectors import blocked_user_ids

    return frozenset(blocked_user_ids(User(pk=user_id)))


def viewer_touch(*, viewer: Viewer) -> str | None:
    """Heartbeat: the socket is still there. Returns the Space's state (None if it is gone).

    The state check lets a socket learn of an end it was not told about: with the in-memory
    channel layer, events from the Celery worker process (an auto-end) reach no socket. A row
    swept while the socket lived on (a stalled process) is written again.
    """
    state = Room.objects.filter(pk=viewer.room_id).values_list("state", flat=True).first()
    touched = Presence.objects.filter(channel_name=viewer.channel_name).update(
        last_seen=timezone.now()
    )
    if not touched and state == Room.State.LIVE:
        Presence.objects.create(
            room_id=viewer.room_id,
            user_id=viewer.user_id,
            guest_id=viewer.guest_id or "",
            channel_name=viewer.channel_name,
            listening=viewer.listening,
        )
    return state


def viewer_listening(*, viewer: Viewer, listening: bool) -> None:
    """The socket's audio was answered (or closed): it counts as listening (or not)."""
    viewer.listening = listening
    Presence.objects.filter(channel_name=viewer.channel_name).update(listening=listening)
    if listening:  # counted in memory for the host's insights, flushed in bulk
        insights.note_listener(viewer.room_id, user_id=viewer.user_id, guest_id=viewer.guest_id)


def viewer_disconnect(*, channel_name: str, socket_slot: str | None = None) -> None:
    Presence.objects.filter(channel_name=channel_name).delete()
    release_socket_slot(socket_slot)


def release_socket_slot(socket_slot: str | None) -> None:
    if socket_slot is not None:
        with contextlib.suppress(Exception):  # a counter that expired, or the cache is down
            ratelimit.shared_cache().decr(socket_slot)


GUEST_SLOT_SECONDS = 6 * 60 * 60  # a counter left by a crashed process is forgotten after this


def guest_slot_name(room_id: int, address: str) -> str:
    return f"rl:guest_sockets:{room_id}:{address}"


def presence_sweep(*, older_than: timedelta | None = None) -> list[int]:
    """Forget sockets whose heartbeat stopped (a crashed process); returns the rooms touched."""
    age = older_than or timedelta(seconds=settings.SPACES_PRESENCE_STALE_SECONDS)
    stale = Presence.objects.filter(last_seen__lt=timezone.now() - age)
    rooms = sorted(set(stale.values_list("room_id", flat=True)))
    stale.delete()
    for room_id in rooms:
        transaction.on_commit(lambda room_id=room_id: publish_listener_count(room_id))
    return rooms


def listener_count(room_id: int) -> int:
    """People listening to the Space: their audio is connected and they are not on stage.
    Guests included; a person with two tabs counts once. The one count every page shows (room,
    home cards, link previews); a page that is only open does not count."""
    return listener_counts([room_id]).get(room_id, 0)


def listener_count_expression():
    """`listener_count` as an SQL expression on a Room queryset (home cards sort by it)."""
    on_stage = Participant.objects.on_stage().filter(
        room_id=OuterRef("room_id"), user_id=OuterRef("user_id")
    )
    people = (
        Presence.objects.filter(room_id=OuterRef("pk"), listening=True)
        .exclude(Exists(on_stage))
        .values("room_id")
        .annotate(
            n=Count("user_id", distinct=True)
            + Count("guest_id", distinct=True, filter=Q(user=None))
        )
        .values("n")
    )
    return Coalesce(Subquery(people), 0)


def listener_counts(room_ids: list[int]) -> dict[int, int]:
    """`listener_count` for many Spaces in one query (home cards)."""
    if not room_ids:
        return {}
    on_stage = Participant.objects.on_stage().filter(
        room_id=OuterRef("room_id"), user_id=OuterRef("user_id")
    )
    rows = (
        Presence.objects.filter(room_id__in=room_ids, listening=True)
        .exclude(Exists(on_stage))
        .values("room_id")
        .annotate(
            people=Count("user_id", distinct=True),
            guests=Count("guest_id", distinct=True, filter=Q(user=None)),
        )
    )
    return {row["room_id"]: row["people"] + row["guests"] for row in rows}


AUDIENCE_LIMIT = 50


def audience(room_id: int, limit: int = AUDIENCE_LIMIT) -> dict[str, Any]:
    """Who is in the audience, for the listeners grid: the first `limit` signed-in listeners
    with the page open (oldest first; the host may invite them whether or not their audio is
    on), and how many guests have it open. Bounded whatever the size of the room."""
    from .snapshot import person_payload

    present_users = Presence.objects.filter(room_id=room_id).exclude(user=None).values("user_id")
    rows = (
        Participant.objects.present()
        .filter(room_id=room_id, role="listener", user_id__in=present_users)
        .select_related("user__profile")
        .order_by("joined_at", "pk")[:limit]
    )
    guests = (
        Presence.objects.filter(room_id=room_id, user=None).values("guest_id").distinct().count()
    )
    return {
        "people": [
            {**person_payload(row.user), "hand": row.hand_raised_at is not None} for row in rows
        ],
        "guests": guests,
    }


def host_present(room_id: int) -> bool:
    """Whether the Space's host has a socket open in it."""
    room = Room.objects.filter(pk=room_id).values("host_id").first()
    return (
        room is not None
        and Presence.objects.filter(room_id=room_id, user_id=room["host_id"]).exists()
    )


def listeners_payload(room_id: int) -> dict[str, Any]:
    """The coalesced `listeners` event: the count and the bounded listeners grid."""
    return {"count": listener_count(room_id), "audience": audience(room_id)}


def publish_listener_count(room_id: int) -> None:
    events.broadcast(room_id, "listeners", listeners_payload(room_id))


# Actions arriving over the socket: the message names the operation; the actor and the room
# come from the viewer, roles from the database (the services check them).


def account_check(user_id: int, viewer: Viewer | None = None):
    """The person's account, if it still has its powers; raises Refused (ending the socket)
    when it is deactivated or suspended, or when the viewer's session was signed out or its
    password changed."""
    from accounts.models import User
    from moderation.selectors import suspension_of  # moderation builds on rooms

    user = User.objects.filter(pk=user_id).select_related("profile").first()
    if user is None or not user.is_active:
        raise Refused("inactive", _("This account is deactivated."), 4403, ends_socket=True)
    suspension = suspension_of(user)
    if suspension is not None:
        raise Refused("suspended", suspension.explanation, 4403, ends_socket=True)
    if viewer is not None and viewer.session_key is not None:
        store = import_module(settings.SESSION_ENGINE).SessionStore()
        # Cookie-only sessions cannot be looked up (nor revoked): the auth hash still is checked.
        stored = settings.SESSION_ENGINE != "django.contrib.sessions.backends.signed_cookies"
        if (stored and not store.exists(viewer.session_key)) or not (
            viewer.auth_hash
            and constant_time_compare(viewer.auth_hash, user.get_session_auth_hash())
        ):
            raise Refused(
                "signed_out", _("You were signed out; sign in again."), 4401, ends_socket=True
            )
    return user


def _user(user_id: int):
    from accounts.models import User

    found = User.objects.filter(pk=user_id, is_active=True).select_related("profile").first()
    if found is None:
        raise Refused("not_in_space", _("That person is not in this Space."))
    return found


def act(*, viewer: Viewer, operation: str, **fields: Any) -> Any:
    if viewer.is_guest:
        raise Refused("not_signed_in", _("Sign in to do that."))
    actor = account_check(viewer.user_id, viewer)
    if not ratelimit.allow(
        "person_actions",
        str(actor.pk),
        limit=settings.SPACES_PERSON_ACTIONS,
        seconds=settings.SPACES_PERSON_WINDOW,
    ) or (
        operation == "post"
        and not ratelimit.allow(
            "person_posts", str(actor.pk), limit=settings.SPACES_PERSON_POSTS, seconds=60
        )
    ):
        raise Refused("rate_limited", _("Slow down: too many actions from your account."))
    room = Room.objects.get(pk=viewer.room_id)
    target = _user(fields["target"]) if "target" in fields else None
    match operation:
        case "hand_raise":
            return services.hand_raise(room=room, user=actor, question=fields.get("question"))
        case "question_upvote":
            return questions.question_upvote(room=room, question_id=fields["question"], user=actor)
        case "question_remove":
            return questions.question_remove(room=room, question_id=fields["question"], actor=actor)
        case "hand_lower":
            return services.hand_lower(room=room, user=actor)
        case "hand_accept":
            return services.hand_accept(room=room, user=target, actor=actor)
        case "hand_decline":
            return services.hand_decline(room=room, user=target, actor=actor)
        case "invite":
            return services.invite_create(
                room=room, invitee=target, inviter=actor, role=fields["role"]
            )
        case "invite_accept" | "invite_decline":
            invite = Invite.objects.filter(pk=fields["invite"], room=room).first()
            if invite is None or invite.invitee_id != actor.pk:
                raise Refused("not_found", _("There is no such invite for you in this Space."))
            if operation == "invite_accept":
                return services.invite_accept(invite=invite, user=actor)
            return services.invite_decline(invite=invite, user=actor)
        case "invite_revoke":
            invite = Invite.objects.filter(pk=fields["invite"], room=room).first()
            if invite is None:
                raise Refused("not_found", _("There is no such invite in this Space."))
            return services.invite_revoke(invite=invite, actor=actor)
        case "promote":
            promote = (
                services.cohost_promote
                if fields["role"] == "cohost"
                else (services.speaker_promote)
            )
            return promote(room=room, user=target, actor=actor)
        case "move_to_audience":
            return services.participant_move_to_audience(room=room, user=target, actor=actor)
        case "cohost_remove":
            return services.cohost_remove(room=room, user=target, actor=actor)
        case "mute":
            change = services.speaker_mute if fields["muted"] else services.speaker_unmute
            return change(room=room, user=target, actor=actor)
        case "remove":
            return services.participant_remove(room=room, user=target, actor=actor)
        case "recording_consent":
            from .recordings import set_recording_consent

            return set_recording_consent(room=room, user=actor, consent=fields["consent"])
        case "end":
            return services.room_end(room=room, actor=actor)
        case "leave":
            return services.participant_leave(room=room, user=actor)
        case "post":
            return posts.post_create(room=room, author=actor, text=fields["text"])
        case "post_pin":
            return posts.post_pin(
                room=room, post_id=fields["post"], pinned=fields["pinned"], actor=actor
            )
        case "post_delete":
            return posts.post_delete(room=room, post_id=fields["post"], actor=actor)
    raise ValueError(f"unknown operation {operation}")


class ReactionTally:
    """Reactions are added up per room and sent as one burst per interval."""

    def __init__(self, interval: float) -> None:
        self.counts: dict[int, dict[str, int]] = {}
        self.coalescer = Coalescer(interval, self._flush)

    def add(self, room_id: int, emoji: str) -> None:
        room = self.counts.setdefault(room_id, {})
        room[emoji] = room.get(emoji, 0) + 1
        insights.note_reaction(room_id)
        self.coalescer.mark(room_id)

    async def _flush(self, room_id: int) -> None:
        counts = self.counts.pop(room_id, None)
        if counts:
            await events.abroadcast(room_id, "reactions", {"counts": counts})
        await insights.aflush_if_due()


# Whether the host had a socket open at the last flush, per Space, in this process, and the
# listeners grid's people last sent.
_host_seen: dict[int, bool] = {}
_people_sent: dict[int, list[dict[str, Any]]] = {}


def _presence_state(room_id: int) -> tuple[dict[str, Any], bool]:
    return listeners_payload(room_id), host_present(room_id)


async def _flush_count(room_id: int) -> None:
    from channels.db import database_sync_to_async

    from .realtime import hub

    # Guests' presence written in this tick is counted in this tick.
    presence = hub().presence
    if presence.pending:
        await presence.flush()
    # Count in a worker thread, send from the event loop: a worker thread that sends through
    # `async_to_sync` waits on this loop, and hangs the process if the loop stops (shutdown).
    payload, host_here = await database_sync_to_async(_presence_state)(room_id)
    # The named part of the grid (up to 50 people) goes out only when it changed: in a big room
    # the oldest listeners rarely change while the count does, and every socket gets the frame.
    people = payload["audience"]["people"]
    if _people_sent.get(room_id) == people:
        payload = {**payload, "audience": {"guests": payload["audience"]["guests"]}}
    _people_sent[room_id] = people
    await events.abroadcast(room_id, "listeners", payload)
    await insights.aflush_if_due()
    # The host's last socket closed (or one opened again): tell the room. The page shows a
    # notice after a short grace, so a reload does not flash it.
    before = _host_seen.get(room_id)
    _host_seen[room_id] = host_here
    if before is not None and before != host_here:
        await events.abroadcast(room_id, *events.host_presence(present=host_here))
    if not _local_sockets(room_id):  # this process holds nobody in the room: start afresh
        _host_seen.pop(room_id, None)
        _people_sent.pop(room_id, None)


def _local_sockets(room_id: int) -> int:
    from .realtime import hub

    return hub().local_count(room_id)


# Per process: listener counts at most once a second per room, reactions as bursts.
counts = Coalescer(1.0, _flush_count)
reactions = ReactionTally(0.25)
