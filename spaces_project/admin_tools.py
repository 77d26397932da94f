"""What the apps' admin classes share: read-only rows, and actions that call a service per row."""

from collections.abc import Callable

from django.contrib import messages
from django.http import HttpRequest
from django.utils.translation import gettext as _


class ReadOnlyAdmin:
    """Rows are shown, never added, edited or deleted here: changes go through services."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


def run_each(
    model_admin,
    request: HttpRequest,
    objects,
    call: Callable,
    done: str,
    *,
    describe: Callable = str,
    refused: type[Exception],
) -> None:
    """Call a service for each selected object; each succeeds or is refused on its own.

    `refused` is the service's refusal (with a `message` for people); each is shown, and the
    successes are counted in one message `done: N.`
    """
    succeeded = 0
    for obj in objects:
        try:
            call(obj)
        except refused as error:
            why = error.message  # type: ignore[attr-defined]
            text = _("%(what)s: %(why)s") % {"what": describe(obj), "why": why}
            model_admin.message_user(request, text, messages.ERROR)
        else:
            succeeded += 1
    if succeeded:
        text = _("%(done)s: %(count)s.") % {"done": done, "count": succeeded}
        model_admin.message_user(request, text, messages.SUCCESS)
