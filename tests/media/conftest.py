import logging

import pytest

from rooms.media import MediaConfig, Router

from .audio_peers import AudioClient


@pytest.fixture(autouse=True)
def quiet_ice_checks():
    """aioice logs every connectivity check at INFO; hundreds of joins would flood the report."""
    ice = logging.getLogger("aioice")
    level = ice.level
    ice.setLevel(logging.WARNING)
    yield
    ice.setLevel(level)


@pytest.fixture
def media_config():
    """Loopback only and no ICE servers: nothing outside this machine is contacted."""
    return MediaConfig.loopback()


@pytest.fixture
async def router(media_config):
    room = Router("test-room", media_config)
    yield room
    await room.close()


@pytest.fixture
async def make_client(media_config):
    """Create aiortc test peers (tone players / recorders) that are closed after the test."""
    made = []

    def make(**kwargs):
        client = AudioClient(media_config, **kwargs)
        made.append(client)
        return client

    yield make
    for client in made:
        await client.close()
