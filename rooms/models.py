"""Spaces (rooms), the people in them and their roles, invites, reminders and the event log.

State changes only through `rooms.services`; these classes hold data and tiny read helpers.
"""

import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q


def new_share_slug() -> str:
    """The public link's secret part: 18 random bytes, 144 bits, 24 URL-safe characters."""
    return secrets.token_urlsafe(18)


class Topic(models.Model):
    slug = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=40)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    """Roles of people in a live Space, highest first. Guests have no row: they only listen."""

    HOST = "host", "Host"
    COHOST = "cohost", "Co-host"
    SPEAKER = "speaker", "Speaker"
    LISTENER = "listener", "Listener"


ON_STAGE = (Role.HOST, Role.COHOST, Role.SPEAKER)


class Room(models.Model):
    """A Space: scheduled → live → ended, or scheduled → cancelled."""

    class State(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled"
        LIVE = "live", "Live"
        ENDED = "ended", "Ended"
        CANCELLED = "cancelled", "Cancelled"

    class Visibility(models.TextChoices):
        """Who finds and enters the Space: see rooms/visibility.py for the rule."""

        PUBLIC = "public", "Public"
        UNLISTED = "unlisted", "Unlisted"
        PRIVATE = "private", "Private"

    MAX_TOPICS = 3

    title = models.CharField(max_length=70)
    description = models.TextField(max_length=1000, blank=True)
    topics = models.ManyToManyField(Topic, blank=True, related_name="rooms")
    # The current host; after a hand-over it is the co-host who took over.
    host = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="hosted_rooms"
    )
    state = models.CharField(max_length=12, choices=State.choices, default=State.SCHEDULED)
    scheduled_for = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    slug = models.CharField(max_length=32, unique=True, default=new_share_slug, editable=False)
    guests_may_listen = models.BooleanField(
        default=True, help_text="People without an account may listen through the public link."
    )
    record = models.BooleanField(default=False)
    # When the recording was deleted (host, retention) or taken down (staff): from then on the
    # Space no longer shows REC anywhere (rooms.recordings._retire sets it).
    recording_gone_at = models.DateTimeField(null=True, blank=True, editable=False)
    visibility = models.CharField(
        max_length=10, choices=Visibility.choices, default=Visibility.PUBLIC
    )
    # The channel name of the media worker process that holds this Space's audio router.
    media_worker = models.CharField(max_length=200, blank=True)
    # The number of the Space's last room-wide event (`seq` in every event and the snapshot):
    # raised in the transaction that emits the event, so clients can tell when they missed one.
    event_seq = models.PositiveBigIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["state", "scheduled_for"]),
            models.Index(fields=["state", "started_at"]),
        ]
        permissions = [("moderate_room", "Can act as host in any Space")]

    def __str__(self) -> str:
        return self.title

    @property
    def is_live(self) -> bool:
        return self.state == self.State.LIVE

    @property
    def is_scheduled(self) -> bool:
        return self.state == self.State.SCHEDULED

    @property
    def is_over(self) -> bool:
        return self.state in (self.State.ENDED, self.State.CANCELLED)

    @property
    def shows_rec(self) -> bool:
        """Recorded, and its recording is still there (REC badges, cards, link previews)."""
        return self.record and self.recording_gone_at is None


class ParticipantQuerySet(models.QuerySet):
    def present(self) -> "ParticipantQuerySet":
        """People in the Space now: joined, not left, not removed."""
        return self.filter(left_at__isnull=True, removed_at__isnull=True)

    def on_stage(self) -> "ParticipantQuerySet":
        return self.present().filter(role__in=ON_STAGE)


class Participant(models.Model):
    """A signed-in person's place in one Space. One row per person and Space, kept after leaving."""

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="participants")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="participations"
    )
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.LISTENER)
    is_muted = models.BooleanField(default=True)
    hand_raised_at = models.DateTimeField(null=True, blank=True)
    role_since = models.DateTimeField()
    joined_at = models.DateTimeField()
    left_at = models.DateTimeField(null=True, blank=True)
    # Set when a host, co-host or staff removed the person: they may not rejoin this Space.
    removed_at = models.DateTimeField(null=True, blank=True)
    # Recorded Spaces: None until the person is on stage and has chosen; True to be recorded,
    # False to be heard live but left out of the recording (from the moment they chose).
    recording_consent = models.BooleanField(null=True, blank=True)

    objects = ParticipantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["room", "user"], name="one_participant_per_room"),
        ]
        indexes = [
            models.Index(
                fields=["room", "role"],
                condition=Q(left_at__isnull=True, removed_at__isnull=True),
                name="participant_present_role",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user.display_name} ({self.get_role_display()})"

    @property
    def is_present(self) -> bool:
        return self.left_at is None and self.removed_at is None

    @property
    def is_on_stage(self) -> bool:
        return self.role in ON_STAGE


class Invite(models.Model):
    """An offer to one person to speak or co-host in one Space; single-use, and it expires."""

    class Outcome(models.TextChoices):
        ACCEPTED = "accepted", "Accepted"
        DECLINED = "declined", "Declined"
        EXPIRED = "expired", "Expired"
        REVOKED = "revoked", "Revoked"

    OFFERED_ROLES = (Role.SPEAKER, Role.COHOST)

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="invites")
    invitee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="invites_received"
    )
    inviter = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="invites_sent"
    )
    role = models.CharField(
        max_length=10, choices=[(r.value, r.label) for r in OFFERED_ROLES], default=Role.SPEAKER
    )
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    responded_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=10, choices=Outcome.choices, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["room", "invitee", "outcome"])]

    def __str__(self) -> str:
        return f"Invite to {self.get_role_display().lower()} in {self.room}"


class SpaceAccess(models.Model):
    """Who may enter a private Space besides its host: let in by the host, or asked to join.

    One row per person and Space; `status` is where their request (or the host's invitation)
    stands. Only APPROVED lets them in (rooms.visibility.room_visible_to).
    """

    class Status(models.TextChoices):
        REQUESTED = "requested", "Asked to join"
        APPROVED = "approved", "Let in"
        DECLINED = "declined", "Declined"

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="access")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="space_access"
    )
    status = models.CharField(max_length=10, choices=Status.choices)
    created_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["room", "user"], name="one_access_per_person"),
        ]
        indexes = [models.Index(fields=["room", "status"])]

    def __str__(self) -> str:
        return f"{self.get_status_display()}: {self.room_id}"


class RoomEvent(models.Model):
    """The Space's event log: who did what to whom, when. One row per state change."""

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="events")
    # None when the system acted (a scheduled job) rather than a person.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    verb = models.CharField(max_length=40)
    target = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["room", "created_at"])]

    def __str__(self) -> str:
        return f"{self.verb} in {self.room_id}"


class Reminder(models.Model):
    """A "remind me" on a scheduled Space; the scheduler sets `notified_at` once it told them."""

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="reminders")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="space_reminders"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    notified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["room", "user"], name="one_reminder_per_person"),
        ]

    def __str__(self) -> str:
        return f"Reminder for {self.room}"


class Presence(models.Model):
    """One open socket in a live Space. Listener counts come from these rows, so they survive a
    restart; rows whose heartbeat stopped are swept (`rooms.live.presence_sweep`)."""

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="presences")
    # A signed-in person, or a guest known only by the id in their signed cookie.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
    )
    guest_id = models.CharField(max_length=32, blank=True)
    channel_name = models.CharField(max_length=200, unique=True)
    # The socket's audio is connected (an offer was answered): only these count as listening.
    listening = models.BooleanField(default=False)
    connected_at = models.DateTimeField(auto_now_add=True)
    last_seen = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        indexes = [models.Index(fields=["room", "user"])]

    def __str__(self) -> str:
        return f"socket in {self.room_id}"


class Post(models.Model):
    """A short text in a live Space's feed. Deleted posts keep their text for reports."""

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="posts")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="room_posts"
    )
    text = models.CharField(max_length=280)
    created_at = models.DateTimeField(auto_now_add=True)
    pinned_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    deleted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        ordering = ["created_at"]
        indexes = [models.Index(fields=["room", "created_at"])]

    def __str__(self) -> str:
        return self.text[:40]


class ScheduledJobQuerySet(models.QuerySet):
    def pending(self) -> "ScheduledJobQuerySet":
        return self.filter(done_at__isnull=True)


class ScheduledJob(models.Model):
    """Work that falls due at a time: a row, claimed by the periodic worker (rooms.scheduling).

    The worker locks the Space and then the row (`SKIP LOCKED`), does the work and sets
    `done_at` in the same transaction, so a worker that dies mid-way leaves the row pending:
    the work is late, never lost and never done twice. No Celery ETAs: the row is the schedule.
    """

    class Kind(models.TextChoices):
        HOST_REMINDER = "host_reminder", "Remind the host before the start"
        AUTO_CANCEL = "auto_cancel", "Cancel if not started in time"
        TELL_LIVE = "tell_live", "Tell reminded people it is live"
        TELL_CANCELLED = "tell_cancelled", "Tell reminded people it is cancelled"
        END_IF_HOSTLESS = "end_if_hostless", "End if no host or co-host came back"
        TELL_FOLLOWERS = "tell_followers", "Tell the host's followers"

    class Outcome(models.TextChoices):
        DONE = "done", "Done"
        OBSOLETE = "obsolete", "No longer needed"
        FAILED = "failed", "Failed"

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="scheduled_jobs")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    due_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    done_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=10, choices=Outcome.choices, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)

    objects = ScheduledJobQuerySet.as_manager()

    class Meta:
        ordering = ["due_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["room", "kind"],
                condition=Q(done_at__isnull=True),
                name="one_pending_job_per_kind",
            ),
        ]
        indexes = [
            models.Index(fields=["due_at"], condition=Q(done_at__isnull=True), name="job_due"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} for {self.room_id} at {self.due_at:%Y-%m-%d %H:%M}"


class FollowerAlert(models.Model):
    """A follower of the host was told about this Space: at most one per person and Space,
    whatever the retries (the unique constraint), written in the batch that told them."""

    class Why(models.TextChoices):
        LIVE = "live", "Went live"
        SCHEDULED = "scheduled", "Scheduled"

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="follower_alerts")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="follower_alerts"
    )
    why = models.CharField(max_length=10, choices=Why.choices)
    created_at = models.DateTimeField(auto_now_add=True)
    # For people who chose a daily digest: set once the digest email including it is queued.
    digest_due = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["room", "user"], name="one_follower_alert_per_space"),
        ]
        indexes = [
            models.Index(fields=["user"], condition=Q(digest_due=True), name="follower_digest_due"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} told of {self.room_id}"


class Question(models.Model):
    """A short question a listener attaches to their raised hand. Open while the hand is up;
    answered when the host brings them on stage; withdrawn when the hand goes down; removed by
    the host, a co-host, staff or its author. The text is kept for reports."""

    MAX_CHARS = 140

    class State(models.TextChoices):
        OPEN = "open", "Open"
        ANSWERED = "answered", "Answered"
        WITHDRAWN = "withdrawn", "Withdrawn"
        REMOVED = "removed", "Removed"

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="questions")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="room_questions"
    )
    text = models.CharField(max_length=MAX_CHARS)
    state = models.CharField(max_length=10, choices=State.choices, default=State.OPEN)
    votes = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    removed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        ordering = ["-votes", "created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["room", "author"],
                condition=Q(state="open"),
                name="one_open_question_per_person",
            ),
        ]
        indexes = [models.Index(fields=["room", "state"])]

    def __str__(self) -> str:
        return self.text[:40]


class QuestionVote(models.Model):
    """One upvote by one signed-in person on one question."""

    question = models.ForeignKey(Question, on_delete=models.CASCADE, related_name="upvotes")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="question_votes"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["question", "user"], name="one_vote_per_question"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} +1 {self.question_id}"


class ListenerSeen(models.Model):
    """Someone listened to this Space, known only by a keyed hash of their account or guest id
    (never an address): the count of rows is the Space's unique listeners."""

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="listeners_seen")
    key = models.CharField(max_length=32)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["room", "key"], name="listener_seen_once"),
        ]

    def __str__(self) -> str:
        return f"listener of {self.room_id}"


class ListenerSample(models.Model):
    """How many listened to a live Space at one moment (rooms.insights.sample)."""

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="listener_samples")
    at = models.DateTimeField()
    listeners = models.PositiveIntegerField()

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["room", "at"])]

    def __str__(self) -> str:
        return f"{self.listeners} in {self.room_id} at {self.at:%H:%M}"


class SpaceTally(models.Model):
    """Running totals for a Space's insights, flushed from the processes that count them."""

    room = models.OneToOneField(Room, on_delete=models.CASCADE, related_name="tally")
    peak_listeners = models.PositiveIntegerField(default=0)
    reactions = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"tally of {self.room_id}"


class Recording(models.Model):
    """What a recorded Space keeps: the recording mix as HLS segments while it is live (through
    Django's storage API, under `prefix`), then a VOD playlist and an `.m4a` assembled after it
    ends. Offset 0 of the replay is `started_at`, the wall-clock time of the first kept sample.

    Deleting a recording (host) or taking it down (staff) removes every file from storage; the
    row stays, so the Space's page can say what happened.
    """

    class State(models.TextChoices):
        RECORDING = "recording", "Recording"
        ASSEMBLING = "assembling", "Being prepared"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"
        DELETED = "deleted", "Deleted by the host"
        REMOVED = "removed", "Taken down by staff"

    room = models.OneToOneField(Room, on_delete=models.CASCADE, related_name="recording")
    state = models.CharField(max_length=10, choices=State.choices, default=State.RECORDING)
    # Storage folder of every file of this recording: "recordings/<room id>-<random>/".
    prefix = models.CharField(max_length=120)
    started_at = models.DateTimeField(null=True, blank=True)
    duration = models.FloatField(default=0.0, help_text="Seconds.")
    # Storage names (under `prefix`) of the VOD playlist and the assembled audio file.
    playlist = models.CharField(max_length=200, blank=True)
    audio_file = models.CharField(max_length=200, blank=True)
    storage_bytes = models.PositiveBigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    ready_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    removed_reason = models.TextField(blank=True)

    class Meta:
        indexes = [models.Index(fields=["state", "ready_at"])]

    def __str__(self) -> str:
        return f"recording of {self.room_id} ({self.state})"

    @property
    def is_playable(self) -> bool:
        return self.state == self.State.READY


class Clip(models.Model):
    """Up to 60 s cut from a recording (or from the last 30 s of a live recorded Space), with
    its own public page `/c/<slug>/`. Cut from stored segments by a background task."""

    MAX_SECONDS = 60
    LIVE_SECONDS = 30

    class State(models.TextChoices):
        PENDING = "pending", "Waiting"
        CUTTING = "cutting", "Being cut"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"
        DELETED = "deleted", "Deleted"
        REMOVED = "removed", "Taken down by staff"

    slug = models.CharField(max_length=32, unique=True, default=new_share_slug, editable=False)
    recording = models.ForeignKey(Recording, on_delete=models.CASCADE, related_name="clips")
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="clips")
    creator = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="clips",
    )
    start = models.FloatField(help_text="Seconds from the start of the recording.")
    duration = models.FloatField(help_text="Seconds.")
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    progress = models.PositiveSmallIntegerField(default=0, help_text="Percent, while cutting.")
    audio_file = models.CharField(max_length=200, blank=True)
    # Who spoke in it, from the event log: [{"handle": ..., "name": ...}, ...].
    speakers = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    ready_at = models.DateTimeField(null=True, blank=True)
    removed_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["recording", "state"])]

    def __str__(self) -> str:
        return f"clip {self.slug} of {self.room_id}"


class ReplayPlay(models.Model):
    """One play of a replay, unique per listener (account or guest id, keyed hash) per day."""

    recording = models.ForeignKey(Recording, on_delete=models.CASCADE, related_name="plays")
    key = models.CharField(max_length=32)
    day = models.DateField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["recording", "key", "day"], name="one_play_a_day"),
        ]

    def __str__(self) -> str:
        return f"play of {self.recording_id} on {self.day}"
