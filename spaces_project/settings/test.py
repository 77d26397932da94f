"""pytest: fast hashing, mail in the outbox, the same services as production when configured."""

import os

from .base import *  # noqa: F403
from .base import BASE_DIR, DATABASES

DEBUG = False
SECRET_KEY = "test-key-not-for-production"  # noqa: S105
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# The browser tests' server process writes mail to files the test reads.
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.locmem.EmailBackend")
EMAIL_FILE_PATH = os.environ.get("EMAIL_FILE_PATH", str(BASE_DIR / "var" / "test-mail"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
MEDIA_ROOT = BASE_DIR / "var" / "test-media"
STORAGES["hls"] = hls_storage(MEDIA_ROOT)  # noqa: F405
STORAGES["recordings"] = recordings_storage(MEDIA_ROOT)  # noqa: F405
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
CELERY_TASK_ALWAYS_EAGER = os.environ.get("CELERY_TASK_ALWAYS_EAGER", "1") == "1"
CELERY_TASK_EAGER_PROPAGATES = True

# A file, not memory, so a server process started by the browser tests sees the same data.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # One file per test run, so runs side by side do not share it.
    DATABASES["default"]["TEST"] = {
        "NAME": str(BASE_DIR / "var" / f"test-db-{os.getpid()}.sqlite3")
    }

# Tests and browser tests run in a network namespace with only loopback.
SPACES_MEDIA = {  # noqa: F405
    **SPACES_MEDIA,  # noqa: F405
    "BIND_ADDRESSES": ["127.0.0.1"],
    "CANDIDATE_NETWORKS": ["127.0.0.0/8"],
}

# Tests that kill a real worker mid-batch slow each reminder and email down by this many seconds.
SPACES_TEST_SEND_DELAY = float(os.environ.get("SPACES_TEST_SEND_DELAY", "0"))

# Tests and benchmarks open many sockets and pages from 127.0.0.1; the limits have own tests.
SPACES_PUBLIC_PAGE_RATE = 100_000
# The hostile-guests benchmark sets the production limit back (60 a minute per address).
SPACES_GUEST_CONNECT_RATE = int(os.environ.get("SPACES_TEST_GUEST_CONNECT_RATE", "100000"))
SPACES_GUEST_SOCKETS_PER_ADDRESS = 100_000
