"""Who may see and enter a Space: the one rule every path asks.

- public: listed on the home page and in search; the link works for anyone;
- unlisted: never listed nor searchable; the link works for anyone who has it;
- private: only its host, people the host let in (invited or approved on request), and staff
  with `rooms.moderate_room`. Guests are refused. Everyone else gets the request-to-join page,
  or a 404 on the paths that only serve the Space's content (card, calendar, oEmbed, embed,
  report).

Pages, the room socket (rooms.live.viewer_connect), audio offers (rooms.media_bridge), the
calendar file, the card, oEmbed, the embed page and the report page call `room_visible_to`;
listings call `listed`. Anything new that serves a Space by its slug must call it too (the
sweep in tests/rooms/test_visibility.py fails for a route that forgets).
"""

from django.db.models import QuerySet

from .models import Room, SpaceAccess


def room_visible_to(room: Room, user) -> bool:
    """May `user` (a User, AnonymousUser or None) see the Space and go in?"""
    if room.visibility != Room.Visibility.PRIVATE:
        return True
    if user is None or not user.is_authenticated:
        return False
    return room_visible_to_id(room, user.pk)


def room_visible_to_id(room: Room, user_id: int | None) -> bool:
    """The same rule for a user known by id (None for a guest)."""
    if room.visibility != Room.Visibility.PRIVATE:
        return True
    if user_id is None:
        return False
    if room.host_id == user_id:
        return True
    if SpaceAccess.objects.filter(
        room_id=room.pk, user_id=user_id, status=SpaceAccess.Status.APPROVED
    ).exists():
        return True
    from django.contrib.auth import get_user_model

    from .permissions import is_staff_moderator

    user = get_user_model()._default_manager.filter(pk=user_id).first()
    return is_staff_moderator(user)


def listed(queryset: QuerySet[Room]) -> QuerySet[Room]:
    """Only the Spaces that may appear in lists and search: public ones."""
    return queryset.filter(visibility=Room.Visibility.PUBLIC)
