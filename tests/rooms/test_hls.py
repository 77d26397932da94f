"""The live HLS stream of a Space: served with the right headers to whoever may listen, cut to
its window in storage, and gone when the Space ends."""

import asyncio
import os
import re

import numpy as np
import pytest
from channels.db import database_sync_to_async
from django.test import AsyncClient

from rooms import services
from rooms.hls import StorageWriter
from rooms.media.hls import HlsSegmenter
from tests.factories import RoomFactory, UserFactory
from tests.media.audio_peers import AudioClient
from tests.media.test_hls import decode, parse, tone
from tests.rooms.live_helpers import join

from .test_audio_socket import CONFIG, connect_audio


@pytest.fixture
def hls_dir(settings, tmp_path, db):
    """Live HLS files under a fresh directory, through the storage the app uses."""
    settings.STORAGES = {
        **settings.STORAGES,
        "hls": {"BACKEND": "rooms.hls.LiveFileStorage", "OPTIONS": {"location": tmp_path}},
    }
    return tmp_path


def stream(room, seconds=4.0, **options):
    """A stream of `seconds` of 440 Hz written for the room through the storage API."""
    writer = StorageWriter(room.pk)
    segmenter = HlsSegmenter(stream="5eed", write=writer.write, delete=writer.delete, **options)
    for i, block in enumerate(tone(seconds).reshape(-1, 960)):
        segmenter.feed(block, 1_800_000_000 + i * 0.02)
    return segmenter


def playlist_url(room):
    return f"/s/{room.slug}/hls/live.m3u8"


def test_a_guest_gets_the_playlist_and_segments_with_cache_headers_for_shared_caches(
    client, hls_dir
):
    room = RoomFactory()
    stream(room)
    response = client.get(playlist_url(room))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/vnd.apple.mpegurl"
    assert response["Cache-Control"] == "public, max-age=1"
    tags, segments = parse(response.content.decode())
    init_uri = tags["EXT-X-MAP"].split('"')[1]

    init = client.get(f"/s/{room.slug}/hls/{init_uri}")
    segment = client.get(f"/s/{room.slug}/hls/{segments[-1]['name']}")
    for part in (init, segment):
        assert part.status_code == 200
        assert part["Content-Type"] == "audio/mp4"
        assert part["Cache-Control"] == "public, max-age=31536000, immutable"
    heard = decode(init.content, segment.content)
    assert heard.size > 40_000 and np.abs(heard).max() > 5000  # the tone, not silence
    assert client.head(playlist_url(room)).status_code == 200


def test_guests_off_keeps_the_stream_for_signed_in_people_and_out_of_shared_caches(client, hls_dir):
    room = RoomFactory(guests_may_listen=False)
    stream(room)
    assert client.get(playlist_url(room)).status_code == 403
    assert client.get(f"/s/{room.slug}/hls/5eed-1.m4s").status_code == 403
    client.force_login(UserFactory())
    response = client.get(playlist_url(room))
    assert response.status_code == 200
    assert response["Cache-Control"] == "private, max-age=1"
    segment = client.get(f"/s/{room.slug}/hls/5eed-1.m4s")
    assert segment["Cache-Control"] == "private, max-age=31536000, immutable"


@pytest.mark.parametrize("state", ["ended", "scheduled", "cancelled"])
def test_a_space_that_is_not_live_has_no_stream(client, hls_dir, state):
    room = RoomFactory()
    stream(room)
    room.state = state
    room.save()
    assert client.get(playlist_url(room)).status_code == 404
    assert client.get(f"/s/{room.slug}/hls/5eed-1.m4s").status_code == 404


@pytest.mark.parametrize("name", ["live.m3u8x", "..%2Fsecret", "5eed-1.mp3", "x-1.m4s", "5eed"])
def test_only_segment_names_are_served(client, hls_dir, name):
    room = RoomFactory()
    stream(room)
    (hls_dir / str(room.pk) / "5eed").write_bytes(b"not a segment")
    assert client.get(f"/s/{room.slug}/hls/{name}").status_code == 404


def test_segments_that_left_the_window_are_gone_from_storage_and_the_site(client, hls_dir):
    room = RoomFactory()
    stream(room, seconds=16.0, window=4)
    on_disk = set(os.listdir(hls_dir / str(room.pk)))
    assert "5eed-0.m4s" not in on_disk and "5eed-14.m4s" in on_disk
    assert len([name for name in on_disk if name.endswith(".m4s")]) == 4 + 5
    assert client.get(f"/s/{room.slug}/hls/5eed-0.m4s").status_code == 404
    _, segments = parse(client.get(playlist_url(room)).content.decode())
    assert [s["name"] for s in segments] == [f"5eed-{n}.m4s" for n in range(11, 15)]


def test_a_missing_stream_is_a_short_lived_404(client, hls_dir):
    room = RoomFactory()  # live, but nobody has connected audio yet
    response = client.get(playlist_url(room))
    assert response.status_code == 404 and response["Cache-Control"] == "max-age=1"


@pytest.mark.django_db(transaction=True)
@pytest.mark.media
@pytest.mark.parametrize("recorded", [False, True])
async def test_the_stream_starts_with_the_audio_and_is_deleted_at_the_end_recorded_or_not(
    live_space, hls_dir, recorded, settings, tmp_path
):
    # a recorded Space keeps a recording of its own (rooms.recordings), not the live stream
    recordings_dir = tmp_path / "recordings"
    settings.STORAGES = {
        **settings.STORAGES,
        "recordings": {
            "BACKEND": "rooms.hls.LiveFileStorage",
            "OPTIONS": {"location": recordings_dir},
        },
    }
    room = live_space.room
    if recorded:
        room.record = True
        await database_sync_to_async(room.save)()
    socket, _ = await join(room, live_space.speaker)
    speaker = AudioClient(CONFIG, tone=440, direction="sendrecv")
    http = AsyncClient()
    try:
        await connect_audio(socket, speaker)
        await asyncio.sleep(3.0)
        response = await http.get(playlist_url(room))
        assert response.status_code == 200
        tags, segments = parse(response.content.decode())
        assert len(segments) >= 2 and "EXT-X-ENDLIST" not in tags
        init = await http.get(f"/s/{room.slug}/hls/{tags['EXT-X-MAP'].split(chr(34))[1]}")
        last = await http.get(f"/s/{room.slug}/hls/{segments[-1]['name']}")
        heard = decode(init.content, last.content)
        assert np.abs(heard[4800:]).max() > 2000  # the speaker's tone reached HLS

        await database_sync_to_async(services.room_end)(room=room, actor=live_space.host)
        folder = hls_dir / str(room.pk)
        playlist = folder / "live.m3u8"

        def files():
            return set(os.listdir(folder)) if folder.exists() else set()

        def finished():  # the end reaches the router through the hub
            return not files()

        for _ in range(100):
            if finished():
                break
            await asyncio.sleep(0.05)
        assert files() == set() and not folder.exists() and not playlist.exists()
        kept = list(recordings_dir.glob("recordings/*/*.m4s"))
        assert bool(kept) is recorded
        assert (await http.get(playlist_url(room))).status_code == 404
    finally:
        await speaker.close()
        await socket.close()


@pytest.mark.django_db(transaction=True)
@pytest.mark.media
async def test_the_stream_goes_on_for_hls_players_when_every_webrtc_peer_has_left(
    live_space, hls_dir
):
    """HLS players may be all that is left of the audience (the embed page, a full Space): the
    last WebRTC peer leaving must not end their stream while the Space is live."""
    room = live_space.room
    socket, _ = await join(room, live_space.speaker)
    speaker = AudioClient(CONFIG, tone=440, direction="sendrecv")
    http = AsyncClient()
    try:
        await connect_audio(socket, speaker)
        await asyncio.sleep(2.0)
        before, first = parse((await http.get(playlist_url(room))).content.decode())
        await speaker.close()
        await socket.close()  # the stage's only peer leaves; nobody else is on WebRTC
        await asyncio.sleep(2.5)
        response = await http.get(playlist_url(room))
        assert response.status_code == 200  # still there for the players ...
        after, segments = parse(response.content.decode())
        assert "EXT-X-ENDLIST" not in after
        assert after["EXT-X-MAP"] == before["EXT-X-MAP"]  # ... the same stream, going on
        assert int(after["EXT-X-MEDIA-SEQUENCE"]) > int(before["EXT-X-MEDIA-SEQUENCE"])
        assert segments[-1]["name"] != first[-1]["name"]
        last = await http.get(f"/s/{room.slug}/hls/{segments[-1]['name']}")
        assert last.status_code == 200

        await database_sync_to_async(services.room_end)(room=room, actor=live_space.host)
        folder = hls_dir / str(room.pk)
        for _ in range(100):  # and it stops with the Space
            if not folder.exists():
                break
            await asyncio.sleep(0.05)
        assert not folder.exists()
        assert (await http.get(playlist_url(room))).status_code == 404
    finally:
        await speaker.close()
        await socket.close()


def test_a_stream_that_stops_leaves_the_playlist_of_one_that_replaced_it(client, hls_dir):
    room = RoomFactory()
    old = stream(room, seconds=2.0)
    writer = StorageWriter(room.pk)
    new = HlsSegmenter(stream="beef", write=writer.write, delete=writer.delete)
    for i, block in enumerate(tone(2.0).reshape(-1, 960)):
        new.feed(block, 1_800_000_100 + i * 0.02)
    old.close(playlist=False)  # what the old stream does when its router closes late
    old.remove_all()
    writer.delete_playlist_of(old)
    tags, segments = parse(client.get(playlist_url(room)).content.decode())
    assert tags["EXT-X-MAP"] == 'URI="beef-init.mp4"' and segments
    assert not any(name.startswith("5eed") for name in os.listdir(hls_dir / str(room.pk)))
    new.close(playlist=False)
    new.remove_all()
    writer.delete_playlist_of(new)
    assert not (hls_dir / str(room.pk)).exists()


def test_a_private_space_streams_only_to_people_let_in_and_never_into_shared_caches(
    client, hls_dir
):
    room = RoomFactory(visibility="private")
    stream(room)
    assert client.get(playlist_url(room)).status_code == 404  # a guest: as if there were none
    client.force_login(UserFactory())
    assert client.get(playlist_url(room)).status_code == 404  # a stranger
    assert client.get(f"/s/{room.slug}/hls/5eed-1.m4s").status_code == 404
    client.force_login(room.host)
    response = client.get(playlist_url(room))
    assert response.status_code == 200
    assert response["Cache-Control"] == "private, max-age=1"


@pytest.mark.django_db(transaction=True)
async def test_ll_hls_blocking_reloads_and_hinted_parts_are_answered_once_they_exist(
    hls_dir, monkeypatch, settings
):
    room = await database_sync_to_async(RoomFactory)()
    writer = StorageWriter(room.pk)
    segmenter = HlsSegmenter(
        stream="5eed",
        write=writer.write,
        delete=writer.delete,
        segment_seconds=0.5,
        part_seconds=0.25,
    )
    blocks = iter(enumerate(tone(6.0).reshape(-1, 960)))

    def feed(seconds):
        for _ in range(int(seconds / 0.02)):
            i, block = next(blocks)
            segmenter.feed(block, 1_800_000_000 + i * 0.02)

    feed(2.0)
    http = AsyncClient()
    text = (await http.get(playlist_url(room))).content.decode()
    hint = re.search(r'PRELOAD-HINT:TYPE=PART,URI="(5eed-(\d+)\.(\d+)\.m4s)"', text)
    name, msn, part = hint.group(1), int(hint.group(2)), int(hint.group(3))
    assert (await http.get(f"/s/{room.slug}/hls/{name}x")).status_code == 404

    reload = asyncio.create_task(http.get(f"{playlist_url(room)}?_HLS_msn={msn}&_HLS_part={part}"))
    hinted = asyncio.create_task(http.get(f"/s/{room.slug}/hls/{name}"))
    await asyncio.sleep(0.4)
    assert not reload.done() and not hinted.done()  # held while the part does not exist
    feed(0.3)  # the hinted part is cut
    response = await asyncio.wait_for(reload, 3)
    assert response.status_code == 200
    assert response["Cache-Control"] == "public, max-age=6"
    assert f'URI="{name}"' in response.content.decode()
    segment = await asyncio.wait_for(hinted, 3)
    assert (
        segment.status_code == 200
        and segment.content == (hls_dir / str(room.pk) / name).read_bytes()
    )

    # what exists already is answered at once; nonsense and requests far ahead are refused
    now = await asyncio.wait_for(http.get(f"{playlist_url(room)}?_HLS_msn={msn}&_HLS_part=0"), 1)
    assert now.status_code == 200
    for query in (f"_HLS_msn={msn + 5}", "_HLS_msn=x", f"_HLS_part={part}", "_HLS_msn=-1"):
        assert (await http.get(f"{playlist_url(room)}?{query}")).status_code == 400, query
    # and a part that never comes is not waited for forever
    monkeypatch.setattr("rooms.hls_views.BLOCK_SECONDS", 0.3)
    late = await http.get(f"{playlist_url(room)}?_HLS_msn={msn + 2}&_HLS_part=0")
    assert late.status_code == 503
    # with LL-HLS switched off nothing is held: the playlist as it is, at once
    settings.SPACES_HLS = {**settings.SPACES_HLS, "PART_SECONDS": None}
    plain = await asyncio.wait_for(http.get(f"{playlist_url(room)}?_HLS_msn={msn + 2}"), 1)
    assert plain.status_code == 200 and "#EXTM3U" in plain.content.decode()


@pytest.mark.django_db(transaction=True)
@pytest.mark.media
async def test_a_router_left_streaming_alone_stops_when_another_publishes_the_space(
    live_space, hls_dir
):
    """The speaker's audio moved on (another process or worker publishes the Space now): the
    router kept here for HLS players stops instead of rewriting the playlist against it."""
    from rooms import media_bridge
    from tests.test_nginx_hls import LiveStream

    room = live_space.room
    socket, _ = await join(room, live_space.speaker)
    speaker = AudioClient(CONFIG, tone=440, direction="sendrecv")
    other = None
    try:
        await connect_audio(socket, speaker)
        await asyncio.sleep(1.5)
        await speaker.close()
        await socket.close()
        await asyncio.sleep(1.5)
        router = media_bridge.bridge().routers.find(str(room.pk))
        assert router is not None  # streaming alone
        other = LiveStream(room)  # a stream of the Space written elsewhere
        other.start()
        for _ in range(100):
            if router.closed:
                break
            await asyncio.sleep(0.1)
        assert router.closed
        await asyncio.sleep(1.0)
        text = (hls_dir / str(room.pk) / "live.m3u8").read_text()
        assert other.segmenter.init_name in text  # the other stream's playlist stands
    finally:
        if other is not None:
            other.stop.set()
            other.join(timeout=5)
        await speaker.close()
        await socket.close()
