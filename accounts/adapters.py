"""allauth customisation: every new account gets a profile; suspended accounts cannot sign in."""

from allauth.account.adapter import DefaultAccountAdapter
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from django.shortcuts import render

from .services import profile_ensure, profile_language_set


class AccountAdapter(DefaultAccountAdapter):
    def populate_username(self, request, user):
        """An account made without a chosen handle (social sign-in) gets a neutral one:
        allauth's default would build it from the email address, which then shows in public."""
        from allauth.account.utils import user_username

        from .handles import handle_generate

        if not user_username(user):
            user_username(user, handle_generate())

    def save_user(self, request, user, form, commit=True):
        user = super().save_user(request, user, form, commit=commit)
        if commit:
            profile_ensure(user=user)
        return user

    def login(self, request, user):
        super().login(request, user)
        # Reminders and other mail sent later are written in the language of the last visit.
        language = getattr(request, "LANGUAGE_CODE", "")
        if language:
            profile_language_set(user=user, language=language)

    def pre_login(self, request, user, **kwargs):
        """Every sign-in (password, email code, social, the admin's) passes here: a suspended
        account is turned away with the reason and the end of the suspension."""
        response = super().pre_login(request, user, **kwargs)
        if response is not None:
            return response
        from moderation.selectors import suspension_of  # moderation builds on accounts

        suspension = suspension_of(user)
        if suspension is None:
            return None
        # As allauth does for inactive accounts: forget the half-done sign-in.
        from allauth.account.internal.stagekit import clear_login

        clear_login(request)
        return render(request, "moderation/suspended.html", {"suspension": suspension}, status=403)


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    def save_user(self, request, sociallogin, form=None):
        user = super().save_user(request, sociallogin, form=form)
        profile = profile_ensure(user=user)
        name = sociallogin.account.extra_data.get("name") or ""
        if name and not profile.display_name:
            profile.display_name = name[:50]
            profile.save(update_fields=["display_name"])
        return user
