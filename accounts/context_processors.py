"""Template context for every page: the unread count under the bell in the header."""

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from .selectors import notifications_unread_count


def notifications(request: HttpRequest) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    # Lazy: the one COUNT query runs only when a template shows the bell.
    return {"unread_notifications": SimpleLazyObject(lambda: notifications_unread_count(user=user))}
