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


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Rate-limit counters live in the cache (Redis in the services pass): start each test clean."""
    from django.core.cache import cache

    cache.clear()
