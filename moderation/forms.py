from django import forms
from django.utils.translation import gettext_lazy as _

from .models import Category, Report


class ReportForm(forms.Form):
    category = forms.ChoiceField(
        label=_("What is wrong?"),
        choices=Category.choices,
        widget=forms.RadioSelect,
        error_messages={"required": _("Pick what kind of problem this is.")},
    )
    text = forms.CharField(
        label=_("Anything we should know? (optional)"),
        required=False,
        max_length=Report._meta.get_field("text").max_length,
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    # Reports made during a replay: where the player was, in seconds (filled by the page).
    offset = forms.FloatField(required=False, min_value=0, widget=forms.HiddenInput)
