"""Writes to accounts and profiles."""

from django.core.files.uploadedfile import UploadedFile
from django.db import transaction

from .models import Profile, User


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
