"""docs/deploy/nginx.conf in front of daphne: many HLS players, a few requests to daphne.

Debian's nginx runs the shipped configuration on loopback (its TLS lines swapped for a plain
port), daphne serves the app on the test database, and a live stream is written in real time
through the app's HLS storage. Players poll the playlist and fetch every new segment, as hls.js
does, faster than it would; daphne's access log says how often each file was asked of it.
"""

import datetime
import http.client
import os
import re
import shutil
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings

from rooms.hls import StorageWriter
from rooms.media.hls import HlsSegmenter
from tests.factories import RoomFactory
from tests.servers import free_port, process_env, start_daphne, wait_until_listening

pytestmark = pytest.mark.django_db(transaction=True)

CONFIG = Path(settings.BASE_DIR) / "docs" / "deploy" / "nginx.conf"
PLAYERS = 60
SECONDS = 6.0


def nginx_config(
    tmp: Path, port: int, redirect_port: int, daphne_port: int, *, connections: int = 1024
) -> Path:
    """The shipped file on loopback ports and temporary paths, inside a minimal nginx.conf."""
    shipped = CONFIG.read_text()
    site = (
        shipped.replace("server 127.0.0.1:8000;", f"server 127.0.0.1:{daphne_port};")
        .replace("listen 443 ssl http2;", f"listen 127.0.0.1:{port};")
        .replace("listen 80;", f"listen 127.0.0.1:{redirect_port};")
        .replace("/var/cache/nginx/spaces-hls", str(tmp / "cache"))
        .replace("/var/log/nginx/spaces-hls.log", str(tmp / "hls.log"))
        .replace("/srv/spaces/media/", f"{tmp / 'media'}/")
    )
    site = "\n".join(line for line in site.splitlines() if "ssl_certificate" not in line)
    assert f"127.0.0.1:{port}" in site and str(tmp / "cache") in site
    (tmp / "site.conf").write_text(site)
    user = "user root;\n" if os.geteuid() == 0 else ""
    main = tmp / "nginx.conf"
    main.write_text(
        f"{user}daemon off;\nworker_processes 2;\npid {tmp}/nginx.pid;\n"
        f"error_log {tmp}/error.log warn;\nevents {{ worker_connections {connections}; }}\n"
        f"http {{\n  access_log {tmp}/access.log;\n"
        + "".join(f"  {kind}_temp_path {tmp}/{kind};\n" for kind in ("client_body", "proxy"))
        + "".join(f"  {kind}_temp_path {tmp}/{kind};\n" for kind in ("fastcgi", "uwsgi", "scgi"))
        + f"  include {tmp}/site.conf;\n}}\n"
    )
    return main


class LiveStream(threading.Thread):
    """A Space's HLS stream written in real time (0.5 s segments), as its router would."""

    def __init__(self, room, *, segment_seconds: float = 0.5, part_seconds=None) -> None:
        super().__init__(daemon=True)
        writer = StorageWriter(room.pk)
        writer.clear()
        self.written: dict[str, float] = {}  # when each file was first written

        def write(name: str, data: bytes) -> None:
            writer.write(name, data)
            self.written.setdefault(name, time.time())

        self.segmenter = HlsSegmenter(
            stream=f"{time.time_ns():x}"[:12],
            write=write,
            delete=writer.delete,
            segment_seconds=segment_seconds,
            part_seconds=part_seconds,
        )
        self.stop = threading.Event()

    def run(self) -> None:
        n = np.arange(960)
        started, fed = time.monotonic(), 0
        while not self.stop.is_set():
            while fed * 0.02 <= time.monotonic() - started:
                block = (8000 * np.sin(2 * np.pi * 440 * (n + fed * 960) / 48_000)).astype(np.int16)
                self.segmenter.feed(block, time.time())
                fed += 1
            time.sleep(0.005)


def edge_age(playlist: str) -> float:
    """How old the playlist's live edge is: now minus the end of its last segment."""
    stamps = re.findall(r"PROGRAM-DATE-TIME:(\S+)\n#EXTINF:([0-9.]+)", playlist)
    stamp, duration = stamps[-1]
    end = datetime.datetime.fromisoformat(stamp).timestamp() + float(duration)
    return time.time() - end


def play(port, slug, until, fetched: Counter, ages: list, errors: list) -> None:
    """One player: reload the playlist every 250 ms, fetch each segment it has not had."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    seen: set[str] = set()

    def get(path: str) -> bytes:
        connection.request("GET", path)
        response = connection.getresponse()
        body = response.read()
        if response.status != 200:
            errors.append((path, response.status))
        fetched[path.rsplit("/", 1)[1]] += 1
        return body

    try:
        while time.monotonic() < until:
            playlist = get(f"/s/{slug}/hls/live.m3u8").decode()
            ages.append(edge_age(playlist))
            names = re.findall(r"^([0-9a-f]+-\d+\.m4s)$", playlist, re.M)
            names += re.findall(r'URI="([^"]+)"', playlist)
            for name in names:
                if name not in seen:
                    seen.add(name)
                    get(f"/s/{slug}/hls/{name}")
            time.sleep(0.25)
    except Exception as error:  # noqa: BLE001
        errors.append(("player", repr(error)))
    finally:
        connection.close()


def test_many_players_through_nginx_cause_a_few_origin_requests_per_segment(tmp_path):
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    assert os.path.exists(nginx), "nginx is missing: run scripts/install-test-deps.sh"
    room = RoomFactory()
    stream = LiveStream(room)
    stream.start()
    daphne_port, port, redirect_port = free_port(), free_port(), free_port()
    log = open(tmp_path / "daphne.log", "w+b")  # noqa: SIM115
    daphne = start_daphne(daphne_port, process_env(tmp_path / "mail", PYTHONUNBUFFERED="1"), log)
    proxy = None
    try:
        wait_until_listening(daphne, daphne_port)
        for kind in ("cache", "client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (tmp_path / kind).mkdir()
        conf = nginx_config(tmp_path, port, redirect_port, daphne_port)
        proxy = subprocess.Popen(
            [nginx, "-c", str(conf), "-p", str(tmp_path), "-e", str(tmp_path / "error.log")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        wait_until_listening(proxy, port, timeout=10)
        time.sleep(1.5)  # the first segments exist

        fetched: Counter = Counter()
        errors: list = []
        ages: list = []
        until = time.monotonic() + SECONDS
        players = [
            threading.Thread(target=play, args=(port, room.slug, until, fetched, ages, errors))
            for _ in range(PLAYERS)
        ]
        for player in players:
            player.start()
        for player in players:
            player.join(timeout=SECONDS + 20)
    finally:
        stream.stop.set()
        stream.join(timeout=5)
        if proxy is not None:
            proxy.terminate()
            proxy.wait(timeout=10)
        daphne.terminate()
        daphne.wait(timeout=10)
        log.seek(0)
        daphne_log = log.read().decode(errors="replace")
        log.close()
        StorageWriter(room.pk).clear()

    assert not errors, errors[:5]
    at_origin = Counter(
        name for name in re.findall(rf'"GET /s/{room.slug}/hls/([^ "]+)', daphne_log)
    )
    segments = [name for name in fetched if name.endswith(".m4s")]
    print(
        f"{PLAYERS} players, {SECONDS:.0f} s: {sum(fetched.values())} requests to nginx, "
        f"{sum(at_origin.values())} to daphne; {len(segments)} segments, each asked of daphne "
        f"{max(at_origin[name] for name in segments)} time(s) at most; playlist "
        f"{fetched['live.m3u8']} → {at_origin['live.m3u8']}; live edge age seen by players "
        f"p50 {np.median(ages):.2f} s, p95 {np.percentile(ages, 95):.2f} s, max {max(ages):.2f} s"
    )
    assert len(segments) >= 8  # the stream went on: 0.5 s segments over 6 s
    # every player got every segment it saw (the last ones were not seen by all in time) ...
    assert len([name for name in segments if fetched[name] == PLAYERS]) >= 8
    for name in segments:
        assert fetched[name] <= PLAYERS
        assert at_origin[name] <= 2, (name, at_origin[name])  # ... and daphne served each once
    # the playlist: at most a couple of refreshes per second of its max-age, whatever N is
    assert fetched["live.m3u8"] >= PLAYERS * SECONDS * 2
    assert at_origin["live.m3u8"] <= 2 * (SECONDS + 2) + 2
    # and what the players got was fresh: the live edge at most a segment and a half old
    # (nginx's whole-second max-age, without the half-second slots, made that 2 s at p95)
    assert np.percentile(ages, 95) < 1.2


def play_low_latency(port, slug, until, fetched: Counter, got: dict, errors: list) -> None:
    """An LL-HLS player: blocking reloads for the next part, each new part fetched once."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    seen: set[str] = set()
    query = ""
    try:
        while time.monotonic() < until:
            connection.request("GET", f"/s/{slug}/hls/live.m3u8{query}")
            response = connection.getresponse()
            playlist = response.read().decode()
            if response.status != 200:
                errors.append(("playlist", query, response.status))
                return
            for name in re.findall(r'#EXT-X-PART:.*URI="([^"]+)"', playlist):
                if name not in seen:
                    seen.add(name)
                    connection.request("GET", f"/s/{slug}/hls/{name}")
                    part = connection.getresponse()
                    part.read()
                    if part.status != 200:
                        errors.append((name, part.status))
                    fetched[name] += 1
                    got.setdefault(name, []).append(time.time())
            hint = re.search(r'PRELOAD-HINT:TYPE=PART,URI="[^"]*-(\d+)\.(\d+)\.m4s"', playlist)
            query = f"?_HLS_msn={hint.group(1)}&_HLS_part={hint.group(2)}"
    except Exception as error:  # noqa: BLE001
        errors.append(("player", repr(error)))
    finally:
        connection.close()


def test_ll_hls_players_through_nginx_wait_together_for_each_part(tmp_path):
    """Blocking reloads through the cache: players asking for the same next part wait on one
    request to daphne, and get each part a moment after it is written."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    room = RoomFactory()
    stream = LiveStream(room, part_seconds=0.25)
    stream.start()
    daphne_port, port, redirect_port = free_port(), free_port(), free_port()
    log = open(tmp_path / "daphne.log", "w+b")  # noqa: SIM115
    daphne = start_daphne(daphne_port, process_env(tmp_path / "mail", PYTHONUNBUFFERED="1"), log)
    proxy = None
    try:
        wait_until_listening(daphne, daphne_port)
        for kind in ("cache", "client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (tmp_path / kind).mkdir()
        conf = nginx_config(tmp_path, port, redirect_port, daphne_port)
        proxy = subprocess.Popen(
            [nginx, "-c", str(conf), "-p", str(tmp_path), "-e", str(tmp_path / "error.log")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        wait_until_listening(proxy, port, timeout=10)
        time.sleep(1.5)
        fetched: Counter = Counter()
        got: dict = {}
        errors: list = []
        until, started = time.monotonic() + SECONDS, time.time()
        players = [
            threading.Thread(
                target=play_low_latency, args=(port, room.slug, until, fetched, got, errors)
            )
            for _ in range(30)
        ]
        for player in players:
            player.start()
        for player in players:
            player.join(timeout=SECONDS + 20)
    finally:
        stream.stop.set()
        stream.join(timeout=5)
        if proxy is not None:
            proxy.terminate()
            proxy.wait(timeout=10)
        daphne.terminate()
        daphne.wait(timeout=10)
        log.seek(0)
        daphne_log = log.read().decode(errors="replace")
        log.close()
        StorageWriter(room.pk).clear()

    assert not errors, errors[:5]
    blocking = Counter(
        re.findall(r'"GET /s/[^/]+/hls/live\.m3u8\?(_HLS_msn=\d+&_HLS_part=\d+)', daphne_log)
    )
    parts = Counter(re.findall(r'"GET /s/[^/]+/hls/([0-9a-f]+-\d+\.\d+\.m4s)', daphne_log))
    everyone = [name for name in fetched if fetched[name] == 30]
    # parts cut while they played (the first playlist lists the last three seconds' parts)
    new = [name for name in everyone if stream.written[name] > started + 0.5]
    late = sorted(t - stream.written[name] for name in new for t in got[name])
    print(
        f"30 LL-HLS players, {SECONDS:.0f} s: {sum(fetched.values())} parts fetched,"
        f" {len(blocking)} blocking reloads reached daphne (at most {max(blocking.values())}"
        f" each), parts at most {max(parts.values())} each; a part reached the players"
        f" p50 {np.median(late) * 1000:.0f} ms, p95 {np.percentile(late, 95) * 1000:.0f} ms"
        " after it was written"
    )
    assert len(everyone) >= 4 * (SECONDS - 2)  # ~4 parts a second reached every player
    assert max(blocking.values()) <= 2 and max(parts.values()) <= 2
    assert len(blocking) <= 4 * SECONDS + 8  # one reload per part, whatever the crowd
    # each part reached the players as it came, not a playlist reload later; nginx wakes
    # requests waiting on its cache lock every 500 ms, hence up to half a second
    assert np.percentile(late, 95) < 1.0


def test_nginx_serves_avatars_from_media_root_but_never_recordings_or_hls(tmp_path):
    """Uploads come from disk; the recordings and live HLS files under MEDIA_ROOT only through
    the app's views (which ask who may hear them), never from nginx, whatever the path says."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    assert os.path.exists(nginx), "nginx is missing: run scripts/install-test-deps.sh"
    media = tmp_path / "media"
    files = {
        "avatars/7.png": b"avatar-bytes",
        "recordings/3-abc/replay.m4a": b"private-recording",
        "recordings/3-abc/clips/x.m4a": b"private-clip",
        "hls/3/live.m3u8": b"#EXTM3U private",
    }
    for name, data in files.items():
        (media / name).parent.mkdir(parents=True, exist_ok=True)
        (media / name).write_bytes(data)
    for kind in ("cache", "client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (tmp_path / kind).mkdir()
    port, redirect_port = free_port(), free_port()
    conf = nginx_config(tmp_path, port, redirect_port, free_port())  # no daphne: not asked
    proxy = subprocess.Popen(
        [nginx, "-c", str(conf), "-p", str(tmp_path), "-e", str(tmp_path / "error.log")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_until_listening(proxy, port, timeout=10)

        def get(path: str) -> tuple[int, bytes]:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            try:
                connection.request("GET", path)
                response = connection.getresponse()
                return response.status, response.read()
            finally:
                connection.close()

        assert get("/media/avatars/7.png") == (200, b"avatar-bytes")
        for path in (
            "/media/recordings/3-abc/replay.m4a",
            "/media/recordings/3-abc/clips/x.m4a",
            "/media/hls/3/live.m3u8",
            "/media/avatars/../recordings/3-abc/replay.m4a",
            "/media/avatars/%2e%2e/recordings/3-abc/replay.m4a",
            "/media//recordings/3-abc/replay.m4a",
        ):
            status, body = get(path)
            assert status in (400, 403, 404), (path, status)
            assert b"private" not in body, path
    finally:
        proxy.terminate()
        proxy.wait(timeout=10)
