"""Posts in a live Space's feed: signed-in participants write, host and co-hosts pin and delete.

Each change writes one RoomEvent row and is broadcast after commit.
"""

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from . import events
from .exceptions import ActionRefused, Code
from .models import Post, Room, RoomEvent
from .permissions import (
    MODERATORS,
    PRESENT,
    Standing,
    account_refusal,
    is_staff_moderator,
    standing_of,
)


def post_payload(post: Post) -> dict:
    return {
        "id": post.pk,
        "author": events.person(post.author),
        "text": post.text,
        "created_at": post.created_at.isoformat(),
        "pinned": post.pinned_at is not None,
    }


def _live_room(room: Room) -> Room:
    room = Room.objects.select_for_update().get(pk=room.pk)
    if room.state != Room.State.LIVE:
        raise ActionRefused(Code.WRONG_STATE, _("Posts are open while the Space is live."))
    return room


def _moderating(actor, room: Room) -> None:
    if (lost := account_refusal(actor)) is not None:
        raise lost.error()
    if is_staff_moderator(actor):
        return
    standing = standing_of(actor, room)
    if standing == Standing.REMOVED:
        raise ActionRefused(Code.REMOVED, _("You were removed from this Space."))
    if standing not in MODERATORS:
        raise ActionRefused(Code.NOT_ALLOWED, _("Only the host and co-hosts can do that."))


@transaction.atomic
def post_create(*, room: Room, author, text: str) -> Post:
    """Write a post (≤ 280 characters) into the feed. Logs and broadcasts `post_created`."""
    room = _live_room(room)
    standing = standing_of(author, room)
    if standing == Standing.REMOVED:
        raise ActionRefused(Code.REMOVED, _("You were removed from this Space."))
    if standing not in PRESENT:
        raise ActionRefused(Code.NOT_IN_SPACE, _("Join the Space first."))
    from moderation.selectors import suspension_of

    if suspension_of(author) is not None:
        raise ActionRefused(Code.NOT_ALLOWED, _("Your account is suspended."))
    text = text.strip()
    if not text or len(text) > settings.SPACES_MAX_POST_CHARS:
        raise ActionRefused(
            Code.INVALID,
            _("A post has 1 to %(most)s characters.") % {"most": settings.SPACES_MAX_POST_CHARS},
        )
    post = Post.objects.create(room=room, author=author, text=text)
    RoomEvent.objects.create(
        room=room, actor=author, verb="post_created", target=author, data={"post": post.pk}
    )
    events.emit(
        room.pk, "post_created", {"room": room.slug, "actor": author.pk, "post": post_payload(post)}
    )
    return post


def _post(room: Room, post_id: int) -> Post:
    post = (
        Post.objects.select_for_update()
        .filter(pk=post_id, room=room, deleted_at=None)
        .select_related("author")
        .first()
    )
    if post is None:
        raise ActionRefused(Code.INVALID, _("That post is not in this Space."))
    return post


@transaction.atomic
def post_pin(*, room: Room, post_id: int, pinned: bool, actor) -> Post:
    """Pin one post (unpinning any other) or unpin it. Logs and broadcasts `post_pinned`."""
    room = _live_room(room)
    _moderating(actor, room)
    post = _post(room, post_id)
    if (post.pinned_at is not None) == pinned:
        return post
    if pinned:
        Post.objects.filter(room=room).exclude(pinned_at=None).update(pinned_at=None)
    post.pinned_at = timezone.now() if pinned else None
    post.save(update_fields=["pinned_at"])
    RoomEvent.objects.create(
        room=room,
        actor=actor,
        verb="post_pinned" if pinned else "post_unpinned",
        target=post.author,
        data={"post": post.pk},
    )
    events.emit(
        room.pk,
        "post_pinned",
        {"room": room.slug, "actor": actor.pk, "post": post.pk, "pinned": pinned},
    )
    return post


@transaction.atomic
def post_delete(*, room: Room, post_id: int, actor) -> Post:
    """Delete a post: its author, the host, co-hosts or staff. Logs and broadcasts
    `post_deleted`; the text stays in the database for reports."""
    room = Room.objects.select_for_update().get(pk=room.pk)
    post = _post(room, post_id)
    if room.state != Room.State.LIVE and not is_staff_moderator(actor):
        # Once the Space is over only staff moderate its posts; a host whose socket missed
        # the end may not.
        raise ActionRefused(Code.WRONG_STATE, _("That only works while the Space is live."))
    if post.author_id != actor.pk:
        _moderating(actor, room)
    post.deleted_at = timezone.now()
    post.deleted_by = actor
    post.pinned_at = None
    post.save(update_fields=["deleted_at", "deleted_by", "pinned_at"])
    RoomEvent.objects.create(
        room=room, actor=actor, verb="post_deleted", target=post.author, data={"post": post.pk}
    )
    events.emit(room.pk, "post_deleted", {"room": room.slug, "actor": actor.pk, "post": post.pk})
    return post
