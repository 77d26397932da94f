"""A media worker process: holds the audio routers of the Spaces assigned to it.

Started with `manage.py mediaworker <channel>`: offers arrive on its own channel, and each answer
goes back to the asking process (`reply_to`, matched by `request_id`: `realtime.Hub.request`).
Room events reach its routers through a member of the process group that the command adds, and
the command beats a heartbeat and moves the Spaces of stopped workers (see the command).
"""

from typing import Any

from channels.consumer import AsyncConsumer

from . import media_bridge
from .realtime import REPLY_TYPE


class MediaWorkerConsumer(AsyncConsumer):
    async def media_offer(self, message: dict[str, Any]) -> None:
        reply: dict[str, Any] = {"type": REPLY_TYPE, "request_id": message.get("request_id")}
        try:
            reply["sdp"] = await media_bridge.local_offer(
                message["room_id"],
                message["peer_id"],
                message["user_id"],
                message["role"],
                message["muted"],
                message["sdp"],
            )
        except media_bridge.OfferRefused as refused:
            reply["error"], reply["code"] = refused.message, refused.code
        await self.channel_layer.send(message["reply_to"], reply)

    async def media_disconnect(self, message: dict[str, Any]) -> None:
        await media_bridge.disconnect(message["room_id"], message["peer_id"])
