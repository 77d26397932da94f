"""Helpers for tests that start project processes (daphne, a Celery worker) on the test database.

The process gets the same settings module and database as the test; mail goes to files in a
directory the test reads.
"""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url() -> str:
    """The test database, as a DATABASE_URL for another process (call after django_db_setup)."""
    from django.db import connection

    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{Path(db['NAME']).resolve()}"
    credentials = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{credentials}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


def process_env(mail_dir: Path, **extra: str) -> dict[str, str]:
    """Environment for a project process on the test database, writing mail to `mail_dir`."""
    return {
        **{k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"},
        "DJANGO_SETTINGS_MODULE": "spaces_project.settings.test",
        "DATABASE_URL": database_url(),
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": str(mail_dir),
        **extra,
    }


def mail_messages(mail_dir: Path) -> list[str]:
    """Every email written to `mail_dir` by the file email backend, oldest first."""
    messages: list[str] = []
    for path in sorted(mail_dir.glob("*.log"), key=lambda p: p.stat().st_mtime):
        messages += [m for m in path.read_text().split("-" * 79) if m.strip()]
    return messages


def start_daphne(port: int, env: dict[str, str], log) -> subprocess.Popen:
    """daphne serving the project on 127.0.0.1:`port`, its output to `log` (call
    `wait_until_listening` before connecting)."""
    from django.conf import settings

    return subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port)]
        + ["spaces_project.asgi:application"],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def wait_until_listening(process: subprocess.Popen, port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the server on port {port} did not start") from None
            time.sleep(0.1)
