"""Every moderation change: reports, staff actions on them, suspensions, blocks.

Each function is one action, shaped like the room services: it checks the rule
(`moderation.permissions` for staff), runs in a transaction, locks what it changes, returns
early when nothing would change, writes one `ModerationAction` audit row for every staff or
system action, and sends broadcasts and queues background jobs only after commit. A refused
action raises `ModerationRefused(code, message)` and has changed nothing.

The admin, the report and block views and the Celery tasks call these; none writes by itself.
"""

import logging
import secrets
import time
from dataclasses import dataclass
from datetime import datetime
from importlib import import_module

from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.contrib.sites.models import Site
from django.core.mail import EmailMessage, get_connection
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext as _

from accounts.models import User
from accounts.services import follows_end_between
from rooms import events as room_events
from rooms import posts as room_posts
from rooms import services as room_services
from rooms.exceptions import ActionRefused
from rooms.models import Participant, Room
from spaces_project.ratelimit import count_hit, shared_cache

from . import selectors
from .exceptions import ModerationRefused
from .models import Block, Category, ModerationAction, Report, Suspension
from .permissions import Ability, check
from .selectors import ReportTarget

logger = logging.getLogger(__name__)

Kind = ModerationAction.Kind


def _audit(
    kind: str,
    *,
    actor: User | None,
    summary: str,
    target_user: User | None = None,
    room: Room | None = None,
    report: Report | None = None,
    suspension: Suspension | None = None,
    reason: str = "",
    **data,
) -> ModerationAction:
    return ModerationAction.objects.create(
        kind=kind,
        actor=actor,
        target_user=target_user,
        room=room,
        report=report,
        suspension=suspension,
        reason=reason,
        summary=summary[:300],
        data=data,
    )


def _who(user: User | None) -> str:
    return user.email if user is not None else "nobody"


# Reports


def new_guest_key() -> str:
    return secrets.token_urlsafe(12)


def ip_fingerprint(address: str) -> str:
    """A keyed hash of a guest's IP address: enough to rate limit and tell reporters apart,
    without keeping the address."""
    return salted_hmac("moderation.report-ip", address or "unknown").hexdigest()[:40]


@dataclass(frozen=True)
class ReportOutcome:
    report: Report
    created: bool  # False: the same reporter already reported this within a day


def _limit_key(scope: str, value: str, seconds: int) -> str:
    return f"moderation:reports:{scope}:{value}:{int(time.time() // seconds)}"


def _limits(reporter: User | None, guest_key: str, ip_hash: str) -> list[tuple[str, int, int]]:
    """(cache key, limit, window) for each rate limit this reporter falls under."""
    if reporter is not None and reporter.is_authenticated:
        limit, seconds = settings.MODERATION_USER_REPORTS
        return [(_limit_key("user", str(reporter.pk), seconds), limit, seconds)]
    found = []
    if ip_hash:
        limit, seconds = settings.MODERATION_GUEST_REPORTS_PER_IP
        found.append((_limit_key("ip", ip_hash, seconds), limit, seconds))
    if guest_key:
        limit, seconds = settings.MODERATION_GUEST_REPORTS_PER_COOKIE
        found.append((_limit_key("cookie", guest_key, seconds), limit, seconds))
    return found


def _offset(target: ReportTarget, offset: float | None) -> float | None:
    """Seconds into the recording: within a clip, counted from the clip's start."""
    if offset is not None and (offset != offset or offset < 0):  # NaN or negative: none
        offset = None
    if target.clip is not None:
        within = min(offset or 0.0, target.clip.duration)
        return target.clip.start + within
    return offset


def report_create(
    *,
    target: ReportTarget,
    category: str,
    text: str = "",
    reporter: User | None = None,
    guest_key: str = "",
    ip_hash: str = "",
    offset: float | None = None,
) -> ReportOutcome:
    """Report a Space, a person or a post, signed in or as a guest (`guest_key` from the signed
    reporter cookie, `ip_hash` from `ip_fingerprint`).

    The same reporter reporting the same target again within MODERATION_DUPLICATE_HOURS gets
    their earlier report back (`created=False`) and no new row. Guests are rate limited per IP
    and per cookie, people with accounts per account (`rate_limited`). Keeps a snapshot of the
    evidence and the Space's latest event. After commit, queues the staff email and the
    threshold check (which may flag the target). `offset`: seconds into the Space's recording
    (a report made during its replay; a clip's report points at the clip's start by default).
    """
    if category not in Category.values:
        raise ModerationRefused("invalid", _("Pick what kind of problem this is."))
    text = (text or "").strip()
    if len(text) > Report._meta.get_field("text").max_length:
        raise ModerationRefused("invalid", _("Please keep the details under 2000 characters."))
    signed_in = reporter is not None and reporter.is_authenticated
    if not signed_in and not (guest_key or ip_hash):
        raise ModerationRefused("invalid", _("We could not tell who is reporting."))
    if signed_in and target.type == "person" and target.person.pk == reporter.pk:
        raise ModerationRefused("invalid", _("You can't report yourself."))

    earlier = selectors.recent_report_of(
        target_key=target.key,
        reporter=reporter if signed_in else None,
        guest_key=guest_key,
        ip_hash=ip_hash,
    )
    if earlier is not None:
        return ReportOutcome(report=earlier, created=False)

    limits = _limits(reporter if signed_in else None, guest_key, ip_hash)
    for key, limit, _seconds in limits:
        if shared_cache().get(key, 0) >= limit:
            raise ModerationRefused(
                "rate_limited",
                _("You have sent a lot of reports in a short time. Please try again later."),
            )

    with transaction.atomic():
        report = Report.objects.create(
            reporter=reporter if signed_in else None,
            guest_key="" if signed_in else guest_key,
            ip_hash="" if signed_in else ip_hash,
            reporter_key=f"user:{reporter.pk}" if signed_in else f"ip:{ip_hash or guest_key}",
            target_type=target.type,
            target_key=target.key,
            room=target.room,
            post=target.post,
            clip=target.clip,
            offset=_offset(target, offset),
            accused=target.accused,
            last_event_id=selectors.latest_event_id(target.room),
            category=category,
            text=text,
            snapshot=selectors.evidence_snapshot(target),
        )
        from . import tasks  # tasks call services

        transaction.on_commit(lambda: tasks.notify_new_report.delay(report.pk))
        transaction.on_commit(lambda: tasks.check_report_threshold.delay(report.pk))
    for key, _limit, seconds in limits:
        count_hit(key, seconds)
    return ReportOutcome(report=report, created=True)


def _lock_report(report: Report) -> Report:
    return (
        Report.objects.select_for_update(of=("self",))
        .select_related("room", "post", "accused")
        .get(pk=report.pk)
    )


def _resolve(report: Report, actor: User, status: str, *, whole_target: bool) -> list[int]:
    """Close the report (and, for actions on its target, every open report on that target)."""
    now = timezone.now()
    reports = Report.objects.filter(status=Report.Status.OPEN)
    if whole_target:
        reports = reports.filter(target_key=report.target_key)
    else:
        reports = reports.filter(pk=report.pk)
    ids = list(reports.select_for_update().order_by("pk").values_list("pk", flat=True))
    Report.objects.filter(pk__in=ids).update(status=status, resolved_at=now, resolved_by=actor)
    report.status, report.resolved_at, report.resolved_by = status, now, actor
    return ids


@transaction.atomic
def report_dismiss(*, report: Report, actor: User, note: str = "") -> Report:
    """Nothing to act on: close the report. Audit `dismiss`; no broadcast."""
    check(actor, Ability.REVIEW)
    report = _lock_report(report)
    if report.status != Report.Status.OPEN:
        return report
    _resolve(report, actor, Report.Status.DISMISSED, whole_target=False)
    _audit(
        Kind.DISMISS,
        actor=actor,
        report=report,
        room=report.room,
        target_user=report.accused,
        reason=note,
        summary=f"{_who(actor)} dismissed report #{report.pk} ({report.describe_target()})",
    )
    return report


def _room_action(call):
    """Run a room service; its refusal (seat, state, role) becomes ours, message unchanged."""
    try:
        return call()
    except ActionRefused as refused:
        raise ModerationRefused("wrong_state", refused.message) from None


@transaction.atomic
def report_end_space(*, report: Report, actor: User) -> Report:
    """End the reported Space (cancel it if it is still scheduled) through the room services,
    which log and broadcast `room_ended` / `room_cancelled` after commit. Every open report on
    the same target is marked actioned. Audit `end_space`."""
    check(actor, Ability.END_SPACE)
    report = _lock_report(report)
    room = report.room
    if room is None:
        raise ModerationRefused("wrong_target", _("This report is not about a Space."))
    if room.is_over:
        if report.status != Report.Status.OPEN:
            return report
        raise ModerationRefused("wrong_state", _("The Space is already over; dismiss the report."))
    if room.is_live:
        _room_action(lambda: room_services.room_end(room=room, actor=actor))
    else:
        _room_action(lambda: room_services.room_cancel(room=room, actor=actor))
    resolved = _resolve(report, actor, Report.Status.ACTIONED, whole_target=True)
    _audit(
        Kind.END_SPACE,
        actor=actor,
        report=report,
        room=room,
        target_user=room.host,
        summary=f"{_who(actor)} ended the Space “{room.title}” (report #{report.pk})",
        reports=resolved,
    )
    return report


@transaction.atomic
def report_remove_person(*, report: Report, actor: User) -> Report:
    """Remove the reported person (the post's author, the Space's host) from the Space the
    report was made in; they may not rejoin it. Through `participant_remove`, which logs and
    broadcasts `participant_removed`. Open reports on the target are actioned. Audit
    `remove_person`."""
    check(actor, Ability.REMOVE_PERSON)
    report = _lock_report(report)
    room, person = report.room, report.accused
    if room is None or person is None:
        raise ModerationRefused("wrong_target", _("This report does not name a person in a Space."))
    row = Participant.objects.filter(room=room, user=person).first()
    if row is not None and row.removed_at is not None and report.status != Report.Status.OPEN:
        return report
    if row is None or row.removed_at is None:
        _room_action(lambda: room_services.participant_remove(room=room, user=person, actor=actor))
    resolved = _resolve(report, actor, Report.Status.ACTIONED, whole_target=True)
    _audit(
        Kind.REMOVE_PERSON,
        actor=actor,
        report=report,
        room=room,
        target_user=person,
        summary=f"{_who(actor)} removed {person.email} from “{room.title}” (report #{report.pk})",
        reports=resolved,
    )
    return report


@transaction.atomic
def report_delete_post(*, report: Report, actor: User) -> Report:
    """Delete the reported post through `post_delete` (logs and broadcasts `post_deleted`; the
    text stays in the database and in the report's snapshot). Open reports on the post are
    actioned. Audit `delete_post`."""
    check(actor, Ability.DELETE_POST)
    report = _lock_report(report)
    post = report.post
    if post is None:
        raise ModerationRefused("wrong_target", _("This report is not about a post."))
    if post.deleted_at is not None and report.status != Report.Status.OPEN:
        return report
    if post.deleted_at is None:
        _room_action(lambda: room_posts.post_delete(room=post.room, post_id=post.pk, actor=actor))
    resolved = _resolve(report, actor, Report.Status.ACTIONED, whole_target=True)
    _audit(
        Kind.DELETE_POST,
        actor=actor,
        report=report,
        room=report.room,
        target_user=report.accused,
        summary=f"{_who(actor)} deleted post #{post.pk} by {_who(report.accused)}",
        reports=resolved,
        post=post.pk,
    )
    return report


# Suspensions


def _end_sessions(user: User) -> int:
    """Sign the person out everywhere: delete their sessions (database-backed session engines;
    with signed-cookie sessions the sign-in check refuses them on their next sign-in)."""
    store = import_module(settings.SESSION_ENGINE).SessionStore
    if not hasattr(store, "get_model_class"):
        return 0
    model = store.get_model_class()
    ended = []
    for session in model.objects.filter(expire_date__gt=timezone.now()).iterator():
        if session.get_decoded().get(SESSION_KEY) == str(user.pk):
            ended.append(session.session_key)
    for key in ended:
        store(session_key=key).delete()  # also clears the cached copy (cached_db)
    return len(ended)


def _leave_live_spaces(user: User) -> list[int]:
    """Take the person out of every live Space they are in (host hand-over as when leaving)."""
    rooms = list(
        Room.objects.filter(
            state=Room.State.LIVE,
            participants__user=user,
            participants__left_at__isnull=True,
            participants__removed_at__isnull=True,
        ).order_by("pk")
    )
    for room in rooms:
        room_services.participant_leave(room=room, user=user)
    return [room.pk for room in rooms]


@transaction.atomic
def suspension_create(
    *,
    user: User,
    until: datetime,
    reason: str,
    actor: User,
    report: Report | None = None,
) -> Suspension:
    """Suspend an account until `until`: they are signed out (sessions deleted), leave every
    live Space, their sockets close with the reason (`closing`, 4403, after commit), and they
    cannot sign in, host, speak or post until it ends (`selectors.suspension_of`).

    A suspension already in force is changed to the new end and reason (same values: no-op).
    With `report`, every open report on its target is actioned. Audit `suspend`.
    """
    check(actor, Ability.SUSPEND)
    if report is not None:
        check(actor, Ability.REVIEW)  # it closes the reports about the same target
    reason = (reason or "").strip()
    now = timezone.now()
    if not reason:
        raise ModerationRefused("invalid", _("Give a reason; the person will see it."))
    if timezone.is_naive(until) or until <= now:
        raise ModerationRefused("invalid", _("A suspension must end in the future."))
    if user.pk == actor.pk:
        raise ModerationRefused("invalid", _("You can't suspend yourself."))
    user = User.objects.select_for_update().get(pk=user.pk)
    if report is not None:
        report = _lock_report(report)
    current = Suspension.objects.active(now).select_for_update().filter(user=user).first()
    if current is not None and current.until == until and current.reason == reason:
        return current
    previous = None
    if current is not None:
        previous = {"until": current.until.isoformat(), "reason": current.reason}
        current.until, current.reason = until, reason
        current.save(update_fields=["until", "reason"])
        suspension = current
    else:
        suspension = Suspension.objects.create(
            user=user, until=until, reason=reason, created_by=actor, report=report
        )
    sessions = _end_sessions(user)
    left = _leave_live_spaces(user)
    resolved = []
    if report is not None:
        resolved = _resolve(report, actor, Report.Status.ACTIONED, whole_target=True)
    until_text = selectors.format_moment(until)
    _audit(
        Kind.SUSPEND,
        actor=actor,
        target_user=user,
        report=report,
        suspension=suspension,
        reason=reason,
        summary=f"{_who(actor)} suspended {user.email} until {until_text}",
        until=until.isoformat(),
        previous=previous,
        sessions_ended=sessions,
        spaces_left=left,
        reports=resolved,
    )
    room_events.close_person(user.pk, "suspended", selectors.explain(until, reason))
    return suspension


@transaction.atomic
def suspension_lift(*, suspension: Suspension, actor: User, note: str = "") -> Suspension:
    """End a suspension now: the person may sign in again. Audit `lift`; no broadcast."""
    check(actor, Ability.LIFT)
    suspension = (
        Suspension.objects.select_for_update(of=("self",))
        .select_related("user")
        .get(pk=suspension.pk)
    )
    now = timezone.now()
    if not suspension.is_active(now):
        return suspension
    suspension.lifted_at = suspension.ended_at = now
    suspension.lifted_by = actor
    suspension.save(update_fields=["lifted_at", "lifted_by", "ended_at"])
    _audit(
        Kind.LIFT,
        actor=actor,
        target_user=suspension.user,
        suspension=suspension,
        reason=note,
        summary=f"{_who(actor)} lifted the suspension of {suspension.user.email}",
    )
    return suspension


@transaction.atomic
def suspension_expire(*, suspension_id: int) -> Suspension | None:
    """Record that a suspension ran out (the system acts). It stopped counting at `until`
    already; this writes `ended_at` and the audit row `expire`, once."""
    suspension = (
        Suspension.objects.select_for_update(of=("self",))
        .select_related("user")
        .filter(pk=suspension_id)
    ).first()
    if suspension is None or suspension.ended_at is not None or suspension.lifted_at is not None:
        return suspension
    if suspension.until > timezone.now():
        return suspension
    suspension.ended_at = suspension.until
    suspension.save(update_fields=["ended_at"])
    _audit(
        Kind.EXPIRE,
        actor=None,
        target_user=suspension.user,
        suspension=suspension,
        summary=f"The suspension of {suspension.user.email} ended",
    )
    return suspension


# Flagging and staff emails (background jobs call these)


@transaction.atomic
def report_flag_check(*, report_id: int) -> bool:
    """When MODERATION_FLAG_THRESHOLD different people reported the same target within
    MODERATION_FLAG_WINDOW_HOURS, flag its open reports (top of the queue). The first time a
    target is flagged, audit `flag` and queue one email to staff. Returns True then."""
    report = Report.objects.filter(pk=report_id).first()
    if report is None or report.status != Report.Status.OPEN:
        return False
    if selectors.distinct_recent_reporters(report.target_key) < settings.MODERATION_FLAG_THRESHOLD:
        return False
    rows = list(
        Report.objects.select_for_update()
        .filter(target_key=report.target_key, status=Report.Status.OPEN)
        .values_list("pk", "flagged")
    )
    already = any(flagged for _, flagged in rows)
    Report.objects.filter(pk__in=[pk for pk, flagged in rows if not flagged]).update(
        flagged=True, flagged_at=timezone.now()
    )
    if already:
        return False
    reporters = selectors.distinct_recent_reporters(report.target_key)
    _audit(
        Kind.FLAG,
        actor=None,
        report=report,
        room=report.room,
        target_user=report.accused,
        summary=f"{reporters} people reported {report.describe_target()}: flagged",
        reporters=reporters,
    )
    from . import tasks

    transaction.on_commit(lambda: tasks.notify_flagged.delay(report.pk))
    return True


def _admin_link(report: Report) -> str:
    scheme = "http" if settings.DEBUG else "https"
    domain = Site.objects.get_current().domain
    return f"{scheme}://{domain}{reverse('admin:moderation_report_change', args=[report.pk])}"


def _send_to_moderators(subject: str, body: str) -> int:
    recipients = list(selectors.moderators().values_list("email", flat=True))
    messages = [
        EmailMessage(subject, body, settings.DEFAULT_FROM_EMAIL, [email]) for email in recipients
    ]
    if messages:
        get_connection().send_messages(messages)
    return len(messages)


def _claimed_send(report_id: int, field: str, compose) -> int:
    """Send at most once: claim the report with a conditional UPDATE (… WHERE field IS NULL)
    first; a second run finds it claimed and sends nothing. A failed send gives the claim back
    so a retry can send."""
    claimed = Report.objects.filter(pk=report_id, **{f"{field}__isnull": True}).update(
        **{field: timezone.now()}
    )
    if not claimed:
        return 0
    report = Report.objects.select_related("reporter", "accused").get(pk=report_id)
    subject, body = compose(report)
    try:
        return _send_to_moderators(subject, body)
    except Exception:
        Report.objects.filter(pk=report_id).update(**{field: None})
        raise


def _report_body(report: Report, opening: str) -> str:
    who = report.reporter.email if report.reporter else "a guest"
    lines = [
        opening,
        "",
        f"What: {report.describe_target()}",
        f"Category: {report.get_category_display()}",
        f"Reported by: {who}",
    ]
    if report.text:
        lines += ["", report.text]
    lines += ["", f"Review it: {_admin_link(report)}"]
    return "\n".join(lines)


def report_notify_staff(*, report_id: int) -> int:
    """Email staff with moderation rights about a new report, exactly once per report.
    Returns how many emails went out (0 when already sent)."""
    return _claimed_send(
        report_id,
        "notified_at",
        lambda r: (
            f"[Spaces] New report: {r.get_category_display()} — {r.describe_target()}",
            _report_body(r, "Someone reported something on Spaces."),
        ),
    )


def report_notify_flag(*, report_id: int) -> int:
    """Email staff, once, that a target crossed the report threshold and is flagged."""
    return _claimed_send(
        report_id,
        "flag_notified_at",
        lambda r: (
            f"[Spaces] Flagged: {r.describe_target()} reported by "
            f"{settings.MODERATION_FLAG_THRESHOLD}+ people",
            _report_body(
                r,
                f"{settings.MODERATION_FLAG_THRESHOLD} or more people reported this within "
                f"{settings.MODERATION_FLAG_WINDOW_HOURS} hours; it is at the top of the queue.",
            ),
        ),
    )


# Blocks


@transaction.atomic
def block_create(*, blocker: User, blocked: User) -> Block:
    """`blocker` blocks `blocked`: the blocked person cannot be invited on stage by the blocker
    (an invite sent earlier can no longer be accepted), raise a hand in Spaces the blocker hosts
    or be brought up there, and their posts are hidden from the blocker (their open sockets
    reload the list after commit). Follows between the two end, both ways. No staff audit row
    (it is the person's own choice)."""
    if not blocker.is_authenticated:
        raise ModerationRefused("not_allowed", _("Sign in to block someone."))
    if blocker.pk == blocked.pk:
        raise ModerationRefused("invalid", _("You can't block yourself."))
    User.objects.select_for_update().get(pk=blocker.pk)
    block = Block.objects.filter(blocker=blocker, blocked=blocked).first()
    if block is not None:
        return block
    block = Block.objects.create(blocker=blocker, blocked=blocked)
    follows_end_between(one=blocker, other=blocked)
    room_events.person_changed(blocker.pk, "blocks")
    return block


@transaction.atomic
def block_delete(*, blocker: User, blocked: User) -> bool:
    """Unblock. Returns whether there was a block."""
    if not blocker.is_authenticated:
        raise ModerationRefused("not_allowed", _("Sign in to unblock someone."))
    deleted, _kinds = Block.objects.filter(blocker=blocker, blocked=blocked).delete()
    if deleted:
        room_events.person_changed(blocker.pk, "blocks")
    return bool(deleted)
