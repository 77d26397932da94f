"""`make run`: embedded defaults, so a fresh machine runs with no servers and no configuration."""

import os

from .base import *  # noqa: F403
from .base import BASE_DIR

DEBUG = True
SECRET_KEY = os.environ.get("SECRET_KEY") or "local-development-key-not-for-production"  # noqa: S105
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]"]
CSRF_TRUSTED_ORIGINS = ["http://127.0.0.1:8000", "http://localhost:8000"]
MEDIA_ROOT = BASE_DIR / "var" / "media"
STORAGES["hls"] = hls_storage(MEDIA_ROOT)  # noqa: F405
