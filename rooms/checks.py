"""System checks for settings that only work together."""

from django.conf import settings
from django.core.checks import Warning, register


@register()
def presence_outlasts_pings(app_configs, **kwargs) -> list[Warning]:
    """A presence row must outlive the gap between two pings, or live sockets are swept."""
    stale = settings.SPACES_PRESENCE_STALE_SECONDS
    ping = settings.SPACES_CLIENT_PING_SECONDS
    if stale < ping + 10:
        return [
            Warning(
                f"SPACES_PRESENCE_STALE_SECONDS ({stale}) is below the page's ping interval "
                f"({ping} s) plus 10 s: the presence sweep would forget sockets that are open.",
                hint=f"Set it to {ping + 10} or more (90 by default).",
                id="rooms.W001",
            )
        ]
    return []
