"""HLS from the listener mix: segments, playlist, window and deletion, and the tone inside."""

import asyncio
import datetime
import io
import re
import time

import av
import numpy as np
import pytest

from rooms.media.hls import PLAYLIST, HlsPublisher, HlsSegmenter

from .audio_peers import dominant_frequency, rms, tone_share

RATE = 48_000
START = 1_800_000_000.0  # the wall-clock time the first block is mixed at


class Store:
    """Where a segmenter's files go: name -> bytes, and every write and delete in order."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.log: list[tuple[str, str]] = []

    def write(self, name: str, data: bytes) -> None:
        self.files[name] = data
        self.log.append(("write", name))

    def delete(self, name: str) -> None:
        del self.files[name]
        self.log.append(("delete", name))

    def playlist(self) -> str:
        return self.files[PLAYLIST].decode()


def tone(seconds: float, frequency: float = 440.0) -> np.ndarray:
    n = np.arange(int(seconds * RATE))
    return (8000 * np.sin(2 * np.pi * frequency * n / RATE)).astype(np.int16)


def run(segmenter: HlsSegmenter, audio: np.ndarray) -> None:
    for i, block in enumerate(audio.reshape(-1, 960)):
        segmenter.feed(block, START + i * 0.02)


def parse(playlist: str) -> tuple[dict[str, str], list[dict]]:
    """The playlist's header tags and its segments (name, duration, program date-time)."""
    lines = playlist.strip().split("\n")
    assert lines[0] == "#EXTM3U"
    tags, segments, current = {}, [], {}
    for line in lines[1:]:
        if line.startswith("#EXT-X-PROGRAM-DATE-TIME:"):
            current["pdt"] = datetime.datetime.fromisoformat(line.split(":", 1)[1])
        elif line.startswith("#EXTINF:"):
            current["duration"] = float(line[len("#EXTINF:") :].rstrip(","))
        elif line.startswith("#"):
            key, _, value = line[1:].partition(":")
            tags[key] = value
        else:
            segments.append({**current, "name": line})
            current = {}
    return tags, segments


def decode(init: bytes, *segments: bytes) -> np.ndarray:
    """What a player decodes from the init segment followed by these media segments."""
    with av.open(io.BytesIO(init + b"".join(segments)), "r", format="mp4") as container:
        frames = [f.to_ndarray().reshape(-1) for f in container.decode(audio=0)]
    return (np.concatenate(frames) * 32767).astype(np.int16)


def test_the_playlist_is_a_live_window_with_a_program_date_time_on_every_segment():
    store = Store()
    segmenter = HlsSegmenter(stream="s1", write=store.write, delete=store.delete, window=6)
    run(segmenter, tone(12.0))

    tags, segments = parse(store.playlist())
    assert tags["EXT-X-VERSION"] == "7" and "EXT-X-ENDLIST" not in tags
    assert tags["EXT-X-MAP"] == 'URI="s1-init.mp4"'
    assert len(segments) == 6  # the window
    sequences = [int(re.fullmatch(r"s1-(\d+)\.m4s", s["name"]).group(1)) for s in segments]
    assert sequences == list(range(sequences[0], sequences[0] + 6))
    assert int(tags["EXT-X-MEDIA-SEQUENCE"]) == sequences[0] == 5  # 11 complete, last 6 listed
    target = int(tags["EXT-X-TARGETDURATION"])
    assert target == 1
    for segment in segments:
        assert 0.95 <= segment["duration"] <= 1.05 and round(segment["duration"]) <= target
    # each segment's date-time is where the one before it ended, anchored to the mixing clock
    for before, after in zip(segments, segments[1:], strict=False):
        gap = (after["pdt"] - before["pdt"]).total_seconds()
        assert gap == pytest.approx(before["duration"], abs=0.002)
    first = segments[0]["pdt"].timestamp() - START
    assert first == pytest.approx(sequences[0] * 47 * 1024 / RATE - 1024 / RATE, abs=0.002)
    assert all(s["pdt"].tzinfo == datetime.UTC for s in segments)


def test_segments_leave_the_window_and_are_deleted_once_players_cannot_need_them():
    store = Store()
    segmenter = HlsSegmenter(stream="s2", write=store.write, delete=store.delete, window=4)
    run(segmenter, tone(15.0))
    _, segments = parse(store.playlist())
    listed = {s["name"] for s in segments}
    kept = {name for name in store.files if name.endswith(".m4s")}
    # listed ones, and those that left the playlist less than a playlist's length ago
    assert listed < kept and len(kept) == 4 + 5
    assert ("delete", "s2-0.m4s") in store.log and "s2-0.m4s" not in store.files
    assert "s2-init.mp4" in store.files
    # a segment is written before the playlist that names it
    for name in listed:
        assert store.log.index(("write", name)) < len(store.log) - 1

    segmenter.close()
    tags, _ = parse(store.playlist())
    assert "EXT-X-ENDLIST" in tags
    segmenter.remove_all()
    assert set(store.files) == {PLAYLIST}  # the caller removes the playlist with the Space


def test_a_kept_stream_deletes_nothing():
    store = Store()
    segmenter = HlsSegmenter(stream="s3", write=store.write, delete=store.delete, keep=True)
    run(segmenter, tone(10.0))
    assert not [entry for entry in store.log if entry[0] == "delete"]
    assert len([n for n in store.files if n.endswith(".m4s")]) == 9


def test_a_segment_decodes_to_the_tone_and_consecutive_segments_join_without_a_gap():
    store = Store()
    segmenter = HlsSegmenter(stream="s4", write=store.write, delete=store.delete)
    run(segmenter, tone(5.0))
    init = store.files["s4-init.mp4"]
    assert init[4:8] == b"ftyp" and b"mp4a" in init  # AAC in fMP4
    one = decode(init, store.files["s4-2.m4s"])
    assert one.size == pytest.approx(RATE, rel=0.03)
    assert abs(dominant_frequency(one) - 440) <= 5 and tone_share(one, 440) > 0.95

    joined = decode(init, store.files["s4-1.m4s"], store.files["s4-2.m4s"])
    windows = joined[: joined.size // 960 * 960].reshape(-1, 960)
    assert min(rms(w) for w in windows) > 0.8 * 5657  # every 20 ms at the tone's level
    assert tone_share(joined, 440) > 0.99


async def test_the_publisher_encodes_off_the_event_loop_and_finishes_the_stream():
    store = Store()
    publisher = HlsPublisher(HlsSegmenter(stream="s5", write=store.write, delete=store.delete))
    audio = tone(3.0).reshape(-1, 960)
    started = time.perf_counter()
    for i, block in enumerate(audio):
        publisher.feed(block, START + i * 0.02)
    on_loop = time.perf_counter() - started
    await publisher.close()
    assert on_loop < 0.05  # 150 blocks queued: the encoding happened on the thread
    tags, segments = parse(store.playlist())
    assert "EXT-X-ENDLIST" in tags and sum(s["duration"] for s in segments) == pytest.approx(
        3.0, abs=0.05
    )
    assert publisher.busy_seconds > 0


async def test_a_failing_writer_stops_the_stream_but_not_the_caller(caplog):
    def broken(name, data):
        raise OSError("disk full")

    publisher = HlsPublisher(HlsSegmenter(stream="s6", write=broken))
    for i, block in enumerate(tone(2.0).reshape(-1, 960)):
        publisher.feed(block, START + i * 0.02)
    await publisher.close()
    assert "HLS stream s6 failed" in caplog.text


@pytest.mark.media
async def test_the_router_feeds_hls_the_same_mix_its_listeners_hear(router, make_client):
    store = Store()
    publisher = HlsPublisher(HlsSegmenter(stream="live", write=store.write, delete=store.delete))
    router.add_listener_tap(publisher)
    speaker = make_client(tone=440, direction="sendrecv")
    await speaker.join(router, "host", role="speaker")
    await asyncio.sleep(3.5)
    await router.close()  # closes the tap: the stream ends
    tags, segments = parse(store.playlist())
    assert "EXT-X-ENDLIST" in tags and len(segments) >= 3
    last = decode(store.files["live-init.mp4"], store.files[segments[-2]["name"]])
    assert abs(dominant_frequency(last) - 440) <= 5 and tone_share(last, 440) > 0.9
    # the program date-times are the mixing clock's: within the last few seconds
    assert time.time() - 6 < segments[0]["pdt"].timestamp() < time.time()


def test_low_latency_parts_are_listed_hinted_and_join_into_their_segment():
    """LL-HLS: a part every ~0.25 s, listed as soon as it is written, the next one hinted; the
    segment is its parts joined, and parts leave with their segment."""
    store = Store()
    segmenter = HlsSegmenter(
        stream="s6",
        write=store.write,
        delete=store.delete,
        window=4,
        segment_seconds=0.5,
        part_seconds=0.25,
    )
    run(segmenter, tone(8.1))
    text = store.playlist()
    tags, segments = parse(text)
    assert "CAN-BLOCK-RELOAD=YES" in tags["EXT-X-SERVER-CONTROL"]
    part_target = float(tags["EXT-X-PART-INF"].split("=")[1])
    hold_back = float(re.search(r"PART-HOLD-BACK=([0-9.]+)", text).group(1))
    assert part_target == pytest.approx(0.256) and hold_back >= 3 * part_target
    parts = re.findall(r'#EXT-X-PART:DURATION=([0-9.]+),URI="([^"]+)",INDEPENDENT=YES', text)
    assert all(0.85 * part_target <= float(d) <= part_target for d, _ in parts)
    # the last complete segment is its two parts, byte for byte
    last = re.fullmatch(r"s6-(\d+)\.m4s", segments[-1]["name"]).group(1)
    assert store.files[f"s6-{last}.m4s"] == (
        store.files[f"s6-{last}.0.m4s"] + store.files[f"s6-{last}.1.m4s"]
    )
    # parts of the segment in progress are listed before it is complete; the next is hinted
    newest = parts[-1][1]
    assert newest.startswith(f"s6-{int(last) + 1}.")
    hint = re.search(r'#EXT-X-PRELOAD-HINT:TYPE=PART,URI="([^"]+)"', text).group(1)
    assert hint == f"s6-{int(last) + 1}.1.m4s" and hint not in store.files
    # each part plays by itself after the init segment: players need not wait for the segment
    one = decode(store.files["s6-init.mp4"], store.files[newest])
    assert one.size == pytest.approx(0.256 * RATE, rel=0.1) and tone_share(one, 440) > 0.9
    # a part is written before the playlist that lists it
    assert store.log.index(("write", newest)) < len(store.log) - 1
    # the parts of segments that left go with them
    assert ("delete", "s6-0.0.m4s") in store.log and "s6-0.1.m4s" not in store.files

    segmenter.close()
    ended = store.playlist()
    assert "#EXT-X-ENDLIST" in ended and "PART" not in ended and "PRELOAD" not in ended
    segmenter.remove_all()
    assert set(store.files) == {PLAYLIST}
