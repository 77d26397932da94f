from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django import forms
from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from .exceptions import ActionRefused
from .models import Room, Topic
from .services import check_schedule


class SpaceForm(forms.Form):
    """Create a Space (now or scheduled) or edit a scheduled one.

    The start time is typed in the person's own time zone: static/js/space-form.js fills in the
    hidden `timezone` field from the browser; without JavaScript, times are UTC and say so.
    """

    START_NOW, START_LATER = "now", "later"

    title = forms.CharField(
        label=_("Title"), max_length=70, widget=forms.TextInput(attrs={"autocomplete": "off"})
    )
    description = forms.CharField(
        label=_("Description"),
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    topics = forms.ModelMultipleChoiceField(
        queryset=Topic.objects.all(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label=_("Topics"),
        help_text=_("Up to %(count)d.") % {"count": Room.MAX_TOPICS},
    )
    start = forms.ChoiceField(
        choices=[(START_NOW, _("Start now")), (START_LATER, _("Schedule for later"))],
        initial=START_NOW,
        widget=forms.RadioSelect,
        label=pgettext_lazy("start of a Space", "When"),
    )
    scheduled_for = forms.DateTimeField(
        required=False,
        label=_("Start time"),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"],
        help_text=_("Times are in UTC."),
    )
    timezone = forms.CharField(required=False, widget=forms.HiddenInput)
    guests_may_listen = forms.BooleanField(
        required=False,
        initial=True,
        label=_("People without an account may listen through the link"),
    )
    record = forms.BooleanField(
        required=False,
        initial=False,
        label=_("Record this Space"),
        help_text=_(
            "Everyone sees that it is recorded. Speakers choose whether their voice is kept. "
            "After it ends, the replay plays at the same link."
        ),
    )

    visibility = forms.ChoiceField(
        label=_("Who can find and join it"),
        choices=[
            (Room.Visibility.PUBLIC, _("Public: listed, and anyone with the link can join")),
            (
                Room.Visibility.UNLISTED,
                _("Unlisted: not listed or searchable; anyone with the link can join"),
            ),
            (
                Room.Visibility.PRIVATE,
                _("Private: only people you let in; others can ask to join"),
            ),
        ],
        initial=Room.Visibility.PUBLIC,
        required=False,
        widget=forms.RadioSelect,
    )

    def __init__(self, *args, editing: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.editing = editing
        days = settings.SPACES_MAX_SCHEDULE_AHEAD_DAYS
        self.fields["scheduled_for"].help_text = _(
            "Up to %(days)d days ahead. Times are in UTC."
        ) % {"days": days}
        if editing:
            del self.fields["start"]
            self.fields["scheduled_for"].required = True

    @classmethod
    def for_room(cls, room: Room, data=None) -> "SpaceForm":
        initial = {
            "title": room.title,
            "description": room.description,
            "topics": list(room.topics.all()),
            "scheduled_for": room.scheduled_for.astimezone(ZoneInfo("UTC")).replace(tzinfo=None)
            if room.scheduled_for
            else None,
            "timezone": "UTC",
            "guests_may_listen": room.guests_may_listen,
            "record": room.record,
            "visibility": room.visibility,
            "scheduled_at": room.scheduled_for,
        }
        return cls(data, initial=initial, editing=True)

    def clean_topics(self):
        topics = self.cleaned_data["topics"]
        if len(topics) > Room.MAX_TOPICS:
            raise forms.ValidationError(
                _("Pick at most %(count)d topics.") % {"count": Room.MAX_TOPICS}
            )
        return topics

    def clean_visibility(self) -> str | None:
        """Left out, a new Space is public and an edited one keeps what it had (None)."""
        chosen = self.cleaned_data.get("visibility")
        return chosen or (None if self.editing else Room.Visibility.PUBLIC)

    def clean_timezone(self) -> ZoneInfo:
        name = self.cleaned_data.get("timezone") or "UTC"
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            return ZoneInfo("UTC")

    def clean(self):
        data = super().clean()
        later = self.editing or data.get("start") == self.START_LATER
        when: datetime | None = data.get("scheduled_for")
        if not later:
            data["scheduled_for"] = None
            return data
        if when is None:
            if "scheduled_for" not in self.errors:
                self.add_error("scheduled_for", _("Pick a start time."))
            return data
        # The field read the wall-clock time as UTC; read it in the person's zone instead.
        zone = data.get("timezone") or ZoneInfo("UTC")
        when = when.astimezone(ZoneInfo("UTC")).replace(tzinfo=None)
        data["scheduled_for"] = timezone.make_aware(when, zone)
        if self.editing and data["scheduled_for"] == self.initial.get("scheduled_at"):
            return data  # unchanged: the service accepts it as it is
        try:
            check_schedule(data["scheduled_for"])
        except ActionRefused as refused:
            self.add_error("scheduled_for", refused.message)
        return data
