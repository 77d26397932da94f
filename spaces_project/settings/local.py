"""`make run`: embedded defaults, so a fresh machine runs with no servers and no configuration."""

import os

from .base import *  # noqa: F403
from .base import BASE_DIR

DEBUG = True
SECRET_KEY = os.environ.get("SECRET_KEY") or "local-development-key-not-for-production"  # noqa: S105
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]"]
_PORT = os.environ.get("PORT", "8000")  # `make run`'s port; pages and sockets share origins
CSRF_TRUSTED_ORIGINS = [f"http://{host}:{_PORT}" for host in ("127.0.0.1", "localhost", "[::1]")]
MEDIA_ROOT = BASE_DIR / "var" / "media"
