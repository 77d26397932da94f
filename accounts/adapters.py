"""allauth customisation: every new account gets a profile."""

from allauth.account.adapter import DefaultAccountAdapter
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter

from .services import profile_ensure


class AccountAdapter(DefaultAccountAdapter):
    def save_user(self, request, user, form, commit=True):
        user = super().save_user(request, user, form, commit=commit)
        if commit:
            profile_ensure(user=user)
        return user


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    def save_user(self, request, sociallogin, form=None):
        user = super().save_user(request, sociallogin, form=form)
        profile = profile_ensure(user=user)
        name = sociallogin.account.extra_data.get("name") or ""
        if name and not profile.display_name:
            profile.display_name = name[:50]
            profile.save(update_fields=["display_name"])
        return user
