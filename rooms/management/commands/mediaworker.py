import asyncio
import logging

from channels.layers import get_channel_layer
from channels.routing import ChannelNameRouter, ProtocolTypeRouter
from channels.worker import Worker
from django.core.management.base import BaseCommand, CommandError

from rooms import media_bridge
from rooms.media_worker import MediaWorkerConsumer
from rooms.realtime import MESSAGE_TYPE, PROCESS_GROUP

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Run a media worker: the audio routers of Spaces assigned to CHANNEL (SPACES_MEDIA)."

    def add_arguments(self, parser):
        parser.add_argument("channel", help="this worker's channel, one of SPACES_MEDIA_WORKERS")

    def handle(self, *args, channel: str, **options):
        layer = get_channel_layer()
        if layer is None or type(layer).__module__.startswith("channels.layers"):
            raise CommandError("Media workers need a shared channel layer: set REDIS_URL.")
        application = ProtocolTypeRouter(
            {"channel": ChannelNameRouter({channel: MediaWorkerConsumer.as_asgi()})}
        )

        async def room_events(events_channel: str) -> None:
            # Mutes, moves back and ends reach this worker's routers like any daphne process.
            while True:
                message = await layer.receive(events_channel)
                if message.get("type") == MESSAGE_TYPE:
                    try:
                        await media_bridge.on_room_event(message["room_id"], message["event"])
                    except Exception:
                        logger.exception("Room event failed in the media worker")

        async def run() -> None:
            events_channel = await layer.new_channel("spaces.mediaworker.")
            await layer.group_add(PROCESS_GROUP, events_channel)
            listener = asyncio.create_task(room_events(events_channel))
            worker = Worker(application=application, channels=[channel], channel_layer=layer)
            serving = asyncio.create_task(worker.arun())
            await asyncio.sleep(0.2)  # the worker subscribes to its channel
            self.stdout.write(f"Media worker listening on {channel}")
            self.stdout.flush()
            await asyncio.gather(listener, serving)

        asyncio.run(run())
