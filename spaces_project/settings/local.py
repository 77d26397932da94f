"""`make run`: embedded defaults, so a fresh machine runs with no servers and no configuration."""

import os

from .base import *  # noqa: F403
from .base import BASE_DIR, env_bool, env_list

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
# Mail is printed in the terminal running `make run`, fenced by "==== email ====" lines.
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "accounts.console_mail.EmailBackend")
# Where `make run` listens (scripts/run.sh passes HOST and PORT to daphne too).
_host, _port = os.environ.get("HOST", "127.0.0.1"), os.environ.get("PORT", "8000")
_names = ["127.0.0.1", "localhost", *env_list("ALLOWED_HOSTS")]
if _host not in {"0.0.0.0", "::", *_names}:  # noqa: S104 (a name, not a bind)
    _names.append(_host)
ALLOWED_HOSTS = [*_names, "[::1]"]
CSRF_TRUSTED_ORIGINS = [f"http://{name}:{_port}" for name in [*_names, "[::1]"]]
MEDIA_ROOT = BASE_DIR / "var" / "media"
STORAGES["hls"] = hls_storage(MEDIA_ROOT)  # noqa: F405
STORAGES["recordings"] = recordings_storage(MEDIA_ROOT)  # noqa: F405
