"""Staff review in the Django admin: the report queue, suspensions and the audit log.

Every action calls a moderation service with `actor=request.user`; the service checks the
permission again, writes the audit row and broadcasts after commit. A refused action shows its
reason and changes nothing. Reports, suspensions and the audit log are never edited as rows.
"""

from collections.abc import Callable
from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from spaces_project.admin_tools import ReadOnlyAdmin, run_each

from . import selectors, services
from .exceptions import ModerationRefused
from .models import Block, ModerationAction, Report, Suspension
from .permissions import Ability, can


def _admin_url(name: str, *args) -> str | None:
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return None


class AgeFilter(admin.SimpleListFilter):
    title = _("age")
    parameter_name = "age"
    WINDOWS = {"1d": timedelta(days=1), "7d": timedelta(days=7)}

    def lookups(self, request, model_admin):
        return [
            ("1d", _("Last 24 hours")),
            ("7d", _("Last 7 days")),
            ("older", _("Older than 7 days")),
        ]

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() in self.WINDOWS:
            return queryset.filter(created_at__gte=now - self.WINDOWS[self.value()])
        if self.value() == "older":
            return queryset.filter(created_at__lt=now - self.WINDOWS["7d"])
        return queryset


DURATIONS = [
    (1, "1 hour"),
    (24, "1 day"),
    (24 * 3, "3 days"),
    (24 * 7, "7 days"),
    (24 * 30, "30 days"),
    (24 * 365, "1 year"),
]


class SuspendForm(forms.Form):
    hours = forms.TypedChoiceField(
        label=_("Suspend for"), choices=DURATIONS, coerce=int, initial=24 * 7
    )
    reason = forms.CharField(
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text=_("The person sees this when they try to sign in, and in the live Space."),
    )


class SuspendAccountForm(SuspendForm):
    email = forms.EmailField(label=_("Account email"))

    field_order = ["email", "hours", "reason"]

    def clean_email(self):
        user = User.objects.filter(email__iexact=self.cleaned_data["email"]).first()
        if user is None:
            raise forms.ValidationError(_("There is no account with this email."))
        self.cleaned_data["user"] = user
        return self.cleaned_data["email"]


class ServiceActionsMixin:
    """Run a service for each selected row; each succeeds or is refused on its own."""

    def run(
        self,
        request: HttpRequest,
        ability: Ability,
        objects,
        call: Callable,
        done: str,
        describe: Callable = str,
    ) -> None:
        if not can(request.user, ability):
            self.message_user(
                request, _("You don't have the permission to do that."), messages.ERROR
            )
            return
        run_each(self, request, objects, call, done, describe=describe, refused=ModerationRefused)

    def suspend_form_page(
        self, request: HttpRequest, queryset, people: list[User], title: str, action: str
    ):
        """The intermediate page of a suspend action: duration and reason, then apply."""
        if not can(request.user, Ability.SUSPEND):
            self.message_user(
                request, _("You don't have the permission to do that."), messages.ERROR
            )
            return None
        form = SuspendForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            return form
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "opts": self.model._meta,
            "form": form,
            "people": people,
            "queryset": queryset,
            "action": action,
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
            "media": self.media + form.media,
        }
        return TemplateResponse(request, "admin/moderation/suspend.html", context)


def report_action(description: str, ability: Ability, service: Callable, done: str) -> Callable:
    """An admin action that applies `service(report=..., actor=...)` to each selected report."""

    @admin.action(description=description)
    def action(model_admin, request, queryset):
        model_admin.run(
            request,
            ability,
            queryset,
            lambda report: service(report=report, actor=request.user),
            done,
            model_admin._describe,
        )

    return action


@admin.register(Report)
class ReportAdmin(ServiceActionsMixin, ReadOnlyAdmin, admin.ModelAdmin):
    """The report queue: flagged targets first, then the newest. Reports come from people and
    are evidence: never added, edited or deleted here."""

    list_display = [
        "flag",
        "created_at",
        "category",
        "target_type",
        "target",
        "accused_email",
        "reporter_label",
        "status",
        "open_on_target",
    ]
    list_display_links = ["created_at"]
    list_filter = ["status", "category", AgeFilter, "target_type", "flagged"]
    list_select_related = ["reporter", "accused", "room", "post"]
    search_fields = ["accused__email", "reporter__email", "room__title", "room__slug", "text"]
    ordering = ["-flagged", "-created_at"]
    date_hierarchy = "created_at"
    actions = [
        "dismiss",
        "end_space",
        "remove_person",
        "delete_post",
        "suspend_accused",
        "lift_suspension",
    ]
    fields = [
        "status",
        "flagged",
        "category",
        "text",
        "target_type",
        "target",
        "accused",
        "reporter_label",
        "created_at",
        "evidence",
        "recording_evidence",
        "event_log",
        "open_on_target",
        "resolved_at",
        "resolved_by",
        "history",
    ]
    readonly_fields = fields

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(open_on_target_count=selectors.open_reports_on_target())
        )

    @admin.display(description="⚑", ordering="flagged", boolean=True)
    def flag(self, report: Report) -> bool:
        return report.flagged

    @admin.display(description=_("About"))
    def target(self, report: Report) -> str:
        return report.describe_target()

    @admin.display(description=_("Person"), ordering="accused__email")
    def accused_email(self, report: Report) -> str:
        return report.accused.email if report.accused else "—"

    @admin.display(description=_("Reported by"))
    def reporter_label(self, report: Report) -> str:
        return report.reporter.email if report.reporter else "a guest"

    @admin.display(description=_("Open reports on this"), ordering="open_on_target_count")
    def open_on_target(self, report: Report) -> int:
        return report.open_on_target_count

    @admin.display(description=_("Evidence (as it was when reported)"))
    def evidence(self, report: Report) -> str:
        snap = report.snapshot or {}
        rows = []
        if "space" in snap:
            space = snap["space"]
            speakers = ", ".join(f"{s['name']} ({s['role']})" for s in space.get("speakers", []))
            rows += [
                (_("Space"), space.get("title", "")),
                (_("Host"), space.get("host", {}).get("name", "")),
                (_("On stage"), speakers or _("nobody")),
                (_("State"), space.get("state", "")),
            ]
            if space.get("description"):
                rows.append((_("Description"), space["description"]))
        if "post" in snap:
            post = snap["post"]
            rows += [
                (_("Post by"), post.get("author", {}).get("name", "")),
                (_("Post"), post["text"]),
            ]
        if "question" in snap:
            question = snap["question"]
            rows += [
                (_("Question by"), question.get("author", {}).get("name", "")),
                (_("Question"), question["text"]),
            ]
        if "person" in snap:
            person = snap["person"]
            rows += [(_("Person"), f"{person.get('name')} <{person.get('email', '')}>")]
            if person.get("bio"):
                rows.append((_("Bio"), person["bio"]))
        links = []
        if report.room_id:
            room_url = _admin_url("admin:rooms_room_change", report.room_id)
            if room_url:
                links.append(
                    format_html('<a href="{}">{}</a>', room_url, _("The Space in the admin"))
                )
        table = format_html_join(
            "", "<tr><th>{}</th><td>{}</td></tr>", ((label, value) for label, value in rows)
        )
        return format_html(
            "<table>{}</table>{}", table, format_html_join(" · ", "{}", ((link,) for link in links))
        )

    @admin.display(description=_("What was heard (the recording around the moment reported)"))
    def recording_evidence(self, report: Report) -> str:
        """The clip, or 30 s of the Space's recording around the report's offset, as a player
        (a media fragment `#t=start,end` on the recording's .m4a)."""
        from rooms import recordings, replay
        from rooms.models import Clip, Recording

        clip = report.clip
        if clip is not None and clip.state == Clip.State.READY:
            return format_html(
                '<audio controls preload="metadata" src="{}" data-testid="evidence-audio"></audio>'
                " {}",
                recordings.clip_audio_url(clip),
                _("the clip as reported"),
            )
        if report.offset is None or report.room is None:
            return "—"
        recording = replay.recording_of(report.room)
        if recording is None or recording.state != Recording.State.READY:
            state = recording.get_state_display() if recording else _("no recording")
            return format_html("{} ({})", _("The recording is not available"), state)
        start = max(0.0, report.offset - 15)
        end = min(recording.duration, report.offset + 15)
        return format_html(
            '<audio controls preload="metadata" src="{}#t={},{}" data-testid="evidence-audio">'
            "</audio> {}",
            recordings.recording_url(recording, recording.audio_file),
            f"{start:.0f}",
            f"{end:.0f}",
            _("%(start)d s to %(end)d s of the recording") % {"start": start, "end": end},
        )

    @admin.display(description=_("The Space's event log until the report"))
    def event_log(self, report: Report) -> str:
        entries = selectors.event_log_until(report)
        if not entries:
            return "—"
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    f"{event.created_at:%Y-%m-%d %H:%M:%S}",
                    event.verb,
                    event.actor.email if event.actor else "system",
                    event.target.email if event.target else "",
                )
                for event in entries
            ),
        )
        return format_html("<table>{}</table>", rows)

    @admin.display(description=_("Staff actions on this report"))
    def history(self, report: Report) -> str:
        entries = report.actions.select_related("actor").order_by("created_at")
        return (
            format_html_join(
                "",
                "<p>{} — {}</p>",
                ((f"{a.created_at:%Y-%m-%d %H:%M}", a.summary) for a in entries),
            )
            or "—"
        )

    # Actions

    def _describe(self, report: Report) -> str:
        return f"Report #{report.pk} ({report.describe_target()})"

    dismiss = report_action(
        _("Dismiss: nothing to act on"),
        Ability.REVIEW,
        services.report_dismiss,
        _("Reports dismissed"),
    )
    end_space = report_action(
        _("End the reported Space"), Ability.END_SPACE, services.report_end_space, _("Spaces ended")
    )
    remove_person = report_action(
        _("Remove the reported person from the Space"),
        Ability.REMOVE_PERSON,
        services.report_remove_person,
        _("Removed from the Space"),
    )
    delete_post = report_action(
        _("Delete the reported post"),
        Ability.DELETE_POST,
        services.report_delete_post,
        _("Posts deleted"),
    )

    @admin.action(description=_("Suspend the reported person…"))
    def suspend_accused(self, request, queryset):
        reports = list(queryset.exclude(accused=None).select_related("accused"))
        by_person: dict[int, Report] = {}
        for report in reports:
            by_person.setdefault(report.accused_id, report)
        people = [report.accused for report in by_person.values()]
        if not people:
            self.message_user(request, _("These reports name nobody to suspend."), messages.ERROR)
            return None
        page = self.suspend_form_page(
            request, queryset, people, _("Suspend the reported people"), "suspend_accused"
        )
        if not isinstance(page, SuspendForm):
            return page
        until = timezone.now() + timedelta(hours=page.cleaned_data["hours"])
        reason = page.cleaned_data["reason"]
        self.run(
            request,
            Ability.SUSPEND,
            by_person.values(),
            lambda r: services.suspension_create(
                user=r.accused, until=until, reason=reason, actor=request.user, report=r
            ),
            _("Accounts suspended"),
            lambda r: r.accused.email,
        )
        return None

    @admin.action(description=_("Lift the reported person's suspension"))
    def lift_suspension(self, request, queryset):
        people = queryset.exclude(accused=None).values_list("accused_id", flat=True)
        self.run(
            request,
            Ability.LIFT,
            Suspension.objects.active().filter(user_id__in=people).select_related("user"),
            lambda s: services.suspension_lift(suspension=s, actor=request.user),
            _("Suspensions lifted"),
            lambda s: s.user.email,
        )


class InForceFilter(admin.SimpleListFilter):
    title = _("in force")
    parameter_name = "in_force"

    def lookups(self, request, model_admin):
        return [("yes", _("In force")), ("no", _("Ended or lifted"))]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.active()
        if self.value() == "no":
            return queryset.exclude(pk__in=Suspension.objects.active().values("pk"))
        return queryset


@admin.register(Suspension)
class SuspensionAdmin(ServiceActionsMixin, admin.ModelAdmin):
    list_display = ["user", "until", "in_force", "reason", "created_by", "created_at", "lifted_at"]
    list_filter = [InForceFilter, "created_at"]
    list_select_related = ["user", "created_by", "lifted_by"]
    search_fields = ["user__email", "reason"]
    ordering = ["-created_at"]
    actions = ["lift"]
    fields = [
        "user",
        "until",
        "reason",
        "report",
        "created_by",
        "created_at",
        "lifted_at",
        "lifted_by",
        "ended_at",
    ]
    readonly_fields = fields

    @admin.display(boolean=True, description=_("In force"))
    def in_force(self, suspension: Suspension) -> bool:
        return suspension.is_active()

    # "Add" is the suspend form below (a service call), never a bare row; rows are not edited.
    def has_add_permission(self, request) -> bool:
        return can(request.user, Ability.SUSPEND)

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = SuspendAccountForm(request.POST or None, initial=request.GET.dict() or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                suspension = services.suspension_create(
                    user=data["user"],
                    until=timezone.now() + timedelta(hours=data["hours"]),
                    reason=data["reason"],
                    actor=request.user,
                )
            except ModerationRefused as refused:
                form.add_error(None, refused.message)
            else:
                self.message_user(
                    request,
                    _("%(email)s is suspended.") % {"email": suspension.user.email},
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(reverse("admin:moderation_suspension_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "title": _("Suspend an account"),
            "opts": self.model._meta,
            "form": form,
            "media": self.media + form.media,
        }
        return TemplateResponse(request, "admin/moderation/suspension_add.html", context)

    @admin.action(description=_("Lift the selected suspensions"))
    def lift(self, request, queryset):
        self.run(
            request,
            Ability.LIFT,
            queryset.select_related("user"),
            lambda s: services.suspension_lift(suspension=s, actor=request.user),
            _("Suspensions lifted"),
            lambda s: s.user.email,
        )


@admin.register(ModerationAction)
class ModerationActionAdmin(ReadOnlyAdmin, admin.ModelAdmin):
    """The audit log: listed, filtered and searched; never added, changed or deleted (the
    detail page is refused too: everything is in the list)."""

    list_display = ["created_at", "kind", "actor", "target_user", "summary", "reason"]
    list_display_links = None
    list_filter = ["kind", "created_at"]
    search_fields = ["summary", "reason", "actor__email", "target_user__email"]
    list_select_related = ["actor", "target_user"]
    date_hierarchy = "created_at"
    ordering = ["-created_at", "-id"]

    def get_actions(self, request):
        return {}

    def has_view_permission(self, request, obj=None) -> bool:
        return obj is None and super().has_view_permission(request)


@admin.register(Block)
class BlockAdmin(ReadOnlyAdmin, admin.ModelAdmin):
    """People's own blocks, for support questions; read-only."""

    list_display = ["blocker", "blocked", "created_at"]
    search_fields = ["blocker__email", "blocked__email"]
    list_select_related = ["blocker", "blocked"]
    fields = list_display
    readonly_fields = fields
