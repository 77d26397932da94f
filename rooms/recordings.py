"""Recorded Spaces, replays and clips: the services the pages call (the contract's functions;
the reads the pages need besides are in rooms/replay.py).

Files live in `storages["recordings"]` under `Recording.prefix` (the VOD playlist, its segments,
the assembled `.m4a`) and clips under `<prefix>/clips/`. Pages reach them through
`recording_url` / `clip_audio_url`, served by views that check who may hear them
(rooms/replay_views.py).

Effects and events, per service:
- `set_recording_consent`: Participant.recording_consent; RoomEvent "recording_consent";
  room-wide event `recording_consent` {user_id, consent} after commit.
- `create_clip`: a Clip (pending); the cutting task queued after commit.
- `clip_cut`: the clip's `.m4a` in storage, state ready (or failed); who spoke in it.
- `delete_recording` / `take_down_recording` / `take_down_clip`: files removed from storage,
  state deleted/removed (take-downs write the moderation audit log).
- `count_play`: one ReplayPlay per listener per day.
"""

from __future__ import annotations

import io
import logging
import shutil

import av
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, Storage, storages
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from spaces_project import ratelimit

from . import events
from .exceptions import ActionRefused, Code
from .models import ON_STAGE, Clip, Participant, Recording, ReplayPlay, Role, Room, RoomEvent
from .visibility import room_visible_to

logger = logging.getLogger(__name__)

CLIP_RATE = (10, 3600)  # clips a person may make per hour


def recording_storage() -> Storage:
    return storages["recordings"]


def storage_name(recording: Recording, name: str) -> str:
    return f"{recording.prefix.strip('/')}/{name}"


# Consent


@transaction.atomic
def set_recording_consent(*, room: Room, user, consent: bool) -> Participant:
    """A person on stage of a recorded Space says whether they are recorded from now on (host and
    co-hosts always are). Logs "recording_consent" and broadcasts `recording_consent`."""
    room = Room.objects.select_for_update(of=("self",)).get(pk=room.pk)
    if not room.record or not room.is_live:
        raise ActionRefused(Code.WRONG_STATE, _("This Space is not being recorded."))
    row = Participant.objects.select_for_update().filter(room=room, user=user).first()
    if row is None or row.role not in ON_STAGE or row.left_at is not None:
        raise ActionRefused(Code.NOT_IN_SPACE, _("Only people on stage choose to be recorded."))
    if row.role in (Role.HOST, Role.COHOST):
        consent = True
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


# Clips


def _check_may_clip(user, room: Room) -> None:
    from moderation.selectors import suspension_of  # moderation builds on rooms

    if user is None or not user.is_authenticated:
        raise ActionRefused(Code.NOT_SIGNED_IN, _("Sign in to make a clip."))
    if not room_visible_to(room, user):
        raise ActionRefused(Code.PRIVATE, _("This Space is private. Ask the host to let you in."))
    if suspension_of(user) is not None:
        raise ActionRefused(Code.NOT_ALLOWED, _("Your account is suspended."))


@transaction.atomic
def create_clip(*, user, room: Room, start: float | None, duration: float) -> Clip:
    """A clip of a recorded Space: the last `duration` seconds while it is live (start None, up
    to 30 s), or `duration` seconds from `start` of its replay (up to 60 s). Queues the cut."""
    _check_may_clip(user, room)
    recording = Recording.objects.select_for_update().filter(room=room).first()
    if recording is None:
        raise ActionRefused(Code.WRONG_STATE, _("This Space is not recorded."))
    try:
        duration = float(duration)
        start = None if start is None else float(start)
    except (TypeError, ValueError):
        raise ActionRefused(Code.INVALID, _("A clip needs a start and a length.")) from None
    if start is None:
        if recording.state != Recording.State.RECORDING or recording.started_at is None:
            raise ActionRefused(Code.WRONG_STATE, _("Only a live recording can be clipped now."))
        if not 1 <= duration <= Clip.LIVE_SECONDS:
            raise ActionRefused(
                Code.INVALID,
                _("A live clip lasts 1 to %(n)d seconds.") % {"n": Clip.LIVE_SECONDS},
            )
        elapsed = (timezone.now() - recording.started_at).total_seconds()
        start = max(0.0, elapsed - duration)
        duration = min(duration, elapsed)
        if duration < 1:
            raise ActionRefused(Code.INVALID, _("Nothing has been recorded yet."))
    else:
        if recording.state != Recording.State.READY:
            raise ActionRefused(Code.WRONG_STATE, _("The recording is not ready."))
        if not 1 <= duration <= Clip.MAX_SECONDS:
            raise ActionRefused(
                Code.INVALID, _("A clip lasts 1 to %(n)d seconds.") % {"n": Clip.MAX_SECONDS}
            )
        if start < 0 or start >= recording.duration:
            raise ActionRefused(Code.INVALID, _("That moment is not in the recording."))
        duration = min(duration, recording.duration - start)
    if not ratelimit.allow("clip", str(user.pk), limit=CLIP_RATE[0], seconds=CLIP_RATE[1]):
        raise ActionRefused(Code.RATE_LIMITED, _("Too many clips. Try again later."))
    clip = Clip.objects.create(
        recording=recording, room=room, creator=user, start=start, duration=duration
    )
    from .tasks import cut_clip

    transaction.on_commit(lambda: cut_clip.delay(clip.pk))
    return clip


def clip_cut(*, clip_id: int) -> Clip | None:
    """Cut a pending clip out of its recording's audio into its own `.m4a` (idempotent)."""
    from .replay import speakers_between

    with transaction.atomic():
        clip = Clip.objects.select_for_update().filter(pk=clip_id).first()
        if clip is None or clip.state not in (Clip.State.PENDING, Clip.State.CUTTING):
            return clip
        clip.state, clip.progress = Clip.State.CUTTING, 10
        clip.save(update_fields=["state", "progress"])
    recording = Recording.objects.get(pk=clip.recording_id)
    try:
        data = _cut_audio(recording, clip.start, clip.duration)
    except Exception:
        logger.exception("clip %s could not be cut", clip.pk)
        Clip.objects.filter(pk=clip.pk).update(state=Clip.State.FAILED, progress=0)
        return Clip.objects.get(pk=clip.pk)
    name = storage_name(recording, f"clips/{clip.slug}.m4a")
    saved = recording_storage().save(name, ContentFile(data))
    speakers = speakers_between(recording, clip.start, clip.start + clip.duration)
    with transaction.atomic():
        clip = Clip.objects.select_for_update().get(pk=clip.pk)
        if clip.state != Clip.State.CUTTING:  # deleted or taken down meanwhile
            recording_storage().delete(saved)
            return clip
        clip.audio_file = saved.removeprefix(recording.prefix.strip("/") + "/")
        clip.state, clip.progress, clip.ready_at = Clip.State.READY, 100, timezone.now()
        clip.speakers = speakers
        clip.save(update_fields=["audio_file", "state", "progress", "ready_at", "speakers"])
    return clip


def _source_audio(recording: Recording):
    """A file object of the recording's audio: the `.m4a` once assembled, else the live
    segments (init + media segments, in order) joined into one fragmented MP4."""
    storage = recording_storage()
    if recording.audio_file:
        return storage.open(storage_name(recording, recording.audio_file), "rb")
    if not recording.playlist:
        raise FileNotFoundError("no audio for this recording")
    with storage.open(storage_name(recording, recording.playlist), "rb") as file:
        lines = file.read().decode().splitlines()
    parts: list[bytes] = []
    for line in lines:
        if line.startswith("#EXT-X-MAP:"):
            init = line.split('URI="', 1)[1].split('"', 1)[0]
            parts.insert(0, storage.open(storage_name(recording, init), "rb").read())
        elif line and not line.startswith("#"):
            parts.append(storage.open(storage_name(recording, line), "rb").read())
    return io.BytesIO(b"".join(parts))


def _cut_audio(recording: Recording, start: float, duration: float) -> bytes:
    """AAC-LC in an `.m4a` of [start, start + duration) of the recording (re-encoded)."""
    out_buffer = io.BytesIO()
    with _source_audio(recording) as source:
        container = av.open(source, "r")
        stream = container.streams.audio[0]
        rate = stream.codec_context.sample_rate or 48_000
        output = av.open(out_buffer, "w", format="ipod")
        encoder = output.add_stream("aac", rate=rate)
        encoder.layout = "mono"
        encoder.bit_rate = 64_000
        resampler = av.AudioResampler(format="fltp", layout="mono", rate=rate)
        end = start + duration
        if recording.audio_file and start > 2 and stream.time_base:
            # jump near the start (to a keyframe before it) instead of decoding from 0
            container.seek(int((start - 2) / stream.time_base), stream=stream, backward=True)
        pts = 0
        for frame in container.decode(stream):
            if frame.time is None:
                continue
            frame_end = frame.time + frame.samples / frame.sample_rate
            if frame_end <= start:
                continue
            if frame.time >= end:
                break
            for piece in resampler.resample(frame):
                piece.pts = pts
                pts += piece.samples
                for packet in encoder.encode(piece):
                    output.mux(packet)
        for packet in encoder.encode(None):
            output.mux(packet)
        output.close()
        container.close()
    if pts == 0:
        raise ValueError("nothing in that range")
    return out_buffer.getvalue()


# Deleting and taking down


def _remove_files(recording: Recording) -> None:
    """Every file under the recording's folder, clips included."""
    storage = recording_storage()
    prefix = recording.prefix.strip("/")
    if not prefix:
        return

    def walk(folder: str) -> None:
        try:
            folders, files = storage.listdir(folder)
        except FileNotFoundError:
            return
        for name in files:
            storage.delete(f"{folder}/{name}")
        for sub in folders:
            walk(f"{folder}/{sub}")

    walk(prefix)
    if isinstance(storage, FileSystemStorage):  # the emptied folders too
        shutil.rmtree(storage.path(prefix), ignore_errors=True)


@transaction.atomic
def delete_recording(*, room: Room, user) -> None:
    """The host deletes the Space's recording: every file of it and its clips leaves storage;
    the recording and its clips are marked deleted."""
    recording = Recording.objects.select_for_update().filter(room=room).first()
    if recording is None:
        raise ActionRefused(Code.WRONG_STATE, _("This Space has no recording."))
    if user is None or not user.is_authenticated or room.host_id != user.pk:
        raise ActionRefused(Code.NOT_ALLOWED, _("Only the host can delete the recording."))
    if recording.state in (Recording.State.DELETED, Recording.State.REMOVED):
        return
    _remove_files(recording)
    now = timezone.now()
    recording.state, recording.deleted_at = Recording.State.DELETED, now
    recording.storage_bytes = 0
    recording.save(update_fields=["state", "deleted_at", "storage_bytes"])
    Clip.objects.filter(recording=recording).update(state=Clip.State.DELETED, audio_file="")
    RoomEvent.objects.create(room=room, verb="recording_deleted", actor=user)


def _check_staff(staff) -> None:
    from .permissions import is_staff_moderator

    if not is_staff_moderator(staff):
        raise ActionRefused(Code.NOT_ALLOWED, _("Only staff can take recordings down."))


@transaction.atomic
def take_down_recording(*, recording: Recording, staff, reason: str) -> Recording:
    """Staff take a recording (and its clips) down: files removed, state removed, audited."""
    from moderation.models import ModerationAction
    from moderation.services import _audit

    _check_staff(staff)
    recording = Recording.objects.select_for_update().select_related("room").get(pk=recording.pk)
    if recording.state == Recording.State.REMOVED:
        return recording
    _remove_files(recording)
    recording.state, recording.removed_reason = Recording.State.REMOVED, reason
    recording.storage_bytes = 0
    recording.save(update_fields=["state", "removed_reason", "storage_bytes"])
    Clip.objects.filter(recording=recording).exclude(state=Clip.State.DELETED).update(
        state=Clip.State.REMOVED, audio_file="", removed_reason=reason
    )
    _audit(
        ModerationAction.Kind.REMOVE_RECORDING,
        actor=staff,
        room=recording.room,
        target_user=recording.room.host,
        reason=reason,
        summary=f"{staff.email} took down the recording of “{recording.room.title}”",
        recording=recording.pk,
    )
    return recording


@transaction.atomic
def take_down_clip(*, clip: Clip, staff, reason: str) -> Clip:
    """Staff take one clip down: its file removed, state removed, audited."""
    from moderation.models import ModerationAction
    from moderation.services import _audit

    _check_staff(staff)
    clip = Clip.objects.select_for_update().select_related("recording", "room").get(pk=clip.pk)
    if clip.state == Clip.State.REMOVED:
        return clip
    if clip.audio_file:
        recording_storage().delete(storage_name(clip.recording, clip.audio_file))
    clip.state, clip.removed_reason, clip.audio_file = Clip.State.REMOVED, reason, ""
    clip.save(update_fields=["state", "removed_reason", "audio_file"])
    _audit(
        ModerationAction.Kind.REMOVE_CLIP,
        actor=staff,
        room=clip.room,
        target_user=clip.creator,
        reason=reason,
        summary=f"{staff.email} took down clip {clip.slug} of “{clip.room.title}”",
        clip=clip.pk,
    )
    return clip


# URLs the pages use


def recording_url(recording: Recording, name: str) -> str:
    """The VOD playlist, the whole audio, or a segment (named in the playlist, relative to it)."""
    slug = recording.room.slug
    if name == recording.playlist:
        return reverse("space_replay_playlist", args=[slug])
    if name == recording.audio_file:
        return reverse("space_replay_audio", args=[slug])
    return reverse("space_replay_segment", args=[slug, name])


def clip_audio_url(clip: Clip) -> str:
    return reverse("clip_audio", args=[clip.slug])


# Plays


def _count(recording: Recording, key: str) -> bool:
    try:
        with transaction.atomic():
            ReplayPlay.objects.create(recording=recording, key=key, day=timezone.localdate())
    except IntegrityError:
        return False
    return True


def count_play(*, recording: Recording, request: HttpRequest) -> bool:
    """Count one play of the replay, once per person or guest per day. True if counted."""
    from .replay import listener_key

    key = listener_key(request)
    if key is None or recording.state != Recording.State.READY:
        return False
    return _count(recording, key[:32])
