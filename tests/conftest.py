import pytest

from tests.factories import UserFactory


@pytest.fixture
def user(db):
    return UserFactory()


@pytest.fixture
def client_for(client):
    """A test client signed in as the given user."""

    def sign_in(person):
        client.force_login(person)
        return client

    return sign_in


def pytest_configure(config):
    from django.conf import settings

    (settings.BASE_DIR / "var").mkdir(exist_ok=True)
    _compile_stale_catalogs(settings.BASE_DIR / "locale")


def _compile_stale_catalogs(locale_dir):
    """`make test` compiles the catalogs; a bare `pytest` after editing a .po does it here."""
    import shutil
    import subprocess

    msgfmt = shutil.which("msgfmt")
    for po in locale_dir.glob("*/LC_MESSAGES/*.po"):
        mo = po.with_suffix(".mo")
        if msgfmt and (not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime):
            subprocess.run([msgfmt, "--check", "-o", str(mo), str(po)], check=True)  # noqa: S603


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Rate-limit counters live in the cache (Redis in the services pass): start each test clean."""
    from django.core.cache import cache

    cache.clear()
