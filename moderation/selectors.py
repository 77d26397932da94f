"""Reads other apps ask of moderation: is this account suspended, whom has this person blocked.

The domain rules for suspensions and blocks live here; `rooms` calls these (with local imports,
since moderation builds on rooms) and turns a refusal into its own `ActionRefused`.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import Permission
from django.db.models import Count, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import Http404
from django.utils import dateformat, timezone
from django.utils.translation import gettext as _

from accounts.models import User
from rooms.models import Clip, Participant, Post, Question, Room, RoomEvent

from .models import Block, Report, Suspension, TargetType

MODERATION_PERMISSION = ("moderation", "change_report")


def format_moment(moment: datetime) -> str:
    """`3 Dec 2026 14:00 UTC`: the same for everyone, whatever their time zone."""
    moment = timezone.localtime(moment, UTC)
    # Translators: a Django date format: j day, M month ("Dec"), b month ("dec"), Y year, H:i.
    pattern = _("j M Y H:i")
    return f"{dateformat.format(moment, pattern)} UTC"


@dataclass(frozen=True)
class SuspensionView:
    """What a suspended person is told: `explanation` is a sentence with the end and reason."""

    until: datetime
    reason: str
    explanation: str


def suspension_of(user, now: datetime | None = None) -> SuspensionView | None:
    """The person's suspension in force now, or None. Compares `until` with the clock, so a
    suspension ends on time even if the expiry job has not run. With overlapping suspensions
    the one that ends last is in force."""
    if user is None or not getattr(user, "is_authenticated", False) or user.pk is None:
        return None
    suspension = (
        Suspension.objects.active(now).filter(user_id=user.pk).order_by("-until", "-id").first()
    )
    if suspension is None:
        return None
    return SuspensionView(
        until=suspension.until,
        reason=suspension.reason,
        explanation=explain(suspension.until, suspension.reason),
    )


def explain(until: datetime, reason: str) -> str:
    reason = reason.strip().rstrip(".")
    return _("Your account is suspended until %(until)s: %(reason)s.") % {
        "until": format_moment(until),
        "reason": reason,
    }


def stage_refusal(user, *, actor=None) -> str | None:
    """Why `user` may not host, speak or post now because of a suspension, in words for
    `actor` (the user themselves when None); None when they may."""
    suspension = suspension_of(user)
    if suspension is None:
        return None
    if actor is None or actor.pk == user.pk:
        return suspension.explanation
    return _("%(name)s's account is suspended until %(until)s.") % {
        "name": user.display_name,
        "until": format_moment(suspension.until),
    }


def blocked_user_ids(user) -> list[int]:
    """Ids of the people this person has blocked (their posts are hidden from them)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return []
    return list(Block.objects.filter(blocker_id=user.pk).values_list("blocked_id", flat=True))


def has_blocked(blocker, blocked) -> bool:
    if blocker is None or blocked is None or blocker.pk == blocked.pk:
        return False
    return Block.objects.filter(blocker_id=blocker.pk, blocked_id=blocked.pk).exists()


def block_refusal(person, *, blockers: Iterable, asking: bool = False) -> str | None:
    """Why `person` may not be brought on stage (or, `asking`, raise a hand) because one of
    `blockers` (the host, the one inviting) has blocked them; None when nothing stands in the
    way. The message does not say who blocked whom beyond what the person can see anyway."""
    ids = {b.pk for b in blockers if b is not None and b.pk != person.pk}
    if not ids or not Block.objects.filter(blocker_id__in=ids, blocked_id=person.pk).exists():
        return None
    if asking:
        return _("You can't speak in this Space.")
    return _("%(name)s can't be brought on stage by you in this Space.") % {
        "name": person.display_name
    }


def moderators() -> QuerySet[User]:
    """Active staff who may review reports (superusers, or `moderation.change_report` through
    their groups or their own permissions) and have an email address."""
    permission = Permission.objects.filter(
        content_type__app_label=MODERATION_PERMISSION[0], codename=MODERATION_PERMISSION[1]
    )
    return (
        User.objects.filter(is_active=True, is_staff=True)
        .exclude(email="")
        .filter(
            Q(is_superuser=True)
            | Q(groups__permissions__in=permission)
            | Q(user_permissions__in=permission)
        )
        .distinct()
        .order_by("pk")
    )


def open_reports_on_target() -> Coalesce:
    """Annotation: how many open reports there are about each report's target."""
    count = (
        Report.objects.filter(target_key=OuterRef("target_key"), status=Report.Status.OPEN)
        .order_by()
        .values("target_key")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(count), 0)


def report_queue() -> QuerySet[Report]:
    """The staff queue: flagged targets first, then newest; one query however long."""
    return (
        Report.objects.select_related("reporter", "accused", "room", "post", "resolved_by")
        .annotate(open_on_target=open_reports_on_target())
        .order_by("-flagged", "-created_at")
    )


def distinct_recent_reporters(target_key: str, now: datetime | None = None) -> int:
    """How many different people reported this target, still open, within the flag window."""
    since = (now or timezone.now()) - timedelta(hours=settings.MODERATION_FLAG_WINDOW_HOURS)
    return (
        Report.objects.filter(
            target_key=target_key, status=Report.Status.OPEN, created_at__gte=since
        )
        .values("reporter_key")
        .distinct()
        .count()
    )


@dataclass(frozen=True)
class ReportTarget:
    """What a report is about: a Space, a person (perhaps in a Space), or a post in a Space."""

    type: str
    room: Room | None = None
    post: Post | None = None
    person: User | None = None
    # A question on a raised hand is reported as its author, with the question kept as evidence.
    question: Question | None = None
    # A clip of a recorded Space: reported as the Space's content (its host answers for it).
    clip: Clip | None = None

    @property
    def key(self) -> str:
        if self.question is not None:
            return f"question:{self.question.pk}"
        if self.clip is not None:
            return f"clip:{self.clip.pk}"
        if self.type == TargetType.POST:
            return f"post:{self.post.pk}"
        if self.type == TargetType.PERSON:
            return f"person:{self.person.pk}"
        return f"space:{self.room.pk}"

    @property
    def accused(self) -> User | None:
        """Whom staff would act on: the person, the post's author, the Space's host."""
        if self.type == TargetType.POST:
            return self.post.author
        if self.type == TargetType.PERSON:
            return self.person
        return self.room.host

    def describe(self) -> str:
        if self.question is not None:
            return f"a question by {self.question.author.display_name}"
        if self.clip is not None:
            return f"a clip of the Space “{self.room.title}”"
        if self.type == TargetType.POST:
            return f"a post by {self.post.author.display_name}"
        if self.type == TargetType.PERSON:
            return self.person.display_name
        return f"the Space “{self.room.title}”"


def report_target(
    *,
    slug: str | None = None,
    post_id: str | None = None,
    person: str | None = None,
    question_id: str | None = None,
    clip_slug: str | None = None,
) -> ReportTarget:
    """The target named by a report link: `/s/<slug>/report/` (the Space), with `?post=<id>` (a
    post in it) or `?person=<id>` (someone in it); `/u/<username>/report/` (a person). Raises
    Http404 for anything that does not exist or is not in that Space (deleted posts included:
    the report page shows the post's text)."""
    room = None
    if slug is not None:
        room = Room.objects.select_related("host__profile").filter(slug=slug).first()
        if room is None:
            raise Http404(_("There is no Space at this link."))
    if post_id:
        post = (
            Post.objects.select_related("author__profile", "room__host__profile")
            .filter(pk=_int(post_id), room=room, deleted_at=None)
            .first()
        )
        if room is None or post is None:
            raise Http404(_("There is no such post in this Space."))
        return ReportTarget(type=TargetType.POST, room=room, post=post, person=post.author)
    if clip_slug:
        clip = Clip.objects.filter(slug=clip_slug, room=room).first() if room else None
        if clip is None:
            raise Http404(_("There is no such clip of this Space."))
        return ReportTarget(type=TargetType.CLIP, room=room, person=room.host, clip=clip)
    if question_id:
        question = (
            Question.objects.select_related("author__profile")
            .filter(pk=_int(question_id), room=room)
            .first()
        )
        if room is None or question is None:
            raise Http404("There is no such question in this Space.")
        return ReportTarget(
            type=TargetType.PERSON, room=room, person=question.author, question=question
        )
    if person:
        people = User.objects.select_related("profile")
        if room is None:
            found = people.filter(username__iexact=person).first()  # handles ignore case
        else:
            in_space = Q(participations__room=room) | Q(hosted_rooms=room)
            found = people.filter(in_space, pk=_int(person)).distinct().first()
        if found is None:
            raise Http404(_("There is no such person here."))
        return ReportTarget(type=TargetType.PERSON, room=room, person=found)
    if room is None:
        raise Http404(_("Nothing to report here."))
    return ReportTarget(type=TargetType.SPACE, room=room, person=room.host)


def _int(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def evidence_snapshot(target: ReportTarget) -> dict:
    """What was reported, as it is now: kept with the report so later edits cannot erase it."""
    snap: dict = {"taken_at": timezone.now().isoformat()}
    if target.room is not None:
        room = target.room
        stage = (
            Participant.objects.on_stage()
            .filter(room=room)
            .select_related("user__profile")
            .order_by("role_since", "pk")
        )
        snap["space"] = {
            "id": room.pk,
            "slug": room.slug,
            "title": room.title,
            "description": room.description,
            "state": room.state,
            "host": _person(room.host),
            "speakers": [{**_person(p.user), "role": p.role} for p in stage],
        }
    if target.post is not None:
        post = target.post
        snap["post"] = {
            "id": post.pk,
            "text": post.text,
            "author": _person(post.author),
            "created_at": post.created_at.isoformat(),
            "deleted": post.deleted_at is not None,
        }
    if target.question is not None:
        question = target.question
        snap["question"] = {
            "id": question.pk,
            "text": question.text,
            "author": _person(question.author),
            "created_at": question.created_at.isoformat(),
            "state": question.state,
        }
    if target.clip is not None:
        clip = target.clip
        snap["clip"] = {
            "id": clip.pk,
            "slug": clip.slug,
            "start": clip.start,
            "duration": clip.duration,
            "speakers": clip.speakers,
            "creator": _person(clip.creator) if clip.creator else None,
        }
    if target.person is not None:
        profile = getattr(target.person, "profile", None)
        snap["person"] = {
            **_person(target.person),
            "username": target.person.username,
            "email": target.person.email,
            "bio": profile.bio if profile is not None else "",
        }
    return snap


def _person(user: User) -> dict:
    return {"id": user.pk, "name": user.display_name}


def latest_event_id(room: Room | None) -> int | None:
    if room is None:
        return None
    return RoomEvent.objects.filter(room=room).order_by("-id").values_list("pk", flat=True).first()


def event_log_until(report: Report, limit: int = 30) -> list[RoomEvent]:
    """The Space's event log up to the moment of the report, newest first."""
    if report.room_id is None:
        return []
    events = RoomEvent.objects.filter(room_id=report.room_id).select_related("actor", "target")
    if report.last_event_id is not None:
        events = events.filter(pk__lte=report.last_event_id)
    return list(events.order_by("-id")[:limit])


def recent_report_of(
    *, target_key: str, reporter=None, guest_key: str = "", ip_hash: str = ""
) -> Report | None:
    """The same reporter's report on the same target within MODERATION_DUPLICATE_HOURS."""
    since = timezone.now() - timedelta(hours=settings.MODERATION_DUPLICATE_HOURS)
    same = Q()
    if reporter is not None and reporter.is_authenticated:
        same |= Q(reporter_id=reporter.pk)
    else:
        if guest_key:
            same |= Q(reporter=None, guest_key=guest_key)
        if ip_hash:
            same |= Q(reporter=None, ip_hash=ip_hash)
    if not same:
        return None
    return (
        Report.objects.filter(same, target_key=target_key, created_at__gte=since)
        .order_by("-created_at")
        .first()
    )
