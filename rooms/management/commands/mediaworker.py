import asyncio
import logging

from channels.layers import get_channel_layer
from channels.routing import ChannelNameRouter, ProtocolTypeRouter
from channels.worker import Worker
from django.core.management.base import BaseCommand, CommandError

from rooms.media_worker import MediaWorkerConsumer
from rooms.realtime import PROCESS_GROUP

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
        self.stdout.write(f"Media worker listening on {channel}")

        async def run() -> None:
            # Room events (mutes, moves back, ends) reach this worker like any daphne process.
            await layer.group_add(PROCESS_GROUP, channel)
            worker = Worker(application=application, channels=[channel], channel_layer=layer)
            await worker.arun()

        asyncio.run(run())
