"""HLS through django-storages into an S3 API server on loopback (moto's server mode)."""

import os
import socket
import subprocess
import sys
import time

import boto3
import pytest

from rooms.hls import StorageWriter
from tests.factories import RoomFactory
from tests.media.test_hls import parse
from tests.servers import free_port

from .test_hls import playlist_url, stream

CREDENTIALS = {"access_key": "testing", "secret_key": "testing"}  # moto accepts any


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory):
    port = free_port()
    log = open(tmp_path_factory.mktemp("moto") / "moto.log", "w+b")  # noqa: SIM115
    server = subprocess.Popen(
        [
            os.path.join(os.path.dirname(sys.executable), "moto_server"),
            "-H",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                raise RuntimeError("moto_server did not start:\n" + log.read().decode()) from None
            time.sleep(0.1)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=10)
        log.close()


def point_storage_at_a_new_bucket(server, settings, storage, **options):
    """Create a fresh bucket on the S3 API server and point STORAGES[storage] at it; returns
    `keys(prefix="")`, the set of object keys in the bucket."""
    name = f"spaces-{storage}-{time.monotonic_ns()}"
    client = boto3.client(
        "s3",
        endpoint_url=server,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    client.create_bucket(Bucket=name)
    settings.STORAGES = {
        **settings.STORAGES,
        storage: {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": name,
                "endpoint_url": server,
                "region_name": "us-east-1",
                "file_overwrite": True,
                "default_acl": None,
                **CREDENTIALS,
                **options,
            },
        },
    }

    def keys(prefix=""):
        listed = client.list_objects_v2(Bucket=name, Prefix=prefix).get("Contents", [])
        return {item["Key"] for item in listed}

    return keys


@pytest.fixture
def bucket(s3_server, settings, db):
    """A fresh bucket, and the app's HLS storage pointed at it."""
    return point_storage_at_a_new_bucket(s3_server, settings, "hls", location="hls")


def test_segments_and_the_playlist_are_written_to_object_storage_and_served(client, bucket):
    room = RoomFactory()
    segmenter = stream(room, seconds=10.0, window=3)
    keys = bucket()
    prefix = f"hls/{room.pk}/"
    assert f"{prefix}live.m3u8" in keys and f"{prefix}5eed-init.mp4" in keys
    # the window (3) and what left it less than a playlist ago (4); the oldest are deleted
    assert sorted(k for k in keys if k.endswith(".m4s")) == [
        f"{prefix}5eed-{n}.m4s" for n in range(2, 9)
    ]

    response = client.get(playlist_url(room))
    assert response.status_code == 200
    _, segments = parse(response.content.decode())
    assert [s["name"] for s in segments] == ["5eed-6.m4s", "5eed-7.m4s", "5eed-8.m4s"]
    segment = client.get(f"/s/{room.slug}/hls/5eed-8.m4s")
    assert segment.status_code == 200 and segment.content[4:8] == b"moof"

    segmenter.close()  # the playlist is overwritten in place with its end
    assert "#EXT-X-ENDLIST" in client.get(playlist_url(room)).content.decode()
    StorageWriter(room.pk).clear()  # the Space ended
    assert bucket() == set()
    assert client.get(playlist_url(room)).status_code == 404
