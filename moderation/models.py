"""Reports, suspensions, blocks and the moderation audit log.

State changes only through `moderation.services`; these classes hold data and tiny read helpers.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class TargetType(models.TextChoices):
    SPACE = "space", "Space"
    PERSON = "person", "Person"
    POST = "post", "Post"
    CLIP = "clip", "Clip"


class Category(models.TextChoices):
    SPAM = "spam", _("Spam")
    HARASSMENT = "harassment", _("Harassment or bullying")
    HATE = "hate", _("Hate")
    VIOLENCE = "violence", _("Violence or threats")
    SEXUAL = "sexual", _("Sexual content")
    IMPERSONATION = "impersonation", _("Impersonation")
    OTHER = "other", _("Something else")


class Report(models.Model):
    """Someone (signed in or a guest) reports a Space, a person or a post.

    `snapshot` keeps what was reported as it was at report time (title, speakers, the post's
    text), so later edits or deletions cannot erase the evidence; `last_event` points into the
    Space's event log at that moment. `target_key` ("space:12", "person:5", "post:77") groups
    reports about the same thing; `reporter_key` ("user:5", "ip:<hash>") tells reporters apart.
    """

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        DISMISSED = "dismissed", "Dismissed"
        ACTIONED = "actioned", "Actioned"

    reporter = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="reports_made",
    )
    # Guests: the id in their signed reporter cookie and a keyed hash of their IP address.
    guest_key = models.CharField(max_length=32, blank=True)
    ip_hash = models.CharField(max_length=64, blank=True)
    reporter_key = models.CharField(max_length=80)

    target_type = models.CharField(max_length=10, choices=TargetType.choices)
    target_key = models.CharField(max_length=40)
    room = models.ForeignKey(
        "rooms.Room", on_delete=models.SET_NULL, null=True, blank=True, related_name="reports"
    )
    post = models.ForeignKey(
        "rooms.Post", on_delete=models.SET_NULL, null=True, blank=True, related_name="reports"
    )
    clip = models.ForeignKey(
        "rooms.Clip", on_delete=models.SET_NULL, null=True, blank=True, related_name="reports"
    )
    # Reports made during a replay or on a clip: seconds into the recording.
    offset = models.FloatField(null=True, blank=True)
    # The person the report is about: the reported person, the post's author, the Space's host.
    accused = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="reports_against",
    )
    last_event = models.ForeignKey(
        "rooms.RoomEvent",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The latest entry of the Space's event log when the report was made.",
    )

    category = models.CharField(max_length=16, choices=Category.choices)
    text = models.TextField("details", max_length=2000, blank=True)
    snapshot = models.JSONField(default=dict, blank=True)

    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    flagged = models.BooleanField(
        default=False, help_text="Enough different people reported this recently."
    )
    flagged_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    # Background jobs: set (once, by a conditional update) before staff are emailed.
    notified_at = models.DateTimeField(null=True, blank=True)
    flag_notified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-flagged", "-created_at"]
        indexes = [
            models.Index(fields=["target_key", "status", "created_at"]),
            models.Index(fields=["reporter_key", "target_key", "created_at"]),
            models.Index(fields=["status", "flagged", "created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.get_category_display()} report about {self.describe_target()}"

    def describe_target(self) -> str:
        snap = self.snapshot or {}
        if self.target_type == TargetType.SPACE:
            return f"the Space “{snap.get('space', {}).get('title', '?')}”"
        if self.target_type == TargetType.POST:
            author = snap.get("post", {}).get("author", {}).get("name", "?")
            return f"a post by {author}"
        if self.target_type == TargetType.CLIP:
            return f"a clip of the Space “{snap.get('space', {}).get('title', '?')}”"
        return snap.get("person", {}).get("name", "a person")


class SuspensionQuerySet(models.QuerySet):
    def active(self, now=None) -> "SuspensionQuerySet":
        """In force now: not lifted and not yet over (whether or not the expiry job ran)."""
        return self.filter(lifted_at__isnull=True, until__gt=now or timezone.now())


class Suspension(models.Model):
    """An account may not sign in, host, speak or post until `until` (or until lifted).

    A suspension ends by itself: it is in force only while `until` is in the future. The
    periodic job records `ended_at` afterwards, for the audit log.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="suspensions"
    )
    until = models.DateTimeField()
    reason = models.CharField(max_length=500)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    report = models.ForeignKey(
        Report, on_delete=models.SET_NULL, null=True, blank=True, related_name="suspensions"
    )
    lifted_at = models.DateTimeField(null=True, blank=True)
    lifted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    ended_at = models.DateTimeField(null=True, blank=True)

    objects = SuspensionQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(
                fields=["user", "until"],
                condition=Q(lifted_at__isnull=True),
                name="suspension_in_force",
            )
        ]

    def __str__(self) -> str:
        return f"Suspension of {self.user} until {self.until:%Y-%m-%d %H:%M} UTC"

    def is_active(self, now=None) -> bool:
        return self.lifted_at is None and self.until > (now or timezone.now())


class Block(models.Model):
    """`blocker` does not want `blocked` on their stage or in their feed."""

    blocker = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="blocks_made"
    )
    blocked = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="blocked_by"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["blocker", "blocked"], name="block_once"),
            models.CheckConstraint(condition=~Q(blocker=models.F("blocked")), name="no_self_block"),
        ]

    def __str__(self) -> str:
        return f"{self.blocker} blocks {self.blocked}"


class ModerationAction(models.Model):
    """The audit log: one row per staff action (and per automatic one, with no actor).

    Written only by `moderation.services`; the admin shows it and can neither change nor delete
    it. `summary` keeps a readable line even if the rows it points to are later deleted.
    """

    class Kind(models.TextChoices):
        DISMISS = "dismiss", "Dismissed report"
        END_SPACE = "end_space", "Ended Space"
        REMOVE_PERSON = "remove_person", "Removed person from Space"
        DELETE_POST = "delete_post", "Deleted post"
        SUSPEND = "suspend", "Suspended account"
        LIFT = "lift", "Lifted suspension"
        EXPIRE = "expire", "Suspension ended"
        FLAG = "flag", "Flagged for review"
        REMOVE_RECORDING = "remove_recording", "Took down recording"
        REMOVE_CLIP = "remove_clip", "Took down clip"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    # None when the system acted (a suspension ran out, a report threshold was reached).
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    target_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    room = models.ForeignKey(
        "rooms.Room", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    report = models.ForeignKey(
        Report, on_delete=models.SET_NULL, null=True, blank=True, related_name="actions"
    )
    suspension = models.ForeignKey(
        Suspension, on_delete=models.SET_NULL, null=True, blank=True, related_name="actions"
    )
    reason = models.TextField(blank=True)
    summary = models.CharField(max_length=300)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "audit log entry"
        verbose_name_plural = "audit log"

    def __str__(self) -> str:
        return self.summary
