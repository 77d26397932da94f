"""Recordings with real audio in storage, for page and browser tests.

`recorded_space(...)` makes an ended, recorded Space whose READY recording has a VOD playlist
of AAC fMP4 segments (cut by rooms/media/hls.py's segmenter, as live Spaces are) and an `.m4a`,
written to `storages["recordings"]`. The audio is a tone whose pitch says where you are: each
part of `tones` (frequency in Hz, seconds) follows the previous one, so a test can seek and
check what it hears.
"""

import io
import secrets
from datetime import UTC, datetime, timedelta

import av
import numpy as np
from django.core.files.base import ContentFile
from django.utils import timezone

from rooms.media.hls import HlsSegmenter
from rooms.media.mixer import SAMPLE_RATE
from rooms.models import Recording, Room
from rooms.replay import storage as recording_storage
from tests.factories import RoomFactory

BLOCK = 960  # 20 ms


def tone_samples(tones: list[tuple[float, float]]) -> np.ndarray:
    parts = []
    for frequency, seconds in tones:
        t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
        parts.append((0.4 * 32767 * np.sin(2 * np.pi * frequency * t)).astype(np.int16))
    return np.concatenate(parts)


def _segments(
    samples: np.ndarray, segment_seconds: float, start: float
) -> tuple[dict[str, bytes], str]:
    files: dict[str, bytes] = {}
    segmenter = HlsSegmenter(
        stream="5ec0",
        write=files.__setitem__,
        segment_seconds=segment_seconds,
        window=100_000,
        keep=True,
    )
    for at in range(0, len(samples) - BLOCK + 1, BLOCK):
        segmenter.feed(samples[at : at + BLOCK], start + at / SAMPLE_RATE)
    segmenter.close()
    files.pop("live.m3u8", None)
    lines = [
        "#EXTM3U",
        "#EXT-X-VERSION:7",
        f"#EXT-X-TARGETDURATION:{segmenter.target_duration}",
        "#EXT-X-PLAYLIST-TYPE:VOD",
        "#EXT-X-MEDIA-SEQUENCE:0",
        "#EXT-X-INDEPENDENT-SEGMENTS",
        f'#EXT-X-MAP:URI="{segmenter.init_name}"',
    ]
    for segment in segmenter.segments:
        wall = datetime.fromtimestamp(segment.program_time, UTC).isoformat(timespec="milliseconds")
        lines += [
            f"#EXT-X-PROGRAM-DATE-TIME:{wall.replace('+00:00', 'Z')}",
            f"#EXTINF:{segment.duration:.5f},",
            segment.name,
        ]
    lines.append("#EXT-X-ENDLIST")
    return files, "\n".join(lines) + "\n"


def _m4a(samples: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    output = av.open(buffer, "w", format="ipod")
    stream = output.add_stream("aac", rate=SAMPLE_RATE)
    stream.layout = "mono"
    stream.bit_rate = 64_000
    for at in range(0, len(samples), 1024):
        frame = av.AudioFrame.from_ndarray(
            samples[at : at + 1024].reshape(1, -1), format="s16", layout="mono"
        )
        frame.sample_rate = SAMPLE_RATE
        frame.pts = at
        for packet in stream.encode(frame):
            output.mux(packet)
    for packet in stream.encode(None):
        output.mux(packet)
    output.close()
    return buffer.getvalue()


def write_recording(
    room: Room,
    *,
    tones: list[tuple[float, float]] = ((440.0, 10.0),),
    state: str = Recording.State.READY,
    segment_seconds: float = 2.0,
    started_at=None,
) -> Recording:
    """A recording of `room` with real files (playlist, segments, .m4a) in storage."""
    samples = tone_samples(list(tones))
    duration = len(samples) / SAMPLE_RATE
    prefix = f"recordings/{room.pk}-{secrets.token_hex(4)}/"
    storage = recording_storage()
    started_at = started_at or room.started_at or timezone.now() - timedelta(hours=1)
    files, playlist = _segments(samples, segment_seconds, started_at.timestamp())
    files["replay.m3u8"] = playlist.encode()
    files["replay.m4a"] = _m4a(samples)
    for name, data in files.items():
        storage.save(f"{prefix}{name}", ContentFile(data))
    return Recording.objects.create(
        room=room,
        state=state,
        prefix=prefix,
        started_at=started_at,
        duration=duration,
        playlist="replay.m3u8",
        audio_file="replay.m4a",
        storage_bytes=sum(len(d) for d in files.values()),
        ready_at=timezone.now() if state == Recording.State.READY else None,
    )


def recorded_space(
    *, tones=((440.0, 10.0),), state=Recording.State.READY, **room_fields
) -> tuple[Room, Recording]:
    """An ended, recorded Space with its recording (READY by default) and real audio."""
    started = timezone.now() - timedelta(hours=2)
    fields = {
        "state": Room.State.ENDED,
        "record": True,
        "started_at": started,
        "ended_at": started + timedelta(minutes=30),
        "with_host": False,
        **room_fields,
    }
    room = RoomFactory(**fields)
    return room, write_recording(room, tones=tones, state=state, started_at=started)
