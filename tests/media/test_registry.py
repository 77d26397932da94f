"""One audio router per live Space in the process."""

import pytest

from rooms.media import MediaConfig, configure, get_router, registry
from rooms.media import router as router_module


@pytest.fixture
def fresh_registry(monkeypatch):
    monkeypatch.setattr(router_module, "_registry", router_module.RouterRegistry())


async def test_each_room_has_one_router_until_it_ends(fresh_registry):
    reports = []
    rooms = configure(MediaConfig.loopback(), on_levels=lambda room, levels: reports.append(room))
    assert registry() is rooms
    first = get_router("room-1")
    assert get_router("room-1") is first and get_router("room-2") is not first
    assert first.config.bind_addresses == ["127.0.0.1"]
    assert len(rooms) == 2 and "room-1" in rooms

    first._on_levels({"host": 0.5})  # the registry tells which room the levels belong to
    assert reports == ["room-1"]

    await first.close()  # the Space ended
    assert "room-1" not in rooms and rooms.find("room-1") is None
    assert get_router("room-1") is not first
    await rooms.close_all()
    assert len(rooms) == 0


async def test_configuration_cannot_change_under_live_rooms(fresh_registry):
    configure(MediaConfig())
    get_router("live")
    with pytest.raises(RuntimeError):
        configure(MediaConfig.loopback())
    await registry().close_all()
