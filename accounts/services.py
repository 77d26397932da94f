"""Writes to accounts, profiles and in-site notifications."""

from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from .handles import handle_validators, normalize
from .models import Follow, Notification, Profile, PushSubscription, User


def account_mark_verified(*, user: User) -> None:
    """Record the user's address as verified and primary (allauth lets them sign in at once).
    Used for accounts an operator creates (`createsuperuser`)."""
    from allauth.account.models import EmailAddress

    EmailAddress.objects.update_or_create(
        user=user, email=user.email.lower(), defaults={"verified": True, "primary": True}
    )
    profile_ensure(user=user)


def handle_next_change_at(*, user: User):
    """When the person may change their @handle again (None: now). The first change after a
    generated handle is free; after that one change per SPACES_HANDLE_CHANGE_DAYS."""
    if user.handle_changed_at is None:
        return None
    allowed = user.handle_changed_at + timedelta(days=settings.SPACES_HANDLE_CHANGE_DAYS)
    return allowed if allowed > timezone.now() else None


@transaction.atomic
def handle_change(*, user: User, handle: str) -> User:
    """Change the person's @handle. Validates format, reserved words, case-insensitive
    uniqueness and the rate limit; raises ValidationError and changes nothing otherwise.
    The old handle's profile URL then answers 404 and the handle is free for others."""
    user = User.objects.select_for_update().get(pk=user.pk)
    handle = normalize(handle)
    if handle == user.username:
        return user
    for validator in handle_validators:
        validator(handle)
    if User.objects.filter(username__iexact=handle).exclude(pk=user.pk).exists():
        raise ValidationError(_("This handle is taken."), code="taken")
    next_at = handle_next_change_at(user=user)
    if next_at is not None:
        raise ValidationError(
            _("You can change your handle again on %(date)s.")
            % {"date": timezone.localtime(next_at).date().isoformat()},
            code="rate_limited",
        )
    user.username = handle
    user.handle_changed_at = timezone.now()
    user.save(update_fields=["username", "handle_changed_at"])
    return user


def profile_ensure(*, user: User) -> Profile:
    """The user's profile, created on first need (sign-up, social sign-in, createsuperuser)."""
    profile, _ = Profile.objects.get_or_create(user=user)
    return profile


@transaction.atomic
def profile_update(
    *,
    user: User,
    display_name: str,
    bio: str,
    avatar: UploadedFile | None | bool = None,
    follow_email: str | None = None,
) -> Profile:
    """Update what others see of a person. `avatar=False` clears it; None keeps it. Also how
    often they are emailed about people they follow (None keeps it)."""
    profile = profile_ensure(user=user)
    profile = Profile.objects.select_for_update().get(pk=profile.pk)
    profile.display_name = display_name.strip()
    profile.bio = bio.strip()
    if avatar is False:
        profile.avatar.delete(save=False)
        profile.avatar = ""
    elif avatar:
        profile.avatar.delete(save=False)
        profile.avatar = avatar
    if follow_email:
        profile.follow_email = follow_email
    profile.full_clean()
    profile.save()
    return profile


def profile_language_set(*, user: User, language: str) -> None:
    """Remember the language the person uses the site in (for mail sent without a request).
    Unknown codes are ignored; nothing is written when it did not change."""
    if language not in dict(settings.LANGUAGES):
        return
    profile = profile_ensure(user=user)
    if profile.language != language:
        Profile.objects.filter(pk=profile.pk).update(language=language)


def person_language(user: User) -> str:
    """The language to write to this person in, outside a request."""
    profile = getattr(user, "profile", None)
    return (profile.language if profile is not None else "") or settings.LANGUAGE_CODE


def notification_create(*, user: User, text: str, url: str = "", key: str) -> Notification:
    """Tell a person something in the site. Idempotent on (`user`, `key`): the first call wins.

    Call it inside the transaction that decided to tell them, so both commit or neither does.
    """
    notification, _ = Notification.objects.get_or_create(
        user=user, key=key, defaults={"text": text[:300], "url": url}
    )
    return notification


def notifications_mark_read(*, user: User, up_to_id: int | None = None) -> int:
    """Mark the person's unread notifications read: all, or those up to `up_to_id` (the newest
    one they were shown, so one arriving meanwhile stays unread). Returns how many."""
    unread = Notification.objects.filter(user=user, read_at__isnull=True)
    if up_to_id is not None:
        unread = unread.filter(pk__lte=up_to_id)
    return unread.update(read_at=timezone.now())


# Following hosts


def _blocked_either_way(one: User, other: User) -> bool:
    from moderation.models import Block  # moderation builds on accounts

    return (
        Block.objects.filter(blocker=one, blocked=other).exists()
        or Block.objects.filter(blocker=other, blocked=one).exists()
    )


@transaction.atomic
def follow_create(*, follower: User, followee: User) -> Follow:
    """`follower` follows `followee`; idempotent. Refused for oneself, for guests and between
    people where either blocked the other (ValidationError, nothing changed)."""
    if not follower.is_authenticated:
        raise ValidationError(_("Sign in to follow people."), code="not_signed_in")
    if follower.pk == followee.pk:
        raise ValidationError(_("You can't follow yourself."), code="invalid")
    if _blocked_either_way(follower, followee):
        raise ValidationError(_("You can't follow this person."), code="blocked")
    follow, _created = Follow.objects.get_or_create(follower=follower, followee=followee)
    return follow


@transaction.atomic
def follow_delete(*, follower: User, followee: User) -> bool:
    """Stop following. Returns whether there was a follow."""
    deleted, _count = Follow.objects.filter(follower=follower, followee=followee).delete()
    return bool(deleted)


def follows_end_between(*, one: User, other: User) -> int:
    """A block ends follows both ways (called by moderation inside its transaction)."""
    deleted, _count = Follow.objects.filter(
        models.Q(follower=one, followee=other) | models.Q(follower=other, followee=one)
    ).delete()
    return deleted


# Web Push


def push_subscribe(*, user: User, endpoint: str, p256dh: str, auth: str) -> PushSubscription:
    """Remember a browser's push subscription for this person (the same browser again replaces
    its keys). Refuses endpoints the server would not post to (ValidationError)."""
    from . import webpush

    if not user.is_authenticated:
        raise ValidationError(_("Sign in to get notifications."), code="not_signed_in")
    try:
        keys_ok = len(webpush.unb64url(p256dh)) == 65 and len(webpush.unb64url(auth)) == 16
    except ValueError:
        keys_ok = False
    if not keys_ok or len(endpoint) > 1000 or not webpush.endpoint_allowed(endpoint):
        raise ValidationError(_("This browser's subscription is not usable."), code="invalid")
    subscription, _created = PushSubscription.objects.update_or_create(
        endpoint=endpoint, defaults={"user": user, "p256dh": p256dh, "auth": auth}
    )
    return subscription


def push_unsubscribe(*, user: User, endpoint: str) -> bool:
    deleted, _count = PushSubscription.objects.filter(user=user, endpoint=endpoint).delete()
    return bool(deleted)


def push_notify(*, user_ids: list[int], text: str, url: str) -> int:
    """Push a notification to every browser of these people. Returns how many were accepted.
    Best effort: a push service that is down loses that push (the bell still has it)."""
    from . import webpush

    if not webpush.public_key():
        return 0
    sent = 0
    for subscription in PushSubscription.objects.filter(user_id__in=user_ids):
        if webpush.send(subscription, {"title": "Spaces", "body": text, "url": url}) in (
            200,
            201,
            202,
        ):
            sent += 1
    return sent
