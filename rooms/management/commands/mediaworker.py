import asyncio
import logging
import signal

from asgiref.sync import sync_to_async
from channels.layers import InMemoryChannelLayer, get_channel_layer
from channels.routing import ChannelNameRouter, ProtocolTypeRouter
from channels.worker import Worker
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import close_old_connections

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
        media_bridge.this_worker = channel
        if layer is None or isinstance(layer, InMemoryChannelLayer):
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

        beat_seconds = float(settings.SPACES_MEDIA.get("WORKER_HEARTBEAT_SECONDS", 1.0))

        def beat() -> None:
            media_bridge.worker_heartbeat(channel)
            # Every live worker looks out for the others: a dead worker's Spaces move at once.
            moved = media_bridge.rescue_spaces()
            if moved:
                logger.warning("Moved the audio of Spaces %s off a stopped media worker", moved)

        async def heartbeat() -> None:
            while True:
                try:
                    await sync_to_async(beat, thread_sensitive=False)()
                except Exception:
                    logger.exception("Media worker heartbeat failed")
                finally:
                    close_old_connections()
                await asyncio.sleep(beat_seconds)

        async def run() -> None:
            events_channel = await layer.new_channel("spaces.mediaworker.")
            await layer.group_add(PROCESS_GROUP, events_channel)
            listener = asyncio.create_task(room_events(events_channel))
            worker = Worker(application=application, channels=[channel], channel_layer=layer)
            serving = asyncio.create_task(worker.arun())
            await asyncio.sleep(0.2)  # the worker subscribes to its channel
            await sync_to_async(media_bridge.worker_heartbeat)(channel)
            beating = asyncio.create_task(heartbeat())
            stopping = asyncio.Event()
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(signum, stopping.set)
            self.stdout.write(f"Media worker listening on {channel}")
            self.stdout.flush()
            await stopping.wait()
            for task in (beating, listener, serving):
                task.cancel()
            # Stopping cleanly: the other workers take this worker's Spaces at once.
            await sync_to_async(media_bridge.worker_stopped)(channel)

        asyncio.run(run())
