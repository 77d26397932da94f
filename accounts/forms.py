from django import forms

from .models import Profile


class ProfileForm(forms.ModelForm):
    class Meta:
        model = Profile
        fields = ["display_name", "bio", "avatar"]
        widgets = {"bio": forms.Textarea(attrs={"rows": 3})}
        help_texts = {"bio": "Up to 160 characters.", "display_name": "Shown in Spaces."}
