"""Staff tools for Spaces. Every change goes through the same services as the room page, with
`actor=request.user`, so the rules, the event log and the live broadcast are the same; a refused
action shows its reason and changes nothing."""

from collections.abc import Callable

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.db.models import Case, Count, IntegerField, Q, When
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from spaces_project.admin_tools import ReadOnlyAdmin, run_each

from . import recordings, services
from .exceptions import ActionRefused
from .models import Clip, Invite, Participant, Recording, Role, Room, RoomEvent, Topic
from .permissions import is_staff_moderator

INLINE_LIMIT = 100
ROLE_ORDER = Case(
    When(role=Role.HOST, then=0),
    When(role=Role.COHOST, then=1),
    When(role=Role.SPEAKER, then=2),
    default=3,
    output_field=IntegerField(),
)
PRESENT = Q(participants__left_at__isnull=True, participants__removed_at__isnull=True)


def moderates(request: HttpRequest) -> bool:
    """`is_staff_moderator`, asked once per request: the admin asks it for every model."""
    if not hasattr(request, "_spaces_moderator"):
        request._spaces_moderator = is_staff_moderator(request.user)
    return request._spaces_moderator


class ModerationMixin:
    """Actions are for staff who may act as host in any Space (`rooms.moderate_room`)."""

    def has_moderate_permission(self, request: HttpRequest) -> bool:
        return moderates(request)

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return super().has_view_permission(request, obj) or moderates(request)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return super().has_module_permission(request) or moderates(request)

    def run(self, request: HttpRequest, objects, call: Callable, done: str) -> None:
        """Call a service for each selected object; each succeeds or is refused on its own."""
        run_each(self, request, objects, call, done, describe=self.describe, refused=ActionRefused)

    def describe(self, obj) -> str:
        return str(obj)


class ParticipantInlineFormSet(BaseInlineFormSet):
    def get_queryset(self):
        # Stage first; a Space with thousands of listeners shows the first hundred here and
        # all of them in the Participants list. Kept, so the formset queries once.
        if not hasattr(self, "_stage_first"):
            queryset = super().get_queryset().order_by(ROLE_ORDER, "joined_at")
            self._stage_first = queryset[:INLINE_LIMIT]
        return self._stage_first


class ParticipantInline(admin.TabularInline):
    model = Participant
    formset = ParticipantInlineFormSet
    fields = ["user", "role", "is_muted", "hand_raised_at", "joined_at", "left_at", "removed_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True
    verbose_name_plural = _("Participants (stage first, up to %(most)s)") % {"most": INLINE_LIMIT}

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user")

    def has_view_permission(self, request, obj=None) -> bool:
        return super().has_view_permission(request, obj) or moderates(request)

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Room)
class RoomAdmin(ModerationMixin, ReadOnlyAdmin, admin.ModelAdmin):
    # Spaces change through their actions, never by editing the row.
    list_display = [
        "title",
        "state",
        "host_email",
        "scheduled_for",
        "started_at",
        "listeners",
        "on_stage",
        "participants_link",
    ]
    list_filter = [
        "state",
        ("scheduled_for", admin.DateFieldListFilter),
        "created_at",
        "started_at",
    ]
    search_fields = ["title", "host__email", "slug"]
    list_select_related = ["host"]
    date_hierarchy = "created_at"
    ordering = ["-created_at"]
    inlines = [ParticipantInline]
    actions = ["end_spaces", "cancel_spaces"]
    readonly_fields = [
        "title",
        "description",
        "topics",
        "host",
        "state",
        "scheduled_for",
        "started_at",
        "ended_at",
        "slug",
        "public_link",
        "guests_may_listen",
        "record",
        "media_worker",
        "created_at",
    ]
    fields = readonly_fields

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                listener_total=Count(
                    "participants", filter=PRESENT & Q(participants__role=Role.LISTENER)
                ),
                stage_total=Count(
                    "participants", filter=PRESENT & ~Q(participants__role=Role.LISTENER)
                ),
            )
        )

    @admin.display(description=_("Host"), ordering="host__email")
    def host_email(self, room: Room) -> str:
        return room.host.email

    @admin.display(description=_("Listening"), ordering="listener_total")
    def listeners(self, room: Room) -> int:
        return room.listener_total

    @admin.display(description=_("On stage"), ordering="stage_total")
    def on_stage(self, room: Room) -> int:
        return room.stage_total

    @admin.display(description=_("People"))
    def participants_link(self, room: Room) -> str:
        url = reverse("admin:rooms_participant_changelist") + f"?room__id__exact={room.pk}"
        return format_html('<a href="{}">{}</a>', url, _("Manage people"))

    @admin.display(description=_("Public link"))
    def public_link(self, room: Room) -> str:
        url = reverse("space_public", args=[room.slug])
        return format_html('<a href="{}">{}</a>', url, url)

    @admin.action(description=_("End the selected Spaces"), permissions=["moderate"])
    def end_spaces(self, request, queryset):
        self.run(
            request,
            queryset,
            lambda room: services.room_end(room=room, actor=request.user),
            _("Spaces ended"),
        )

    @admin.action(description=_("Cancel the selected scheduled Spaces"), permissions=["moderate"])
    def cancel_spaces(self, request, queryset):
        self.run(
            request,
            queryset,
            lambda room: services.room_cancel(room=room, actor=request.user),
            _("Spaces cancelled"),
        )


class PresentFilter(admin.SimpleListFilter):
    title = _("presence")
    parameter_name = "presence"

    def lookups(self, request, model_admin):
        return [("present", _("In the Space now")), ("left", _("Left")), ("removed", _("Removed"))]

    def queryset(self, request, queryset):
        if self.value() == "present":
            return queryset.present()
        if self.value() == "left":
            return queryset.filter(left_at__isnull=False, removed_at__isnull=True)
        if self.value() == "removed":
            return queryset.filter(removed_at__isnull=False)
        return queryset


@admin.register(Participant)
class ParticipantAdmin(ModerationMixin, ReadOnlyAdmin, admin.ModelAdmin):
    list_display = ["person", "email", "space", "room_state", "role", "is_muted", "joined_at"]
    list_filter = ["role", PresentFilter, "room__state"]
    search_fields = ["user__email", "user__profile__display_name", "room__title", "room__slug"]
    list_select_related = ["user__profile", "room"]
    ordering = ["-joined_at"]
    actions = ["promote_to_speaker", "promote_to_cohost", "move_to_audience", "remove_from_space"]
    fields = [
        "room",
        "user",
        "role",
        "is_muted",
        "hand_raised_at",
        "role_since",
        "joined_at",
        "left_at",
        "removed_at",
    ]
    readonly_fields = fields

    def describe(self, participant: Participant) -> str:
        return f"{participant.user.display_name} in “{participant.room.title}”"

    @admin.display(description=_("Person"), ordering="user__email")
    def person(self, participant: Participant) -> str:
        return participant.user.display_name

    @admin.display(description=_("Email"), ordering="user__email")
    def email(self, participant: Participant) -> str:
        return participant.user.email

    @admin.display(description=_("Space"), ordering="room__title")
    def space(self, participant: Participant) -> str:
        return participant.room.title

    @admin.display(description=_("Space state"), ordering="room__state")
    def room_state(self, participant: Participant) -> str:
        return participant.room.get_state_display()

    def _act(self, request, queryset, service, done: str) -> None:
        self.run(
            request,
            queryset.select_related("room", "user__profile"),
            lambda p: service(room=p.room, user=p.user, actor=request.user),
            done,
        )

    @admin.action(description=_("Promote to speaker"), permissions=["moderate"])
    def promote_to_speaker(self, request, queryset):
        self._act(request, queryset, services.speaker_promote, _("Promoted to speaker"))

    @admin.action(description=_("Promote to co-host"), permissions=["moderate"])
    def promote_to_cohost(self, request, queryset):
        self._act(request, queryset, services.cohost_promote, _("Promoted to co-host"))

    @admin.action(description=_("Move back to the audience"), permissions=["moderate"])
    def move_to_audience(self, request, queryset):
        self._act(
            request, queryset, services.participant_move_to_audience, _("Moved to the audience")
        )

    @admin.action(description=_("Remove from the Space"), permissions=["moderate"])
    def remove_from_space(self, request, queryset):
        self._act(request, queryset, services.participant_remove, _("Removed"))


@admin.register(RoomEvent)
class RoomEventAdmin(ReadOnlyAdmin, admin.ModelAdmin):
    """The event log, read-only: who did what to whom, when."""

    list_display = ["created_at", "room", "verb", "actor", "target"]
    list_filter = ["verb", "created_at"]
    search_fields = ["room__title", "room__slug", "actor__email", "target__email", "verb"]
    list_select_related = ["room", "actor", "target"]
    date_hierarchy = "created_at"
    fields = ["created_at", "room", "verb", "actor", "target", "data"]
    readonly_fields = fields


@admin.register(Invite)
class InviteAdmin(admin.ModelAdmin):
    list_display = ["room", "invitee", "inviter", "role", "created_at", "expires_at", "outcome"]
    list_filter = ["role", "outcome"]
    search_fields = ["room__title", "room__slug", "invitee__email", "inviter__email"]
    list_select_related = ["room", "invitee", "inviter"]
    fields = list_display + ["responded_at"]
    readonly_fields = fields

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Topic)
class TopicAdmin(admin.ModelAdmin):
    list_display = ["name", "slug"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}


# Recordings and clips: staff take them down (files removed, the audit log says who and why).


class TakeDownForm(ActionForm):
    reason = forms.CharField(label=_("Reason (for take-downs)"), required=False, max_length=500)


class TakeDownMixin(ModerationMixin):
    action_form = TakeDownForm

    def take_down_each(self, request, queryset, call) -> None:
        reason = request.POST.get("reason", "").strip()
        if not reason:
            self.message_user(request, _("Give a reason for the take-down."), messages.ERROR)
            return
        self.run(request, queryset, lambda obj: call(obj, reason), _("Taken down"))


@admin.register(Recording)
class RecordingAdmin(TakeDownMixin, ReadOnlyAdmin, admin.ModelAdmin):
    list_display = ["room", "state", "duration", "storage_bytes", "created_at", "replay_link"]
    list_filter = ["state", "created_at"]
    search_fields = ["room__title", "room__slug", "room__host__email"]
    list_select_related = ["room"]
    actions = ["take_down"]
    readonly_fields = [
        "room",
        "state",
        "prefix",
        "started_at",
        "duration",
        "playlist",
        "audio_file",
        "storage_bytes",
        "created_at",
        "ready_at",
        "deleted_at",
        "removed_reason",
        "replay_link",
    ]
    fields = readonly_fields

    @admin.display(description=_("Replay"))
    def replay_link(self, recording: Recording) -> str:
        url = reverse("space_public", args=[recording.room.slug])
        return format_html('<a href="{}">{}</a>', url, url)

    @admin.action(description=_("Take down the selected recordings"), permissions=["moderate"])
    def take_down(self, request, queryset):
        self.take_down_each(
            request,
            queryset,
            lambda recording, reason: recordings.take_down_recording(
                recording=recording, staff=request.user, reason=reason
            ),
        )


@admin.register(Clip)
class ClipAdmin(TakeDownMixin, ReadOnlyAdmin, admin.ModelAdmin):
    list_display = ["slug", "room", "creator", "start", "duration", "state", "created_at"]
    list_filter = ["state", "created_at"]
    search_fields = ["slug", "room__title", "creator__email"]
    list_select_related = ["room", "creator"]
    actions = ["take_down"]
    readonly_fields = [
        "slug",
        "room",
        "recording",
        "creator",
        "start",
        "duration",
        "state",
        "progress",
        "audio_file",
        "speakers",
        "created_at",
        "ready_at",
        "removed_reason",
        "clip_link",
    ]
    fields = readonly_fields

    @admin.display(description=_("Clip page"))
    def clip_link(self, clip: Clip) -> str:
        url = reverse("clip_page", args=[clip.slug])
        return format_html('<a href="{}">{}</a>', url, url)

    @admin.action(description=_("Take down the selected clips"), permissions=["moderate"])
    def take_down(self, request, queryset):
        self.take_down_each(
            request,
            queryset,
            lambda clip, reason: recordings.take_down_clip(
                clip=clip, staff=request.user, reason=reason
            ),
        )
