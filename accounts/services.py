"""Writes to accounts, profiles and in-site notifications."""

from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone

from .models import Notification, Profile, User


def profile_ensure(*, user: User) -> Profile:
    """The user's profile, created on first need (sign-up, social sign-in, createsuperuser)."""
    profile, _ = Profile.objects.get_or_create(user=user)
    return profile


@transaction.atomic
def profile_update(
    *, user: User, display_name: str, bio: str, avatar: UploadedFile | None | bool = None
) -> Profile:
    """Update what others see of a person. `avatar=False` clears it; None keeps it."""
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
    profile.full_clean()
    profile.save()
    return profile


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
