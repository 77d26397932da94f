#!/usr/bin/env python
"""Regenerate docs/screenshots/: the live room as host, speaker, listener and guest, and a
recorded Space's replay (guest, host) and a clip page, at phone (390×844) and desktop
(1280×800) size, from a real browser against a throwaway server.

    scripts/in-netns.sh .venv/bin/python scripts/screenshots.py

It runs the phone layout browser tests (tests/browser/test_room_layout_browser.py and the
replay's in tests/browser/test_replay_browser.py) with
SPACES_SCREENSHOTS set, on throwaway PostgreSQL and Redis (scripts/services.sh) unless
DATABASE_URL is already set.
"""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TESTS = ["tests/browser/test_room_layout_browser.py", "tests/browser/test_replay_browser.py"]


def main() -> int:
    env = {**os.environ, "SPACES_SCREENSHOTS": str(ROOT / "docs" / "screenshots")}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "browser"]
    command += TESTS
    if env.get("DATABASE_URL"):
        return subprocess.call(command, cwd=ROOT, env=env)
    services = tempfile.mkdtemp(prefix="screenshots-")
    started = subprocess.run(
        ["scripts/services.sh", "start", services], cwd=ROOT, capture_output=True, text=True
    )
    if started.returncode:
        sys.stderr.write(started.stderr)
        return started.returncode
    for word in started.stdout.split():
        if "=" in word:
            key, value = word.split("=", 1)
            env[key] = value
    try:
        return subprocess.call(command, cwd=ROOT, env=env)
    finally:
        subprocess.run(["scripts/services.sh", "stop", services], cwd=ROOT)


if __name__ == "__main__":
    sys.exit(main())
