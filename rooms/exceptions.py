"""The one error a room action raises when it is refused; nothing has changed when it is raised."""

from enum import StrEnum


class Code(StrEnum):
    """Stable machine codes: clients and tests match on these, people read the message."""

    NOT_SIGNED_IN = "not_signed_in"  # a guest tried something only people with accounts may do
    NOT_ALLOWED = "not_allowed"  # the actor's role (or lack of staff permission) does not allow it
    REMOVED = "removed"  # the actor was removed from this Space
    NOT_IN_SPACE = "not_in_space"  # the actor or the person acted on is not in the Space
    WRONG_STATE = "wrong_state"  # the Space or the person is not in a state where this applies
    LIMIT_REACHED = "limit_reached"  # co-host or speaker seats are full
    INVITE_EXPIRED = "invite_expired"
    INVITE_USED = "invite_used"  # already accepted or declined: invites are single-use
    INVITE_REVOKED = "invite_revoked"  # withdrawn, or its sender may no longer invite
    PRIVATE = "private"  # a private Space the person was not let into
    RATE_LIMITED = "rate_limited"  # too many of this action in a short time
    INVALID = "invalid"  # bad input: title too long, too many topics, time out of range


class ActionRefused(Exception):
    """A room action was refused. `code` is one of `Code`; `message` is for people."""

    def __init__(self, code: Code | str, message: str) -> None:
        super().__init__(message)
        self.code = Code(code)
        # A lazy translation is written out now, in the language of whoever is being answered.
        self.message = str(message)

    def __repr__(self) -> str:
        return f"ActionRefused({self.code.value!r}, {self.message!r})"
