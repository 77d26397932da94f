from django.apps import AppConfig


class RoomsConfig(AppConfig):
    name = "rooms"
    verbose_name = "Spaces"

    def ready(self) -> None:
        from . import account_changes, checks, media_bridge, realtime  # noqa: F401 (receivers, checks)

        # Every room-wide event reaches this process's audio router before the fan-out.
        if media_bridge.on_room_event not in realtime.event_hooks:
            realtime.event_hooks.append(media_bridge.on_room_event)
