"""@handles: the public, unique name of a person in URLs (`/u/<handle>/`) and mentions.

A handle is never derived from an email address: people choose it at sign-up; accounts created
without one (social sign-in, `createsuperuser`) get `user` and random digits until they pick one.
"""

import re
import secrets

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

HANDLE_MIN = 3
HANDLE_MAX = 20
HANDLE_RE = re.compile(rf"^[a-z0-9_]{{{HANDLE_MIN},{HANDLE_MAX}}}$")

# Names that would let someone pass for the site, its staff, or shadow a path.
RESERVED = frozenset(
    """
    about abuse account accounts admin administrator api app apps assets auth billing blog
    contact dashboard embed everyone favicon help here home host hosts info login logout
    mail me media mod moderation moderator moderators new news noreply notifications null
    official oembed privacy profile report root rooms security settings signin signout
    signup space spaces staff static status support system team terms test undefined user
    users webmaster www you
    """.split()
)


def normalize(value: str) -> str:
    """Handles compare case-insensitively: stored lower-case, typed with or without the @."""
    return value.strip().removeprefix("@").lower()


def validate_handle_format(value: str) -> None:
    if not HANDLE_RE.match(normalize(value)):
        raise ValidationError(
            _("Use %(min)d to %(max)d letters, digits or underscores (no spaces or accents).")
            % {"min": HANDLE_MIN, "max": HANDLE_MAX},
            code="invalid_handle",
        )
    if normalize(value).isdigit():
        raise ValidationError(_("A handle needs at least one letter."), code="invalid_handle")


def validate_handle_not_reserved(value: str) -> None:
    if normalize(value) in RESERVED:
        raise ValidationError(_("This handle is reserved. Choose another."), code="reserved")


# allauth's ACCOUNT_USERNAME_VALIDATORS points here (it wants a list).
handle_validators = [validate_handle_format, validate_handle_not_reserved]


def handle_generate() -> str:
    """A neutral placeholder handle (`user` and 8 digits), free at the time of the call."""
    from .models import User

    while True:
        candidate = f"user{secrets.randbelow(10**8):08d}"
        if not User.objects.filter(username__iexact=candidate).exists():
            return candidate
