"""Real-browser tests: daphne serving the test database, Chromium driven by Playwright.

They run inside `unshare -n` (scripts/test-suites.sh) so no traffic can leave loopback.
"""

import contextlib
import os
import re
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import settings

from tests.servers import database_url, free_port, mail_messages, process_env  # noqa: F401

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
    "--allow-loopback-in-peer-connection",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
]


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/browser/" in str(item.fspath):
            item.add_marker(pytest.mark.browser)


@dataclass
class LiveServer:
    url: str
    mail_dir: Path
    process: subprocess.Popen

    def outbox(self) -> list[str]:
        """Every email the server has sent so far, oldest first."""
        return mail_messages(self.mail_dir)

    def link_in_last_email(self, pattern: str) -> str:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            for message in reversed(self.outbox()):
                found = re.search(r"https?://[^/\s]+(" + pattern + r")", message)
                if found:
                    return self.url + found.group(1)
            time.sleep(0.1)
        raise AssertionError(f"no email with a link matching {pattern!r}")


@contextlib.contextmanager
def run_daphne(tmp_path_factory, **settings_env: str):
    """daphne (HTTP + WebSockets + audio) in its own process, on the test database.

    settings_env: extra environment for the server, e.g. SPACES_LISTENER_PACKET_MS="60".
    """
    port = free_port()
    mail_dir = tmp_path_factory.mktemp("mail")
    env = {**process_env(mail_dir), **settings_env}
    log = open(tmp_path_factory.mktemp("daphne") / "daphne.log", "w+b")  # noqa: SIM115
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "daphne",
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "spaces_project.asgi:application",
        ],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                raise RuntimeError("daphne did not start:\n" + log.read().decode()) from None
            time.sleep(0.1)
    try:
        yield LiveServer(url=f"http://127.0.0.1:{port}", mail_dir=mail_dir, process=process)
    finally:
        process.terminate()
        process.wait(timeout=10)
        if os.environ.get("SHOW_SERVER_LOG"):
            log.seek(0)
            sys.stderr.write(log.read().decode())
        log.close()


@pytest.fixture(scope="session")
def daphne_server(django_db_setup, django_db_blocker, tmp_path_factory):
    """The site as users reach it, with the default settings."""
    with run_daphne(tmp_path_factory) as server:
        yield server


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop in the test thread; the test's ORM calls are safe.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@pytest.fixture
def new_page(browser, daphne_server, transactional_db):
    """Open a page in a fresh browser context (its own cookies), as a separate visitor would."""
    contexts = []

    def open_page(path: str | None = "/"):
        context = browser.new_context(
            base_url=daphne_server.url, viewport={"width": 390, "height": 844}
        )
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        if path:
            page.goto(path)
        return page

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture
def signed_in_page(new_page, daphne_server):
    """Open a page as a given user (a real session in the test database, as after sign-in)."""
    from django.test import Client

    def open_page(user, path: str = "/"):
        client = Client()
        client.force_login(user)
        page = new_page(None)
        page.context.add_cookies(
            [
                {
                    "name": "sessionid",
                    "value": client.cookies["sessionid"].value,
                    "url": daphne_server.url,
                }
            ]
        )
        if path:
            page.goto(path)
        return page

    return open_page
