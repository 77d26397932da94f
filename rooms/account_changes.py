"""Open room sockets follow the account: signing out closes the session's sockets; deactivating
the account or changing its password closes all of the person's sockets.

Receivers of Django's auth and model signals, because sign-out, password changes and
deactivation happen in Django and allauth views and in the admin, not in our services. They
change nothing: they only tell sockets to close (`rooms.events`). Every socket action also
re-checks the session and the account (`rooms.live.account_check`), so a close that got lost
still leaves the socket powerless.
"""

from django.conf import settings
from django.contrib.auth.signals import user_logged_out
from django.db.models.signals import post_save, pre_save
from django.dispatch import receiver
from django.utils.translation import gettext_noop

from . import events

WATCHED = frozenset({"password", "is_active"})


@receiver(user_logged_out)
def close_session_sockets(sender, request, user, **kwargs) -> None:
    session = getattr(request, "session", None)
    if user is not None and session is not None and session.session_key:
        events.close_session(session.session_key, "signed_out", gettext_noop("You signed out."))


@receiver(pre_save, sender=settings.AUTH_USER_MODEL)
def remember_account(sender, instance, update_fields=None, **kwargs) -> None:
    if instance.pk is None or (update_fields is not None and not WATCHED & set(update_fields)):
        return
    instance._account_before = (
        sender._default_manager.filter(pk=instance.pk).values("password", "is_active").first()
    )


@receiver(post_save, sender=settings.AUTH_USER_MODEL)
def close_account_sockets(sender, instance, created, **kwargs) -> None:
    before = instance.__dict__.pop("_account_before", None)
    if created or not before:
        return
    if before["is_active"] and not instance.is_active:
        events.close_person(instance.pk, "inactive", gettext_noop("This account was deactivated."))
    elif before["password"] != instance.password:
        events.close_person(
            instance.pk,
            "signed_out",
            gettext_noop("Your password changed; sign in again."),
            close_code=4401,
        )
