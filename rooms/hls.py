"""A live Space's HLS stream in storage: started with its router, removed when it ends.

`rooms.media.hls` cuts the router's listener mix into segments and a playlist and hands them to
a writer; this module is that writer, through Django's storage API (`STORAGES["hls"]`: files
under MEDIA_ROOT/hls/<room id>/ by default, S3-compatible object storage when configured), so
media workers on other machines and any HTTP cache can serve what they write. The live stream
keeps only the playlist's window (and what players may still fetch); its files are deleted when
its audio stops and when it ends, recorded Space or not: a recording is a stream of its own
(`rooms.recordings`). Served by `rooms.hls_views`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import time
import weakref

from channels.db import database_sync_to_async
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, Storage, storages

from .media import HlsPublisher, HlsSegmenter, Router, RouterClosed
from .media.hls import PLAYLIST

logger = logging.getLogger(__name__)

_publishing: weakref.WeakSet[Router] = weakref.WeakSet()


class LiveFileStorage(FileSystemStorage):
    """Files that are rewritten in place (the playlist), each write atomic: a reader never sees
    half a playlist, and a name is replaced rather than given a suffix."""

    def _save(self, name: str, content) -> str:
        path = self.path(name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as file:
                for chunk in content.chunks():
                    file.write(chunk)
            os.chmod(temporary, 0o644)
            os.replace(temporary, path)
        except BaseException:
            if os.path.exists(temporary):
                os.unlink(temporary)
            raise
        return name

    def get_available_name(self, name: str, max_length: int | None = None) -> str:
        return name


def hls_storage() -> Storage:
    return storages["hls"]


def room_path(room_id: int, name: str) -> str:
    return f"{room_id}/{name}"


class StorageWriter:
    """write(name, bytes) and delete(name) for one Space's stream, through the storage API."""

    def __init__(self, room_id: int, storage: Storage | None = None) -> None:
        self.room_id = room_id
        self.storage = storage or hls_storage()

    def write(self, name: str, data: bytes) -> None:
        path = room_path(self.room_id, name)
        # django-storages' object stores overwrite when file_overwrite is on (their default)
        overwrites = isinstance(self.storage, LiveFileStorage) or getattr(
            self.storage, "file_overwrite", False
        )
        if not overwrites and self.storage.exists(path):
            self.storage.delete(path)  # a storage that would save under another name
        self.storage.save(path, ContentFile(data))

    def delete(self, name: str) -> None:
        self.storage.delete(room_path(self.room_id, name))

    def delete_playlist_of(self, stream: HlsSegmenter) -> None:
        """Delete the playlist if it is still this stream's (a restarted stream replaces it)."""
        path = room_path(self.room_id, PLAYLIST)
        try:
            with self.storage.open(path, "rb") as file:
                current = file.read()
        except FileNotFoundError:
            return
        if stream.init_name.encode() in current:
            self.storage.delete(path)
            self._remove_empty_folder()

    def clear(self) -> None:
        """Delete every file of the Space's stream (the playlist included)."""
        try:
            _, files = self.storage.listdir(str(self.room_id))
        except FileNotFoundError:
            return
        for name in files:
            self.delete(name)
        self._remove_empty_folder()

    def _remove_empty_folder(self) -> None:
        if isinstance(self.storage, FileSystemStorage):
            with contextlib.suppress(OSError):  # not empty (a new stream began), or gone
                os.rmdir(self.storage.path(str(self.room_id)))


async def ensure_publishing(router: Router, room_id: int) -> None:
    """Start the Space's HLS stream on its router, once per router (no-op if HLS is off)."""
    if not settings.SPACES_HLS["ENABLED"] or router in _publishing or router.closed:
        return
    _publishing.add(router)  # two offers at once start one stream
    writer = StorageWriter(room_id)
    now = time.time()
    segmenter = HlsSegmenter(
        # a new name prefix and a higher media sequence than any earlier stream of the Space
        stream=f"{int(now * 1000):x}",
        write=writer.write,
        delete=writer.delete,
        segment_seconds=settings.SPACES_HLS["SEGMENT_SECONDS"],
        window=settings.SPACES_HLS["WINDOW"],
        bitrate=settings.SPACES_HLS["BITRATE"],
        first_sequence=int(now),
        part_seconds=settings.SPACES_HLS.get("PART_SECONDS"),
    )

    def finished(stream: HlsSegmenter) -> None:
        stream.remove_all()
        writer.delete_playlist_of(stream)

    # a stream that is removed at once does not rewrite the playlist (which a restarted
    # stream of the Space may already have replaced) before going
    publisher = HlsPublisher(segmenter, on_closed=finished, final_playlist=False)
    try:
        router.add_listener_tap(publisher)
    except RouterClosed:
        await publisher.close()


def publisher_of(router: Router) -> HlsPublisher | None:
    return next((t for t in router.listener_taps if isinstance(t, HlsPublisher)), None)


async def on_room_ended(room_id: int) -> None:
    """The Space ended: its live files go (a stream cut off elsewhere may have left some)."""
    if settings.SPACES_HLS["ENABLED"]:
        await database_sync_to_async(StorageWriter(room_id).clear)()
