"""`make run`: embedded defaults, so a fresh machine runs with no servers and no configuration."""

import os

from .base import *  # noqa: F403
from .base import BASE_DIR, env_bool

# Off by default so people see the site's own 404/403/500 pages, as in production;
# `DEBUG=1 make run` shows Django's debug pages with tracebacks.
DEBUG = env_bool("DEBUG", False)
# Static files straight from static/ (no collectstatic needed), uploads served by daphne.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
SERVE_MEDIA = True
SECRET_KEY = os.environ.get("SECRET_KEY") or "local-development-key-not-for-production"  # noqa: S105
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]"]
CSRF_TRUSTED_ORIGINS = ["http://127.0.0.1:8000", "http://localhost:8000"]
MEDIA_ROOT = BASE_DIR / "var" / "media"
