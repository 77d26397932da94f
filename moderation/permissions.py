"""Who may do which moderation action: the one place the rules live.

The admin asks `can` before it offers or runs an action; the services ask `check` again, so a
task or a script cannot act for someone who may not. Every action needs an active staff
account and the Django permissions below, which the "Moderators" group (migration 0002) holds.
Superusers have every permission.
"""

from enum import StrEnum

from django.utils.translation import gettext as _

from .exceptions import ModerationRefused


class Ability(StrEnum):
    REVIEW = "review"  # see the queue, dismiss reports
    END_SPACE = "end_space"
    REMOVE_PERSON = "remove_person"
    DELETE_POST = "delete_post"
    SUSPEND = "suspend"
    LIFT = "lift"


REVIEW = "moderation.change_report"
ACT_IN_SPACES = "rooms.moderate_room"  # the rooms services' own staff rule
NEEDS: dict[Ability, tuple[str, ...]] = {
    Ability.REVIEW: (REVIEW,),
    Ability.END_SPACE: (REVIEW, ACT_IN_SPACES),
    Ability.REMOVE_PERSON: (REVIEW, ACT_IN_SPACES),
    Ability.DELETE_POST: (REVIEW, ACT_IN_SPACES),
    Ability.SUSPEND: ("moderation.add_suspension",),
    Ability.LIFT: ("moderation.change_suspension",),
}

# Exactly what the Moderators group holds (migration 0002): the actions above plus what the
# admin needs to show the queue, the audit log, suspensions (change includes view) and the
# Spaces, people and posts that reports point to.
MODERATOR_PERMISSIONS: tuple[tuple[str, str], ...] = (
    ("moderation", "view_report"),
    ("moderation", "change_report"),
    ("moderation", "view_moderationaction"),
    ("moderation", "add_suspension"),
    ("moderation", "change_suspension"),
    ("rooms", "moderate_room"),
    ("rooms", "view_room"),
    ("rooms", "view_participant"),
    ("rooms", "view_post"),
)


def can(user, ability: Ability) -> bool:
    if user is None or not user.is_authenticated or not user.is_active or not user.is_staff:
        return False
    return user.has_perms(NEEDS[ability])


def check(user, ability: Ability) -> None:
    if not can(user, ability):
        raise ModerationRefused("not_allowed", _("You don't have the permission to do that."))
