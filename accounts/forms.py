from allauth.account.forms import SignupForm as AllauthSignupForm
from django import forms
from django.utils.translation import gettext_lazy as _

from .handles import HANDLE_MAX, normalize
from .models import Profile


def _handle_field(**kwargs) -> forms.CharField:
    return forms.CharField(
        label=_("Handle"),
        max_length=HANDLE_MAX + 1,  # room for a leading @
        help_text=_("Your unique @name in links to your profile: letters, digits, underscores."),
        widget=forms.TextInput(attrs={"autocomplete": "username", "spellcheck": "false"}),
        **kwargs,
    )


def _display_name_field(**kwargs) -> forms.CharField:
    return forms.CharField(
        label=_("Display name"),
        max_length=50,
        help_text=_("Shown to others in Spaces."),
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
        **kwargs,
    )


class SignupForm(AllauthSignupForm):
    """allauth's sign-up form plus a display name, with the username presented as the @handle
    (allauth validates it: ACCOUNT_USERNAME_VALIDATORS, blacklist, case-insensitive uniqueness)."""

    field_order = ["display_name", "username", "email", "password1", "password2"]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["display_name"] = _display_name_field()
        username = self.fields["username"]
        username.label = _("Handle")
        username.help_text = _handle_field().help_text
        username.widget.attrs["placeholder"] = _("e.g. ada_l")
        self.order_fields(self.field_order)

    def clean_username(self):
        self.cleaned_data["username"] = normalize(self.cleaned_data.get("username") or "")
        return super().clean_username()

    def save(self, request):
        user = super().save(request)
        from .services import profile_ensure

        profile = profile_ensure(user=user)
        profile.display_name = self.cleaned_data["display_name"].strip()
        profile.full_clean()
        profile.save(update_fields=["display_name"])
        return user


class ProfileForm(forms.ModelForm):
    handle = _handle_field(required=False)  # left empty: unchanged
    follow_email = forms.ChoiceField(  # left out: unchanged
        choices=Profile.FollowEmail.choices,
        required=False,
        widget=forms.RadioSelect,
        label=_("Email me when people I follow go live or schedule a Space"),
    )

    class Meta:
        model = Profile
        fields = ["display_name", "bio", "avatar"]
        widgets = {"bio": forms.Textarea(attrs={"rows": 3})}
        labels = {
            "display_name": _("Display name"),
            "bio": _("Short bio"),
            "avatar": _("Avatar"),
        }
        help_texts = {
            "bio": _("Up to 160 characters."),
            "display_name": _("Shown to others in Spaces."),
        }

    field_order = ["display_name", "handle", "bio", "avatar", "follow_email"]
