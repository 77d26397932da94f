from django.contrib.auth.models import AbstractUser
from django.contrib.auth.models import UserManager as DjangoUserManager
from django.core.validators import FileExtensionValidator
from django.db import models
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _

from .handles import handle_generate, handle_validators, normalize


class UserManager(DjangoUserManager):
    """Email and password are enough: the @handle is generated when none is given, so
    `createsuperuser --noinput` needs only DJANGO_SUPERUSER_EMAIL and DJANGO_SUPERUSER_PASSWORD."""

    def create_user(self, email=None, password=None, **extra_fields):
        username = normalize(extra_fields.pop("username", None) or handle_generate())
        return super().create_user(username, email, password, **extra_fields)

    def create_superuser(self, email=None, password=None, **extra_fields):
        username = normalize(extra_fields.pop("username", None) or handle_generate())
        user = super().create_superuser(username, email, password, **extra_fields)
        from .services import account_mark_verified

        # The operator typed this address themselves: no confirmation link to click.
        account_mark_verified(user=user)
        return user


class User(AbstractUser):
    """A person with an account. Email is how they sign in (private); `username` is their
    public @handle (chosen at sign-up, unique case-insensitively, never taken from the email)."""

    username = models.CharField(
        _("handle"),
        max_length=150,
        unique=True,
        validators=handle_validators,
        error_messages={"unique": _("This handle is taken.")},
    )
    email = models.EmailField(_("email address"), unique=True)
    handle_changed_at = models.DateTimeField(null=True, blank=True, editable=False)

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    objects = UserManager()

    class Meta:
        db_table = "accounts_user"
        constraints = [
            models.UniqueConstraint(Lower("username"), name="handle_unique_ignoring_case"),
        ]

    @property
    def handle(self) -> str:
        return self.username

    @property
    def display_name(self) -> str:
        """What others see: the chosen name, else the @handle (never anything from the email)."""
        profile = getattr(self, "profile", None)
        if profile is not None and profile.display_name:
            return profile.display_name
        return self.username


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
    # The language the person last used the site in: emails and notifications sent without a
    # request (reminders) are written in it. Empty: the site's default.
    language = models.CharField(max_length=8, blank=True, editable=False)

    class FollowEmail(models.TextChoices):
        EVERY_TIME = "every", _("Every time")
        DAILY = "daily", _("A daily digest")
        NEVER = "never", _("Never")

    # Emails about people they follow going live or scheduling a Space (the bell always tells).
    follow_email = models.CharField(
        max_length=5, choices=FollowEmail.choices, default=FollowEmail.NEVER
    )

    def __str__(self) -> str:
        return self.display_name or f"@{self.user.username}"


class Follow(models.Model):
    """`follower` follows `followee`: they are told when the followee goes live or schedules a
    public Space. Blocks, either way, end a follow and stop new ones."""

    follower = models.ForeignKey(User, on_delete=models.CASCADE, related_name="following")
    followee = models.ForeignKey(User, on_delete=models.CASCADE, related_name="followers")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["follower", "followee"], name="follow_once"),
            models.CheckConstraint(
                condition=~models.Q(follower=models.F("followee")), name="follow_not_self"
            ),
        ]
        # Fan-out walks a host's followers in follower order.
        indexes = [models.Index(fields=["followee", "follower"])]

    def __str__(self) -> str:
        return f"{self.follower_id} follows {self.followee_id}"


class Notification(models.Model):
    """A message for one person, listed under the bell in the header (a Space went live, ...).

    `key` names the fact it reports, so the same fact is never announced twice to one person.
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="notifications")
    text = models.CharField(max_length=300)
    url = models.CharField(max_length=500, blank=True)
    key = models.CharField(max_length=100)
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="one_notification_per_fact"),
        ]
        indexes = [
            models.Index(
                fields=["user"],
                condition=models.Q(read_at__isnull=True),
                name="notification_unread",
            ),
            models.Index(fields=["user", "created_at"]),
        ]

    def __str__(self) -> str:
        return self.text[:60]


class OutboxEmail(models.Model):
    """An email we decided to send, written in the same transaction as that decision.

    Sending happens after commit (`accounts.mail.email_send`): `attempted_at` is claimed with a
    conditional UPDATE before the message goes out and `sent_at` is set right after, so a worker
    that dies mid-way leaves a row that is retried, never a message that is silently lost.
    """

    user = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    to = models.EmailField()
    subject = models.CharField(max_length=200)
    body = models.TextField()
    # What the email is about, e.g. "space-live:<reminder id>": the same fact is mailed once.
    key = models.CharField(max_length=100, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    attempted_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["created_at"],
                condition=models.Q(sent_at__isnull=True),
                name="outbox_unsent",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.subject} → {self.to}"


class PushSubscription(models.Model):
    """A browser that agreed to get this person's notifications by Web Push (accounts.webpush)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="push_subscriptions")
    endpoint = models.URLField(max_length=1000, unique=True)
    p256dh = models.CharField(max_length=200)
    auth = models.CharField(max_length=100)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"push for {self.user_id}"
