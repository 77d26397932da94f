"""Recordings, replays and clips: what a recorded Space keeps, and every change to it.

While a Space with `record` is live, the router that mixes its stage also feeds a *recording
mix* (everyone on stage who is recorded: the host, co-hosts and speakers who said yes; a speaker
who declined or has not chosen yet is heard live and left out) to an AAC encoder that cuts it
into fMP4 segments of `SPACES_RECORDING_SEGMENT_SECONDS` (`rooms.media.hls.HlsSegmenter` with
`keep`), written through `storages["recordings"]` under the recording's `prefix`:

    <prefix><stream>-init.mp4, <prefix><stream>-<n>.m4s   one "stream" per router that recorded
    <prefix><stream>.done                                 that stream ended cleanly
    <prefix>replay.m3u8, <prefix>replay.m4a               assembled after the Space ends
    <prefix>clips/<clip slug>.m4a                         clips

The storage folder is the truth about what was recorded: the replay's timeline (offset 0 =
`Recording.started_at`) is the streams one after the other, each as long as its segments say
(`fragment_timing`); time while no router recorded (everyone had left) is not in it.

Services (the pages call these; each is atomic and broadcasts after commit):
    set_recording_consent, create_clip, delete_recording, take_down_recording, take_down_clip,
    count_play; recording_url / clip_audio_url name what `rooms.recording_views` serves.
Celery entry points (rooms.tasks) call recording_assemble, clip_cut, recording_files_remove,
clip_files_remove, recordings_sweep and recordings_expire.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import re
import secrets
import tempfile
import time
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import av
from channels.db import database_sync_to_async
from django.conf import settings
from django.core.files.base import ContentFile, File
from django.core.files.storage import FileSystemStorage, Storage, storages
from django.db import IntegrityError, connections, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from spaces_project import ratelimit

from . import events
from .exceptions import ActionRefused, Code
from .hls import LiveFileStorage
from .media import HlsPublisher, HlsSegmenter, Router, RouterClosed
from .media.hls import PLAYLIST, program_date_time
from .media.mixer import SAMPLE_RATE
from .models import ON_STAGE, Clip, Participant, Recording, ReplayPlay, Role, Room, RoomEvent
from .visibility import room_visible_to

logger = logging.getLogger(__name__)

REPLAY_PLAYLIST = "replay.m3u8"
REPLAY_AUDIO = "replay.m4a"
SEGMENT_NAME = re.compile(r"(?P<stream>[0-9a-f]{1,16})-(?P<sequence>\d{1,12})\.m4s")
INIT_NAME = re.compile(r"(?P<stream>[0-9a-f]{1,16})-init\.mp4")
DONE_SUFFIX = ".done"
ALWAYS_RECORDED = (Role.HOST, Role.COHOST)
GONE = (Recording.State.DELETED, Recording.State.REMOVED)


def recordings_storage() -> Storage:
    return storages["recordings"]


def _setting(name: str, default: Any) -> Any:
    return getattr(settings, name, default)


# -- writing while live ----------------------------------------------------------------------


def _save(storage: Storage, name: str, data: bytes | File) -> None:
    """Save under exactly `name` (a storage that would pick another name loses the old file)."""
    overwrites = isinstance(storage, LiveFileStorage) or getattr(storage, "file_overwrite", False)
    if not overwrites and storage.exists(name):
        storage.delete(name)
    content = ContentFile(data) if isinstance(data, bytes) else data
    saved = storage.save(name, content)
    if saved != name:  # pragma: no cover - a storage that ignores the overwrite rules
        raise OSError(f"storage saved {name} as {saved}")


class RecordingWriter:
    """write(name, bytes) for one stream of a recording: segments and the init as they come;
    the segmenter's live playlist is not kept, except its last version, which marks the stream
    as complete (`<stream>.done`)."""

    def __init__(self, prefix: str, stream: str, storage: Storage | None = None) -> None:
        self.prefix = prefix
        self.stream = stream
        self.storage = storage or recordings_storage()
        self.stopped = False  # the recording was taken down: blocks still queued are dropped

    def write(self, name: str, data: bytes) -> None:
        if self.stopped:
            return
        if name == PLAYLIST:
            if b"#EXT-X-ENDLIST" not in data:
                return
            name = self.stream + DONE_SUFFIX
        _save(self.storage, self.prefix + name, data)


class RecordingTap:
    """The router's recording tap: hands the recording mix to an `HlsPublisher` (its own
    thread) and reports the wall-clock time of the first block it kept."""

    def __init__(
        self, publisher: HlsPublisher, on_first_block, writer: RecordingWriter | None = None
    ) -> None:
        self.publisher = publisher
        self._on_first_block = on_first_block
        self.writer = writer

    def stop_writing(self) -> None:
        """Write nothing more, not even the blocks already queued (a take-down)."""
        if self.writer is not None:
            self.writer.stopped = True

    def feed(self, block, wall_time: float) -> None:
        if self._on_first_block is not None:
            first, self._on_first_block = self._on_first_block, None
            first(wall_time)
        self.publisher.feed(block, wall_time)

    async def close(self) -> None:
        await self.publisher.close()


_recording_routers: weakref.WeakSet[Router] = weakref.WeakSet()
_background: set[asyncio.Task] = set()


def _live_recording(room_id: int) -> Recording | None:
    """The recording a live recorded Space writes to, created on its first router."""
    room = Room.objects.filter(pk=room_id).only("pk", "record", "state").first()
    if room is None or not room.record or room.state != Room.State.LIVE:
        return None
    recording = Recording.objects.filter(room_id=room_id).first()
    if recording is None:
        try:
            with transaction.atomic():
                recording = Recording.objects.create(
                    room_id=room_id, prefix=f"recordings/{room_id}-{secrets.token_hex(12)}/"
                )
        except IntegrityError:  # another process's router started it at the same moment
            recording = Recording.objects.get(room_id=room_id)
    return recording if recording.state == Recording.State.RECORDING else None


def _mark_started(recording_id: int, wall_time: float) -> None:
    Recording.objects.filter(pk=recording_id, started_at__isnull=True).update(
        started_at=datetime.fromtimestamp(wall_time, UTC)
    )


def _stream_closed(recording_id: int) -> None:
    """A stream's last segment is written (publisher thread): assemble if the Space is over."""
    try:
        ended = (
            Recording.objects.filter(pk=recording_id).exclude(room__state=Room.State.LIVE).exists()
        )
        if ended:
            from .tasks import recording_assemble

            recording_assemble.delay(recording_id)
    finally:
        connections.close_all()  # this thread's own: it ends after this


async def ensure_recording(router: Router, room_id: int) -> None:
    """Start recording the Space's recording mix on this router, once per router; nothing for
    a Space that is not recorded."""
    if router in _recording_routers or router.closed:
        return
    _recording_routers.add(router)  # before any await: two offers at once start one stream
    try:
        recording = await database_sync_to_async(_live_recording)(room_id)
    except Exception:
        _recording_routers.discard(router)
        raise
    if recording is None:
        return
    stream = f"{int(time.time() * 1000):x}"
    writer = RecordingWriter(recording.prefix, stream)
    segmenter = HlsSegmenter(
        stream=stream,
        write=writer.write,
        segment_seconds=_setting("SPACES_RECORDING_SEGMENT_SECONDS", 2.0),
        window=3,
        bitrate=_setting("SPACES_RECORDING_BITRATE", 64_000),
        keep=True,
    )
    recording_id = recording.pk
    publisher = HlsPublisher(segmenter, on_closed=lambda _stream: _stream_closed(recording_id))

    def first_block(wall_time: float) -> None:
        task = asyncio.get_running_loop().create_task(
            database_sync_to_async(_mark_started)(recording_id, wall_time)
        )
        _background.add(task)
        task.add_done_callback(_background.discard)

    try:
        router.add_recording_tap(RecordingTap(publisher, first_block, writer))
    except RouterClosed:
        await publisher.close()


async def stop_recording(router: Router, room_id: int) -> int:
    """The recording of this live Space was taken down: the router's recording taps write
    nothing more and are removed at once (the Space goes on, heard live), and whatever they
    wrote since the take-down's own removal is removed too. Returns the files removed."""
    for tap in router.recording_taps:
        if isinstance(tap, RecordingTap):
            tap.stop_writing()
    await router.remove_recording_taps()
    recording_id = await database_sync_to_async(
        lambda: Recording.objects.filter(room_id=room_id).values_list("pk", flat=True).first()
    )()
    if recording_id is None:
        return 0
    return await database_sync_to_async(recording_files_remove)(recording_id=recording_id)


def speaker_recorded(room_id: int, user_id: int | None) -> bool:
    """Whether this person's voice goes into the recording mix: hosts and co-hosts always, a
    speaker only once they said yes (not chosen yet counts as no)."""
    if user_id is None:
        return False
    row = (
        Participant.objects.filter(room_id=room_id, user_id=user_id)
        .only("role", "recording_consent")
        .first()
    )
    if row is None:
        return False
    return row.role in ALWAYS_RECORDED or row.recording_consent is True


def records(router: Router) -> bool:
    return bool(router.recording_taps)


# -- the stored segments ---------------------------------------------------------------------


def _boxes(data: bytes, start: int = 0, end: int | None = None):
    """(type, body start, box end) of the MP4 boxes in data[start:end]."""
    end = len(data) if end is None else end
    at = start
    while at + 8 <= end:
        size, header = int.from_bytes(data[at : at + 4], "big"), 8
        if size == 1:
            size, header = int.from_bytes(data[at + 8 : at + 16], "big"), 16
        elif size == 0:
            size = end - at
        if size < header or at + size > end:
            return
        yield data[at + 4 : at + 8], at + header, at + size
        at += size


def _child(data: bytes, start: int, end: int, kind: bytes) -> tuple[int, int] | None:
    for found, body, stop in _boxes(data, start, end):
        if found == kind:
            return body, stop
    return None


def init_timescale(init: bytes) -> int:
    """The audio track's timescale (ticks per second) from an init segment's `mdhd`."""
    at: tuple[int, int] | None = (0, len(init))
    for kind in (b"moov", b"trak", b"mdia", b"mdhd"):
        at = _child(init, at[0], at[1], kind) if at else None
    if at is None:
        return SAMPLE_RATE
    body = at[0]
    offset = body + (20 if init[body] == 1 else 12)
    return int.from_bytes(init[offset : offset + 4], "big") or SAMPLE_RATE


def fragment_timing(segment: bytes) -> tuple[int, int]:
    """(base decode time, duration) of a media segment in its track's timescale, read from
    its `moof` (tfdt, tfhd's default duration, trun)."""
    moof = _child(segment, 0, len(segment), b"moof")
    traf = _child(segment, *moof, b"traf") if moof else None
    if traf is None:
        raise ValueError("not a media segment")
    base, default, total = 0, 0, 0
    for kind, body, _end in _boxes(segment, *traf):
        version, flags = segment[body], int.from_bytes(segment[body + 1 : body + 4], "big")
        if kind == b"tfdt":
            width = 8 if version == 1 else 4
            base = int.from_bytes(segment[body + 4 : body + 4 + width], "big")
        elif kind == b"tfhd":
            at = body + 8
            at += 8 if flags & 0x01 else 0
            at += 4 if flags & 0x02 else 0
            if flags & 0x08:
                default = int.from_bytes(segment[at : at + 4], "big")
        elif kind == b"trun":
            count = int.from_bytes(segment[body + 4 : body + 8], "big")
            at = body + 8 + (4 if flags & 0x01 else 0) + (4 if flags & 0x04 else 0)
            if not flags & 0x100:
                total += count * default
                continue
            stride = 4 * sum(1 for bit in (0x100, 0x200, 0x400, 0x800) if flags & bit)
            for _ in range(count):
                total += int.from_bytes(segment[at : at + 4], "big")
                at += stride
    return base, total


@dataclass(frozen=True)
class Piece:
    """One stored segment on the replay's timeline."""

    stream: str
    name: str
    start: float  # seconds from offset 0
    duration: float
    wall: float  # wall-clock time (Unix seconds) of its first sample

    @property
    def end(self) -> float:
        return self.start + self.duration


def _listing(storage: Storage, prefix: str) -> list[str]:
    try:
        return storage.listdir(prefix)[1]
    except FileNotFoundError:
        return []


def _streams(names: Iterable[str]) -> dict[str, list[str]]:
    """Segment names per stream, both in recording order."""
    streams: dict[str, list[tuple[int, str]]] = {}
    for name in names:
        if found := INIT_NAME.fullmatch(name):
            streams.setdefault(found["stream"], [])
    for name in names:
        if (found := SEGMENT_NAME.fullmatch(name)) and found["stream"] in streams:
            streams[found["stream"]].append((int(found["sequence"]), name))
    return {
        stream: [name for _, name in sorted(streams[stream])]
        for stream in sorted(streams, key=lambda s: int(s, 16))
    }


def _read(storage: Storage, name: str) -> bytes:
    with storage.open(name, "rb") as file:
        return file.read()


def _stream_wall(stream: str) -> float:
    return int(stream, 16) / 1000  # streams are named after the moment they started (ms)


def written_seconds(recording: Recording, storage: Storage | None = None) -> float:
    """How much of a recording is in storage so far (each stream: its first segment's start to
    its last one's end; reads two segments per stream)."""
    storage = storage or recordings_storage()
    total = 0.0
    for stream, names in _streams(_listing(storage, recording.prefix)).items():
        if not names:
            continue
        scale = init_timescale(_read(storage, f"{recording.prefix}{stream}-init.mp4"))
        first, _ = fragment_timing(_read(storage, recording.prefix + names[0]))
        base, length = fragment_timing(_read(storage, recording.prefix + names[-1]))
        total += (base + length - first) / scale
    return total


def _replay_pieces(text: str) -> list[Piece]:
    """The pieces of an assembled replay, from its playlist."""
    pieces, stream, wall, start, duration = [], "", 0.0, 0.0, 0.0
    for line in text.splitlines():
        if line.startswith("#EXT-X-MAP:"):
            found = INIT_NAME.search(line)
            stream = found["stream"] if found else ""
        elif line.startswith("#EXT-X-PROGRAM-DATE-TIME:"):
            wall = datetime.fromisoformat(line.split(":", 1)[1].replace("Z", "+00:00")).timestamp()
        elif line.startswith("#EXTINF:"):
            duration = float(line[len("#EXTINF:") :].rstrip(","))
        elif line and not line.startswith("#"):
            pieces.append(Piece(stream, line, start, duration, wall))
            start += duration
    return pieces


def _live_tail(recording: Recording, storage: Storage, seconds: float) -> list[Piece]:
    """The last `seconds` of a recording being written, as pieces on its timeline."""
    streams = _streams(_listing(storage, recording.prefix))
    lengths, timings = {}, {}
    for stream, names in streams.items():
        if not names:
            continue
        scale = init_timescale(_read(storage, f"{recording.prefix}{stream}-init.mp4"))
        first, _ = fragment_timing(_read(storage, recording.prefix + names[0]))
        base, length = fragment_timing(_read(storage, recording.prefix + names[-1]))
        lengths[stream] = (base + length - first) / scale
        timings[stream] = (scale, first)
    end = sum(lengths.values())
    pieces: list[Piece] = []
    stream_end = end
    for stream in reversed(list(lengths)):
        scale, first = timings[stream]
        stream_start = stream_end - lengths[stream]
        for name in reversed(streams[stream]):
            base, length = fragment_timing(_read(storage, recording.prefix + name))
            start = stream_start + (base - first) / scale
            wall = _stream_wall(stream) + (base - first) / scale
            pieces.insert(0, Piece(stream, name, start, length / scale, wall))
            if end - start >= seconds:
                return pieces
        stream_end = stream_start
    return pieces


# -- assembling the replay -------------------------------------------------------------------


def _remux(
    parts: list[tuple[bytes, list[bytes]]],
    path: str,
    *,
    start: float = 0.0,
    end: float = math.inf,
    progress=None,
) -> float:
    """Write the AAC packets of fMP4 streams (init, segments) one after the other into one
    `.m4a` at `path`, without re-encoding; only packets overlapping [start, end) seconds of the
    joined timeline (one AAC frame, ~21 ms, is the precision). Returns the seconds written."""
    output = av.open(path, "w", format="mp4", options={"movflags": "+faststart"})
    out_stream = None
    offset = 0  # ticks of the joined timeline before the current stream
    written = 0
    first_kept: int | None = None
    scale = SAMPLE_RATE
    try:
        with tempfile.TemporaryDirectory() as folder:
            for index, (init, segments) in enumerate(parts):
                source = os.path.join(folder, f"{index}.mp4")
                with open(source, "wb") as file:
                    file.write(init)
                    for segment in segments:
                        file.write(segment)
                with av.open(source, "r", format="mp4") as container:
                    stream = container.streams.audio[0]
                    scale = int(1 / stream.time_base)
                    if out_stream is None:
                        out_stream = output.add_stream_from_template(stream)
                    last, origin = 0, None
                    for packet in container.demux(stream):
                        if packet.dts is None:
                            continue
                        if origin is None:  # segments keep their stream's clock: start at 0
                            origin = int(packet.pts)
                        at, length = int(packet.pts) - origin, int(packet.duration or 1024)
                        last = max(last, at + length)
                        when = (offset + at) / scale
                        if when + length / scale <= start or when >= end:
                            continue
                        if first_kept is None:
                            first_kept = offset + at
                        packet.pts = packet.dts = offset + at - first_kept
                        packet.stream = out_stream
                        output.mux(packet)
                        written = max(written, offset + at + length - first_kept)
                    offset += last
                if progress is not None:
                    progress(index + 1, len(parts))
    finally:
        output.close()
    return written / scale


def _pieces_of_streams(prefix: str, streams: dict[str, list[str]], blobs: dict[str, bytes]):
    pieces, start = [], 0.0
    for stream, names in streams.items():
        scale = init_timescale(blobs[f"{stream}-init.mp4"])
        first = None
        for name in names:
            base, length = fragment_timing(blobs[name])
            first = base if first is None else first
            pieces.append(
                Piece(
                    stream,
                    name,
                    start,
                    length / scale,
                    _stream_wall(stream) + (base - first) / scale,
                )
            )
            start += length / scale
    return pieces


def replay_playlist(pieces: list[Piece]) -> str:
    """The VOD playlist: every segment with its duration; a discontinuity where a new stream
    (a new init segment) begins; the program date-time of every segment."""
    target = max((math.ceil(p.duration) for p in pieces), default=1)
    lines = [
        "#EXTM3U",
        "#EXT-X-VERSION:7",
        f"#EXT-X-TARGETDURATION:{target}",
        "#EXT-X-MEDIA-SEQUENCE:0",
        "#EXT-X-PLAYLIST-TYPE:VOD",
        "#EXT-X-INDEPENDENT-SEGMENTS",
    ]
    stream = None
    for piece in pieces:
        if piece.stream != stream:
            if stream is not None:
                lines.append("#EXT-X-DISCONTINUITY")
            lines.append(f'#EXT-X-MAP:URI="{piece.stream}-init.mp4"')
            stream = piece.stream
        lines.append(f"#EXT-X-PROGRAM-DATE-TIME:{program_date_time(piece.wall)}")
        lines.append(f"#EXTINF:{piece.duration:.5f},")
        lines.append(piece.name)
    lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


def recording_assemble(*, recording_id: int, last_try: bool = True) -> str:
    """Assemble an ended Space's recording: `replay.m3u8` (VOD) and `replay.m4a` (the segments
    remuxed, not re-encoded); sets duration, storage_bytes and READY. Idempotent: a recording
    that is ready, deleted or taken down is left alone (a deleted one's late files go), and one
    whose streams are still being finished waits (`SPACES_RECORDING_FINISH_WAIT` seconds after
    the end, then what is there is used). Returns what it did."""
    recording = Recording.objects.select_related("room").filter(pk=recording_id).first()
    if recording is None:
        return "missing"
    if recording.state in GONE:
        recording_files_remove(recording_id=recording_id)
        return "gone"
    if recording.state == Recording.State.READY:
        return "ready"
    room = recording.room
    if room.state == Room.State.LIVE:
        return "live"
    storage = recordings_storage()
    names = _listing(storage, recording.prefix)
    streams = _streams(names)
    finished = all(stream + DONE_SUFFIX in names for stream in streams)
    wait = _setting("SPACES_RECORDING_FINISH_WAIT", 60.0)
    ended = room.ended_at or recording.created_at
    if not finished and timezone.now() - ended < timedelta(seconds=wait):
        return "waiting"
    Recording.objects.filter(
        pk=recording_id, state__in=[Recording.State.RECORDING, Recording.State.FAILED]
    ).update(state=Recording.State.ASSEMBLING)
    try:
        return _assemble(recording, storage, streams)
    except Exception:
        if last_try:
            logger.exception("Recording %s could not be assembled", recording_id)
            Recording.objects.filter(pk=recording_id, state=Recording.State.ASSEMBLING).update(
                state=Recording.State.FAILED
            )
        raise


@dataclass(frozen=True)
class Assembled:
    pieces: list[Piece]
    duration: float
    storage_bytes: int  # every file of the recording: segments, markers, playlist, .m4a


def assemble_files(storage: Storage, prefix: str, streams: dict[str, list[str]]) -> Assembled:
    """Write `replay.m3u8` and `replay.m4a` from the stored streams (no database)."""
    blobs: dict[str, bytes] = {}
    parts = []
    for stream, names in streams.items():
        init = blobs[f"{stream}-init.mp4"] = _read(storage, f"{prefix}{stream}-init.mp4")
        for name in names:
            blobs[name] = _read(storage, prefix + name)
        parts.append((init, [blobs[name] for name in names]))
    pieces = _pieces_of_streams(prefix, streams, blobs)
    stored = sum(len(data) for data in blobs.values())
    for stream in streams:  # the markers of streams that ended cleanly
        with contextlib.suppress(FileNotFoundError):
            stored += storage.size(prefix + stream + DONE_SUFFIX)
    del blobs
    playlist = replay_playlist(pieces).encode()
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, REPLAY_AUDIO)
        duration = _remux(parts, path)
        del parts
        stored += os.path.getsize(path)
        with open(path, "rb") as file:
            _save(storage, prefix + REPLAY_AUDIO, File(file, name=REPLAY_AUDIO))
    _save(storage, prefix + REPLAY_PLAYLIST, playlist)
    return Assembled(pieces, duration, stored + len(playlist))


def _assemble(recording: Recording, storage: Storage, streams: dict[str, list[str]]) -> str:
    streams = {stream: names for stream, names in streams.items() if names}
    if not streams:
        Recording.objects.filter(pk=recording.pk).update(state=Recording.State.FAILED)
        return "empty"
    assembled = assemble_files(storage, recording.prefix, streams)
    with transaction.atomic():
        current = Recording.objects.select_for_update().get(pk=recording.pk)
        if current.state in GONE:  # deleted while it was being assembled
            transaction.on_commit(lambda: recording_files_remove(recording_id=recording.pk))
            return "gone"
        current.state = Recording.State.READY
        current.playlist = REPLAY_PLAYLIST
        current.audio_file = REPLAY_AUDIO
        current.duration = round(assembled.duration, 3)
        current.storage_bytes = assembled.storage_bytes
        current.ready_at = timezone.now()
        if current.started_at is None:
            current.started_at = datetime.fromtimestamp(assembled.pieces[0].wall, UTC)
        current.save()
    return "assembled"


def recording_ended(*, room: Room) -> None:
    """The Space ended (inside its transaction): assemble its recording after commit. The
    router's last segments may still be on their way; then the stream's own end does it."""
    recording_id = (
        Recording.objects.filter(room=room, state=Recording.State.RECORDING)
        .values_list("pk", flat=True)
        .first()
    )
    if recording_id is not None:
        from .tasks import recording_assemble as task

        transaction.on_commit(lambda: task.delay(recording_id))


def recordings_sweep() -> list[int]:
    """Recordings of ended Spaces still marked as being recorded (their media process died,
    or the task was lost): assemble them. Returns their ids."""
    wait = _setting("SPACES_RECORDING_FINISH_WAIT", 60.0)
    stale = list(
        Recording.objects.filter(
            state__in=[Recording.State.RECORDING, Recording.State.ASSEMBLING],
            room__state__in=[Room.State.ENDED, Room.State.CANCELLED],
            room__ended_at__lt=timezone.now() - timedelta(seconds=wait),
        ).values_list("pk", flat=True)
    )
    from .tasks import recording_assemble

    for recording_id in stale:
        recording_assemble.delay(recording_id)
    return stale


# -- consent ---------------------------------------------------------------------------------


def _lock_room(room: Room) -> Room:
    return Room.objects.select_for_update(of=("self",)).get(pk=room.pk)


@transaction.atomic
def set_recording_consent(*, room: Room, user, consent: bool) -> Participant:
    """A person on stage in a live recorded Space says whether their voice is recorded, from
    now on (a speaker may change their mind either way). Hosts and co-hosts are always
    recorded. Logs `recording_consent` {consent}; broadcasts `recording_consent`
    {user_id, consent}; the audio router leaves out (or takes back) their voice in the
    recording mix from the next tick."""
    if not isinstance(consent, bool):
        raise ActionRefused(Code.INVALID, _("Say yes or no to being recorded."))
    room = _lock_room(room)
    if not room.record:
        raise ActionRefused(Code.WRONG_STATE, _("This Space is not recorded."))
    if room.state != Room.State.LIVE:
        raise ActionRefused(Code.WRONG_STATE, _("This Space is not live."))
    row = Participant.objects.select_for_update().filter(room=room, user=user).first()
    if row is None or not row.is_present or row.role not in ON_STAGE:
        raise ActionRefused(
            Code.NOT_IN_SPACE, _("Only people on stage choose whether they are recorded.")
        )
    if row.role in ALWAYS_RECORDED and not consent:
        raise ActionRefused(
            Code.NOT_ALLOWED, _("Hosts and co-hosts are always recorded in a recorded Space.")
        )
    if row.recording_consent is consent:
        return row
    row.recording_consent = consent
    row.save(update_fields=["recording_consent"])
    RoomEvent.objects.create(
        room=room, verb="recording_consent", actor=user, target=user, data={"consent": consent}
    )
    events.emit(
        room.pk,
        "recording_consent",
        {"room": room.slug, "actor": user.pk, "user_id": user.pk, "consent": consent},
    )
    return row


# -- clips -----------------------------------------------------------------------------------


def _refuse_suspended(user) -> None:
    from moderation.selectors import stage_refusal  # moderation builds on rooms

    message = stage_refusal(user)
    if message is not None:
        raise ActionRefused(Code.NOT_ALLOWED, message)


def create_clip(*, user, room: Room, start: float | None, duration: float) -> Clip:
    """Clip up to 60 s of a Space's replay (`start` seconds from its beginning), or the last
    `duration` (up to 30) seconds of a live recorded Space (`start` None). The clip is cut in
    the background (`tasks.cut_clip`, queued after commit); its page shows its progress."""
    if user is None or not user.is_authenticated:
        raise ActionRefused(Code.NOT_SIGNED_IN, _("Sign in to make a clip."))
    if not room_visible_to(room, user):
        raise ActionRefused(Code.PRIVATE, _("This Space is private. Ask the host to let you in."))
    _refuse_suspended(user)
    try:
        duration = float(duration)
        start = None if start is None else float(start)
    except (TypeError, ValueError):
        raise ActionRefused(
            Code.INVALID, _("A clip needs a start and a length in seconds.")
        ) from None
    if not math.isfinite(duration) or (start is not None and not math.isfinite(start)):
        raise ActionRefused(Code.INVALID, _("A clip needs a start and a length in seconds."))
    recording = Recording.objects.filter(room=room).first()
    live = room.state == Room.State.LIVE
    if recording is not None and recording.state == Recording.State.REMOVED:
        raise ActionRefused(
            Code.WRONG_STATE, _("Staff took this Space's recording down; it cannot be clipped.")
        )
    if (
        recording is None
        or recording.state in GONE
        or (not live and recording.state != Recording.State.READY)
    ):
        raise ActionRefused(Code.WRONG_STATE, _("This Space has no recording to clip."))
    longest = Clip.LIVE_SECONDS if live else Clip.MAX_SECONDS
    if not 1 <= duration <= longest:
        raise ActionRefused(
            Code.INVALID,
            _("A clip is 1 to %(seconds)s seconds long.") % {"seconds": longest},
        )
    if live:
        if start is not None:
            raise ActionRefused(
                Code.INVALID, _("While the Space is live, a clip is its last seconds.")
            )
        recorded = written_seconds(recording)
        if recorded < 1:
            raise ActionRefused(Code.WRONG_STATE, _("Nothing has been recorded yet."))
        duration = min(duration, recorded)
        start = max(0.0, recorded - duration)
    elif start is None or start < 0 or start + duration > recording.duration + 0.05:
        raise ActionRefused(Code.INVALID, _("The clip must be within the recording."))
    limit, seconds = _setting("SPACES_CLIP_RATE", (10, 3600))
    if not ratelimit.allow("clips", str(user.pk), limit=limit, seconds=seconds):
        raise ActionRefused(Code.RATE_LIMITED, _("You made many clips just now; try again later."))
    with transaction.atomic():
        clip = Clip.objects.create(
            recording=recording,
            room=room,
            creator=user,
            start=round(start, 3),
            duration=round(duration, 3),
        )
        from .tasks import cut_clip

        transaction.on_commit(lambda: cut_clip.delay(clip.pk))
    return clip


def _pieces(recording: Recording, storage: Storage, start: float, end: float) -> list[Piece]:
    if recording.state == Recording.State.READY:
        text = _read(storage, recording.prefix + recording.playlist).decode()
        pieces = _replay_pieces(text)
    else:
        pieces = _live_tail(recording, storage, written_seconds(recording, storage) - start)
    return [piece for piece in pieces if piece.end > start and piece.start < end]


def clip_speakers(recording: Recording, wall_start: float, wall_end: float) -> list[dict]:
    """Who was heard in the recording between two wall-clock times, from the event log:
    on stage, unmuted and recorded (hosts and co-hosts, speakers who said yes) at some moment
    of it. Someone who was never recorded in it is never listed."""
    room = recording.room
    state: dict[int, dict[str, Any]] = {}
    heard: set[int] = set()
    start, end = (datetime.fromtimestamp(t, UTC) for t in (wall_start, wall_end))

    def person(user_id):
        return state.setdefault(user_id, {"role": None, "muted": True, "consent": None})

    def note(user_id, at):
        if user_id is None:
            return
        who = state.get(user_id)
        if who is None or who["role"] not in ON_STAGE or who["muted"]:
            return
        if (who["role"] in ALWAYS_RECORDED or who["consent"] is True) and at < end:
            heard.add(user_id)

    log = RoomEvent.objects.filter(room=room).order_by("created_at", "id")
    for verb, actor, target, data, at in log.values_list(
        "verb", "actor_id", "target_id", "data", "created_at"
    ):
        if at > end:
            break
        if at >= start:  # whoever was heard when the change came was heard in the clip
            for user_id in list(state):
                note(user_id, at)
        who = target if target is not None else actor
        if verb in ("room_live", "room_created") and (
            verb == "room_live" or data.get("state") == Room.State.LIVE
        ):
            host = room.host_id if actor is None else actor
            person(host).update(role=Role.HOST, muted=True)
        elif verb in (
            "speaker_promoted",
            "cohost_promoted",
            "moved_to_audience",
            "cohost_removed",
            "hand_accepted",
        ):
            entry = person(target)
            if entry["role"] not in ON_STAGE or data.get("role") not in ON_STAGE:
                entry["muted"] = True
            entry["role"] = data.get("role")
        elif verb == "invite_accepted":
            entry = person(actor)
            if entry["role"] not in ON_STAGE or data.get("role") not in ON_STAGE:
                entry["muted"] = True
            entry["role"] = data.get("role")
        elif verb == "participant_joined":
            person(who).update(role=data.get("role"), muted=True)
        elif verb in ("participant_left", "participant_removed"):
            person(who).update(role=None, muted=True)
        elif verb == "host_changed":
            person(target)["role"] = Role.HOST
        elif verb == "speaker_muted":
            person(who)["muted"] = True
        elif verb == "speaker_unmuted":
            person(who)["muted"] = False
        elif verb == "recording_consent":
            person(who)["consent"] = bool(data.get("consent"))
        elif verb == "room_ended":
            for entry in state.values():
                entry.update(role=None, muted=True)
    for user_id in list(state):
        note(user_id, end - timedelta(microseconds=1))
    if not heard:
        return []
    from accounts.models import User

    people = User.objects.filter(pk__in=heard).select_related("profile").order_by("username")
    return [{"handle": user.username, "name": user.display_name} for user in people]


def clip_cut(*, clip_id: int, last_try: bool = True) -> str:
    """Cut a clip from the stored segments without re-encoding (AAC frames, ~21 ms precision),
    note who speaks in it, and make it READY. Idempotent."""
    clip = Clip.objects.select_related("recording", "recording__room").filter(pk=clip_id).first()
    if clip is None:
        return "missing"
    if clip.state in (Clip.State.READY, Clip.State.DELETED, Clip.State.REMOVED):
        return clip.state
    recording = clip.recording
    if recording.state in GONE:
        Clip.objects.filter(pk=clip_id).update(state=Clip.State.DELETED)
        return "gone"
    Clip.objects.filter(pk=clip_id).update(state=Clip.State.CUTTING, progress=5)
    storage = recordings_storage()
    end = clip.start + clip.duration
    try:
        pieces = _pieces(recording, storage, clip.start, end)
        if not pieces:
            raise ValueError("nothing recorded in the clip's range")
        by_stream: dict[str, list[Piece]] = {}
        for piece in pieces:
            by_stream.setdefault(piece.stream, []).append(piece)
        parts = []
        for stream, chosen in by_stream.items():
            init = _read(storage, f"{recording.prefix}{stream}-init.mp4")
            parts.append((init, [_read(storage, recording.prefix + p.name) for p in chosen]))
        Clip.objects.filter(pk=clip_id).update(progress=40)
        name = f"clips/{clip.slug}.m4a"
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "clip.m4a")
            # the parts start at the first chosen piece: the range is relative to it
            first = pieces[0].start
            _remux(parts, path, start=clip.start - first, end=end - first)
            Clip.objects.filter(pk=clip_id).update(progress=80)
            with open(path, "rb") as file:
                _save(storage, recording.prefix + name, File(file, name="clip.m4a"))
        wall_start = pieces[0].wall + (clip.start - first)
        speakers = clip_speakers(recording, wall_start, wall_start + clip.duration)
    except Exception:
        if last_try:
            logger.exception("Clip %s could not be cut", clip_id)
            Clip.objects.filter(pk=clip_id, state=Clip.State.CUTTING).update(
                state=Clip.State.FAILED
            )
        raise
    with transaction.atomic():
        current = Clip.objects.select_for_update().get(pk=clip_id)
        if current.state in (Clip.State.DELETED, Clip.State.REMOVED):
            transaction.on_commit(lambda: clip_files_remove(clip_id=clip_id))
            return "gone"
        current.state = Clip.State.READY
        current.progress = 100
        current.audio_file = name
        current.speakers = speakers
        current.ready_at = timezone.now()
        current.save()
    return "ready"


# -- deleting --------------------------------------------------------------------------------


def remove_folder(storage: Storage, folder: str) -> int:
    """Delete every file under `folder` (recursively); returns how many."""
    try:
        folders, files = storage.listdir(folder)
    except FileNotFoundError:
        return 0
    removed = 0
    for sub in folders:
        removed += remove_folder(storage, f"{folder}{sub}/")
    for name in files:
        storage.delete(folder + name)
        removed += 1
    if isinstance(storage, FileSystemStorage):
        with contextlib.suppress(OSError):  # not empty (a late write), or gone already
            os.rmdir(storage.path(folder))
    return removed


def recording_files_remove(*, recording_id: int) -> int:
    """Remove every file of a deleted or taken-down recording (and its clips) from storage."""
    recording = Recording.objects.filter(pk=recording_id).first()
    if recording is None or recording.state not in GONE or not recording.prefix:
        return 0
    removed = remove_folder(recordings_storage(), recording.prefix)
    Recording.objects.filter(pk=recording_id).update(storage_bytes=0)
    return removed


def clip_files_remove(*, clip_id: int) -> int:
    clip = Clip.objects.select_related("recording").filter(pk=clip_id).first()
    if clip is None or clip.state not in (Clip.State.DELETED, Clip.State.REMOVED):
        return 0
    name = f"{clip.recording.prefix}clips/{clip.slug}.m4a"
    storage = recordings_storage()
    if storage.exists(name):
        storage.delete(name)
        return 1
    return 0


def _files_go_after_commit(recording: Recording) -> None:
    from .tasks import recording_files_remove as task

    transaction.on_commit(lambda: task.delay(recording.pk))


def _retire(recording: Recording, state: str, now: datetime, reason: str = "") -> None:
    recording.state = state
    recording.deleted_at = now
    recording.removed_reason = reason
    recording.save(update_fields=["state", "deleted_at", "removed_reason"])
    Room.objects.filter(pk=recording.room_id).update(recording_gone_at=now)
    Clip.objects.filter(recording=recording).exclude(state=Clip.State.REMOVED).update(
        state=Clip.State.DELETED
    )
    _files_go_after_commit(recording)


@transaction.atomic
def delete_recording(*, room: Room, user) -> None:
    """The host deletes their Space's recording: it and every clip of it are gone from storage
    (after commit); the rows stay, DELETED, so the pages can say so."""
    room = _lock_room(room)
    if user is None or not user.is_authenticated or room.host_id != user.pk:
        raise ActionRefused(Code.NOT_ALLOWED, _("Only the host can delete the recording."))
    recording = Recording.objects.select_for_update().filter(room=room).first()
    if recording is None or recording.state in GONE:
        raise ActionRefused(Code.WRONG_STATE, _("This Space has no recording to delete."))
    if room.state == Room.State.LIVE:
        raise ActionRefused(
            Code.WRONG_STATE, _("The Space is still live; end it before deleting its recording.")
        )
    _retire(recording, Recording.State.DELETED, timezone.now())
    RoomEvent.objects.create(room=room, verb="recording_deleted", actor=user)


def _check_staff(staff) -> None:
    from .permissions import is_staff_moderator

    if not is_staff_moderator(staff):
        raise ActionRefused(Code.NOT_ALLOWED, _("Only staff can take this down."))


def _audit(kind: str, *, staff, room: Room, reason: str, summary: str, **data) -> None:
    from moderation.models import ModerationAction

    ModerationAction.objects.create(
        kind=kind,
        actor=staff,
        target_user=room.host,
        room=room,
        reason=reason,
        summary=summary[:300],
        data=data,
    )


@transaction.atomic
def take_down_recording(*, recording: Recording, staff, reason: str) -> Recording:
    """Staff take a recording down: REMOVED with the reason, every file (clips too) removed
    from storage after commit, an audit log entry."""
    _check_staff(staff)
    recording = Recording.objects.select_for_update().select_related("room").get(pk=recording.pk)
    if recording.state in GONE:
        return recording
    _retire(recording, Recording.State.REMOVED, timezone.now(), reason)
    Clip.objects.filter(recording=recording).update(state=Clip.State.REMOVED, removed_reason=reason)
    if recording.room.state == Room.State.LIVE:
        # The process holding the Space's audio stops writing it at once (media_bridge), and
        # the pages stop showing REC; nothing more of it is kept.
        events.emit(recording.room_id, "recording_removed", {"room": recording.room.slug})
    _audit(
        "remove_recording",
        staff=staff,
        room=recording.room,
        reason=reason,
        summary=f"Took down the recording of “{recording.room.title}”",
        recording=recording.pk,
    )
    return recording


@transaction.atomic
def take_down_clip(*, clip: Clip, staff, reason: str) -> Clip:
    """Staff take a clip down: REMOVED with the reason, its file removed after commit, an audit
    log entry."""
    _check_staff(staff)
    clip = Clip.objects.select_for_update().select_related("room").get(pk=clip.pk)
    if clip.state == Clip.State.REMOVED:
        return clip
    clip.state = Clip.State.REMOVED
    clip.removed_reason = reason
    clip.save(update_fields=["state", "removed_reason"])
    _audit(
        "remove_clip",
        staff=staff,
        room=clip.room,
        reason=reason,
        summary=f"Took down clip {clip.slug} of “{clip.room.title}”",
        clip=clip.pk,
    )
    from .tasks import clip_files_remove as task

    transaction.on_commit(lambda: task.delay(clip.pk))
    return clip


def recordings_expire(*, now: datetime | None = None) -> list[int]:
    """Delete the recordings older than `SPACES_RECORDING_RETENTION_DAYS` (None: keep them):
    those ready (or failed) since before the cut-off. Returns their ids."""
    days = _setting("SPACES_RECORDING_RETENTION_DAYS", None)
    if days is None:
        return []
    now = now or timezone.now()
    cutoff = now - timedelta(days=float(days))
    due = Recording.objects.filter(
        state__in=[Recording.State.READY, Recording.State.FAILED], room__ended_at__lt=cutoff
    ).values_list("pk", flat=True)
    expired = []
    for recording_id in list(due):
        with transaction.atomic():
            recording = Recording.objects.select_for_update().get(pk=recording_id)
            if recording.state in GONE:
                continue
            _retire(recording, Recording.State.DELETED, now, "retention")
            expired.append(recording_id)
    return expired


# -- serving ---------------------------------------------------------------------------------


def recording_url(recording: Recording, name: str) -> str:
    """Where the pages fetch a recording's files: the VOD playlist (`replay.m3u8`), its
    segments (names from the playlist) or the whole audio (`replay.m4a`)."""
    slug = recording.room.slug
    if name == REPLAY_PLAYLIST:
        return reverse("space_replay_playlist", args=[slug])
    if name in (REPLAY_AUDIO, "audio.m4a"):
        return reverse("space_replay_audio", args=[slug])
    return reverse("space_replay_segment", args=[slug, name])


def clip_audio_url(clip: Clip) -> str:
    return reverse("clip_audio", args=[clip.slug])


def count_play(*, recording: Recording, request, guest: str | None = None) -> bool:
    """Count a play of the replay: once per person (or guest) per day. True if it counted.
    `guest`: the guest id to count under when the request carries no guest cookie (the embed's
    own, see `replay_views.embed_play`)."""
    from . import insights, live

    if recording.state != Recording.State.READY:
        return False
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        key = insights.listener_key(user.pk, None)
    else:
        guest = guest or live.guest_id_from_cookie(request.COOKIES.get(live.GUEST_COOKIE))
        if guest is None:
            return False
        key = insights.listener_key(None, guest)
    try:
        with transaction.atomic():
            _, created = ReplayPlay.objects.get_or_create(
                recording=recording, key=key, day=timezone.localdate()
            )
    except IntegrityError:
        return False
    return created
