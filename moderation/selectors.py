"""Reads other apps ask of moderation: is this account suspended, whom has this person blocked."""

from dataclasses import dataclass


@dataclass(frozen=True)
class SuspensionView:
    explanation: str


def suspension_of(user) -> SuspensionView | None:
    """The person's current suspension, or None."""
    return None


def blocked_user_ids(user) -> list[int]:
    """Ids of the people this person has blocked."""
    return []
