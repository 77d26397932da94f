from django.contrib.auth.models import AbstractUser
from django.core.validators import FileExtensionValidator
from django.db import models


class User(AbstractUser):
    """A person with an account; email is how they sign in (allauth fills in the username)."""

    email = models.EmailField("email address", unique=True)

    class Meta:
        db_table = "accounts_user"

    @property
    def display_name(self) -> str:
        profile = getattr(self, "profile", None)
        if profile is not None and profile.display_name:
            return profile.display_name
        return self.email.split("@", 1)[0] or self.username


def avatar_path(profile: "Profile", filename: str) -> str:
    extension = filename.rsplit(".", 1)[-1].lower()
    return f"avatars/{profile.user_id}.{extension}"


class Profile(models.Model):
    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="profile")
    display_name = models.CharField(max_length=50, blank=True)
    bio = models.CharField("short bio", max_length=160, blank=True)
    avatar = models.ImageField(
        upload_to=avatar_path,
        blank=True,
        validators=[FileExtensionValidator(["jpg", "jpeg", "png", "webp", "gif"])],
    )

    def __str__(self) -> str:
        return self.display_name or self.user.email
