"""Settings shared by every environment; each value that differs comes from the environment."""

import json
import os
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent.parent


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_bool(name: str, default: bool = False) -> bool:
    return os.environ.get(name, str(default)).lower() in {"1", "true", "yes", "on"}


SECRET_KEY = os.environ.get("SECRET_KEY", "")
DEBUG = False
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
# Pages whose scripts may open the room socket: full origins (scheme://host[:port]). Empty means
# CSRF_TRUSTED_ORIGINS; with both empty, only the socket's own origin (its Host header).
SPACES_WEBSOCKET_ORIGINS = env_list("SPACES_WEBSOCKET_ORIGINS")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.sites",
    "django.contrib.postgres",  # search: full-text and trigram lookups (rooms/search.py)
    "channels",
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.github",
    "allauth.socialaccount.providers.google",
    "allauth.socialaccount.providers.twitter_oauth2",
    "accounts",
    "rooms",
    "moderation",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
]

ROOT_URLCONF = "spaces_project.urls"
WSGI_APPLICATION = "spaces_project.wsgi.application"
ASGI_APPLICATION = "spaces_project.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        conn_max_age=int(os.environ.get("CONN_MAX_AGE", "0")),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and env_bool(
    "DATABASE_POOL", True
):
    # Under ASGI every database call runs in a worker thread; without a pool each one would
    # open a new PostgreSQL connection (a join took 3x longer in the signaling benchmark).
    # Pooled connections are checked before use (after a PostgreSQL restart the pool held dead
    # ones: 9 of the first 10 pages failed; spaces_project/postgres), and a request waits at
    # most DATABASE_POOL_TIMEOUT s for one in an outage, then gets a 503 (spaces_project/errors.py).
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # The pool checks connections itself (spaces_project/postgres); Django's check would add
    # psycopg_pool's, which sleeps a backoff between dead connections.
    DATABASES["default"]["ENGINE"] = "spaces_project.postgres"
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = False
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 2,
        "max_size": int(os.environ.get("DATABASE_POOL_SIZE", "20")),
        "timeout": float(os.environ.get("DATABASE_POOL_TIMEOUT", "3")),
        # psycopg_pool retries a failed connect with a doubling delay until this many seconds
        # have passed; kept short so the first page after an outage does not wait the backoff.
        "reconnect_timeout": float(os.environ.get("DATABASE_POOL_RECONNECT_TIMEOUT", "2")),
    }
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # SQLite with sockets and the admin writing at once: write-ahead log (readers never wait on
    # the writer), a 20 s busy timeout, and transactions that take the write lock when they
    # start (BEGIN IMMEDIATE), so two writers queue instead of failing "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# English and French: the browser's Accept-Language picks one, the switcher in the footer
# (Django's set_language, a cookie) overrides it. Our catalogs are in locale/; `make run` and
# `make test` compile them, and a test fails on any French msgid left untranslated.
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("fr", "Français")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", BASE_DIR / "media"))
# `make run` serves uploads itself (settings/local.py); production's proxy serves the avatars
# from MEDIA_ROOT/avatars/ (docs/deploy/nginx.conf), never MEDIA_ROOT/recordings/ or hls/.
SERVE_MEDIA = False
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}


def hls_storage(media_root: Path) -> dict:
    """Live HLS files: under MEDIA_ROOT/hls/ or, with SPACES_HLS_S3_BUCKET, in object storage
    (credentials from the usual AWS_* environment variables)."""
    bucket = os.environ.get("SPACES_HLS_S3_BUCKET")
    if not bucket:
        return {"BACKEND": "rooms.hls.LiveFileStorage", "OPTIONS": {"location": media_root / "hls"}}
    return {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": bucket,
            "endpoint_url": os.environ.get("SPACES_HLS_S3_ENDPOINT_URL") or None,
            "region_name": os.environ.get("SPACES_HLS_S3_REGION") or None,
            "location": "hls",
            "file_overwrite": True,
            "default_acl": None,
        },
    }


STORAGES["hls"] = hls_storage(MEDIA_ROOT)


def recordings_storage(media_root: Path) -> dict:
    """Recordings and clips (rooms/recordings.py): names are "recordings/<room>-<random>/...",
    so on disk under MEDIA_ROOT/recordings/, or with SPACES_RECORDINGS_S3_BUCKET in object
    storage under the same keys (credentials from the usual AWS_* environment variables)."""
    bucket = os.environ.get("SPACES_RECORDINGS_S3_BUCKET")
    if not bucket:
        return {"BACKEND": "rooms.hls.LiveFileStorage", "OPTIONS": {"location": media_root}}
    return {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": bucket,
            "endpoint_url": os.environ.get("SPACES_RECORDINGS_S3_ENDPOINT_URL") or None,
            "region_name": os.environ.get("SPACES_RECORDINGS_S3_REGION") or None,
            "file_overwrite": True,
            "default_acl": None,
            "querystring_expire": 3600,
        },
    }


STORAGES["recordings"] = recordings_storage(MEDIA_ROOT)

SITE_ID = 1
LOGIN_REDIRECT_URL = "home"
LOGIN_URL = "account_login"

# django-allauth: email is the identity; verification is mandatory before sign-in.
ACCOUNT_ADAPTER = "accounts.adapters.AccountAdapter"
ACCOUNT_LOGIN_METHODS = {"email"}
# The username field is the public @handle (accounts/handles.py); the display name is asked by
# accounts.forms.SignupForm. Nothing public is derived from the email address.
ACCOUNT_SIGNUP_FIELDS = ["email*", "username*", "password1*", "password2*"]
ACCOUNT_FORMS = {"signup": "accounts.forms.SignupForm"}
ACCOUNT_USERNAME_VALIDATORS = "accounts.handles.handle_validators"
ACCOUNT_USERNAME_MIN_LENGTH = 3
ACCOUNT_PRESERVE_USERNAME_CASING = False
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
# Following the link in the confirmation email signs the person in (same browser session).
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_CONFIRM_EMAIL_ON_GET = False
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_PREVENT_ENUMERATION = True
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_RATE_LIMITS = {
    "login": "30/m/ip",
    "login_failed": "10/m/ip,5/5m/key",
    "signup": "20/m/ip",
    "reset_password": "20/m/ip,5/m/key",
    "reset_password_from_key": "20/m/ip",
    "confirm_email": "1/3m/key",
}
SOCIALACCOUNT_ADAPTER = "accounts.adapters.SocialAccountAdapter"
SOCIALACCOUNT_EMAIL_AUTHENTICATION = False
SOCIALACCOUNT_PROVIDERS: dict = {}

EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS")
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Spaces <noreply@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# Redis, when configured, carries the channel layer, the Celery broker and the cache.
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "spaces_project.layers.OutageTolerantPubSubChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL]},
        }
    }
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            # A stalled Redis must not stall requests: rate limits fail open after this.
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "spaces_project.layers.SweepingInMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Celery: Redis as broker when configured, else a filesystem broker that needs no server.
CELERY_DATA_DIR = Path(os.environ.get("CELERY_DATA_DIR", BASE_DIR / "var" / "celery"))
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS: dict = {}
else:
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_DATA_DIR / "queue"),
        "data_folder_out": str(CELERY_DATA_DIR / "queue"),
        "processed_folder": str(CELERY_DATA_DIR / "processed"),
        "control_folder": str(CELERY_DATA_DIR / "control"),
        "store_processed": False,
    }
CELERY_TASK_ALWAYS_EAGER = False
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULE: dict = {}
CELERY_BEAT_SCHEDULE_FILENAME = str(CELERY_DATA_DIR / "beat-schedule")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    # aioice logs every connectivity check at INFO.
    "loggers": {"aioice": {"level": "WARNING"}},
}

# Spaces
# Limits of a live Space; the rules in rooms/permissions.py and rooms/services.py read them.
SPACES_MAX_COHOSTS = int(os.environ.get("SPACES_MAX_COHOSTS", "2"))
SPACES_MAX_SPEAKERS = int(os.environ.get("SPACES_MAX_SPEAKERS", "10"))  # besides host and co-hosts
SPACES_INVITE_TTL = int(os.environ.get("SPACES_INVITE_TTL", "600"))  # seconds an invite stays open
SPACES_MAX_SCHEDULE_AHEAD_DAYS = int(os.environ.get("SPACES_MAX_SCHEDULE_AHEAD_DAYS", "14"))

# The live room (rooms/consumers.py, rooms/live.py): per-socket limits and presence.
SPACES_MAX_POST_CHARS = 280
SPACES_SOCKET_RATE = float(os.environ.get("SPACES_SOCKET_RATE", "10"))  # messages per second
SPACES_SOCKET_BURST = int(os.environ.get("SPACES_SOCKET_BURST", "30"))
SPACES_SOCKET_FLOOD_STRIKES = 50  # messages over the limit before the socket is closed (4429)
SPACES_SOCKET_BAD_MESSAGES = 20  # invalid messages before the socket is closed (4400)
SPACES_SOCKET_QUEUE = 40  # frames waiting to be handled per socket; more count as flood strikes
SPACES_SOCKETS_PER_PERSON = int(os.environ.get("SPACES_SOCKETS_PER_PERSON", "5"))  # per Space
SPACES_PERSON_ACTIONS = 60  # room actions per person per window, all their sockets and processes
SPACES_PERSON_WINDOW = 10  # seconds
SPACES_PERSON_POSTS = 20  # posts per person per minute
SPACES_OFFER_RATE = 0.2  # audio offers per second per socket (one every 5 s) ...
SPACES_OFFER_BURST = 3  # ... after a burst of 3
SPACES_OFFER_PERSON_LIMIT = 12  # audio offers per person per minute
SPACES_OFFER_ADDRESS_LIMIT = 30  # audio offers per guest address per minute
SPACES_OFFER_TIMEOUT = 10.0  # seconds an offer counts as in flight without an answer
# Bytes that may wait in daphne for one socket whose client stopped reading; past it the
# connection is dropped (the page reconnects and gets a snapshot). The kernel's socket buffer
# (up to net.ipv4.tcp_wmem's maximum) comes on top.
SPACES_SOCKET_SEND_BUFFER_BYTES = int(os.environ.get("SPACES_SOCKET_SEND_BUFFER_BYTES", "524288"))
SPACES_QUESTION_RATE = 5  # questions a person may ask a minute (rooms/questions.py)
SPACES_QUESTION_VOTE_RATE = 60  # upvotes a person may give a minute
SPACES_REACTION_RATE = 2.0  # reactions per second per socket
SPACES_REACTION_BURST = 6
# The room page pings every 20 s (docs/protocol.md). A presence row not refreshed for
# SPACES_PRESENCE_STALE_SECONDS is swept, so it must outlast two pings (check `rooms.W001`); a
# ping refreshes the row when the last refresh is older than a third of that (at most 20 s).
SPACES_CLIENT_PING_SECONDS = 20
SPACES_PRESENCE_STALE_SECONDS = int(os.environ.get("SPACES_PRESENCE_STALE_SECONDS", "90"))
SPACES_PRESENCE_TOUCH_SECONDS = min(20, SPACES_PRESENCE_STALE_SECONDS / 3)
SPACES_GUEST_COOKIE_AGE = 60 * 60 * 24 * 365


def _packet_ms(value: str) -> int | None:
    return None if value.strip().lower() == "auto" else int(value)


# Audio (rooms/media): ICE servers handed to the server's peers and to browsers, the local
# addresses to gather candidates on, and the public addresses to announce behind 1:1 NAT.
# The empty ICE list contacts nothing outside the machine.
SPACES_MEDIA = {
    "ICE_SERVERS": json.loads(os.environ.get("SPACES_ICE_SERVERS", "[]")),
    "BIND_ADDRESSES": env_list("SPACES_MEDIA_BIND_ADDRESSES"),
    "ANNOUNCE_ADDRESSES": env_list("SPACES_MEDIA_ANNOUNCE_ADDRESSES"),
    "OPUS_BITRATE": int(os.environ.get("SPACES_OPUS_BITRATE", "32000")),
    # Offers' candidates at loopback, private or link-local addresses are dropped (the server
    # sends connectivity checks only to public addresses) unless inside one of these networks.
    "CANDIDATE_NETWORKS": env_list("SPACES_MEDIA_CANDIDATE_NETWORKS"),
    # "auto": 20 ms packets for listeners until UP_AT listeners, 60 ms until back to DOWN_AT
    "LISTENER_PACKET_MS": _packet_ms(os.environ.get("SPACES_LISTENER_PACKET_MS", "auto")),
    "LISTENER_PACKET_UP_AT": int(os.environ.get("SPACES_LISTENER_PACKET_UP_AT", "250")),
    "LISTENER_PACKET_DOWN_AT": int(os.environ.get("SPACES_LISTENER_PACKET_DOWN_AT", "150")),
    # WebRTC listeners and guests one media worker (one core) takes before sending the rest to
    # HLS: 1,000 on 60 ms packets used 76% of a core (docs/benchmarks.md, audio fan-out).
    "WEBRTC_LISTENER_CAPACITY": int(os.environ.get("SPACES_WEBRTC_LISTENER_CAPACITY", "1000")),
}

# HLS (rooms/hls.py): the listener mix as AAC in ~1 s fMP4 segments, for audiences past WebRTC.
SPACES_HLS = {
    "ENABLED": os.environ.get("SPACES_HLS", "on") != "off",
    "SEGMENT_SECONDS": float(os.environ.get("SPACES_HLS_SEGMENT_SECONDS", "0.5")),  # see benchmarks
    "WINDOW": int(os.environ.get("SPACES_HLS_WINDOW", "6")),  # segments in the live playlist
    "BITRATE": int(os.environ.get("SPACES_HLS_BITRATE", "64000")),
    # LL-HLS parts (EXT-X-PART, blocking reloads, preload hints), seconds; "off" for plain HLS.
    # Through nginx: ~1.3 s glass-to-ear p95 against ~3 s plain (docs/benchmarks.md).
    "PART_SECONDS": (
        None
        if os.environ.get("SPACES_HLS_PART_SECONDS", "0.25") == "off"
        else float(os.environ.get("SPACES_HLS_PART_SECONDS", "0.25"))
    ),
}

# Recordings (rooms/recordings.py): the recording mix as AAC in fMP4 segments of this length
# (2 s: see docs/benchmarks.md, "Recording"), the wait for a media process to finish writing
# after the end, clips a person may make per window, and how long recordings are kept (days
# after the Space ended; unset keeps them).
SPACES_RECORDING_SEGMENT_SECONDS = float(os.environ.get("SPACES_RECORDING_SEGMENT_SECONDS", "2"))
SPACES_RECORDING_BITRATE = int(os.environ.get("SPACES_RECORDING_BITRATE", "64000"))
SPACES_RECORDING_FINISH_WAIT = float(os.environ.get("SPACES_RECORDING_FINISH_WAIT", "60"))
SPACES_RECORDING_RETENTION_DAYS = (
    float(os.environ["SPACES_RECORDING_RETENTION_DAYS"])
    if os.environ.get("SPACES_RECORDING_RETENTION_DAYS")
    else None
)
SPACES_CLIP_RATE = (10, 3600)  # clips, seconds
CELERY_BEAT_SCHEDULE["rooms-recordings-sweep"] = {
    "task": "rooms.tasks.recordings_sweep",
    "schedule": 60.0,
    "options": {"expires": 60.0},
}
CELERY_BEAT_SCHEDULE["rooms-recordings-expire"] = {
    "task": "rooms.tasks.recordings_expire",
    "schedule": 3600.0,
    "options": {"expires": 3600.0},
}

# Moderation (moderation/): report thresholds, guest rate limits, the suspension expiry job.
MODERATION_FLAG_THRESHOLD = int(os.environ.get("MODERATION_FLAG_THRESHOLD", "3"))  # reporters
MODERATION_FLAG_WINDOW_HOURS = int(os.environ.get("MODERATION_FLAG_WINDOW_HOURS", "24"))
MODERATION_DUPLICATE_HOURS = 24  # one report per reporter and target in this time
MODERATION_GUEST_REPORTS_PER_IP = (10, 60 * 60)  # reports, seconds
MODERATION_GUEST_REPORTS_PER_COOKIE = (5, 60 * 60)
MODERATION_USER_REPORTS = (30, 60 * 60)
CELERY_BEAT_SCHEDULE["moderation-expire-suspensions"] = {
    "task": "moderation.tasks.expire_suspensions",
    "schedule": 60.0,
}

# Scheduled Spaces and background work (rooms/scheduling.py, accounts/mail.py). Periods are in
# seconds. Due work is stored as rows and claimed by a periodic task: no far-off Celery ETAs.
SPACES_HOST_REMINDER_BEFORE = float(os.environ.get("SPACES_HOST_REMINDER_BEFORE", "600"))
SPACES_AUTO_CANCEL_AFTER = float(os.environ.get("SPACES_AUTO_CANCEL_AFTER", "1800"))
SPACES_AUTO_END_AFTER = float(os.environ.get("SPACES_AUTO_END_AFTER", "300"))
SPACES_DUE_WORK_INTERVAL = float(os.environ.get("SPACES_DUE_WORK_INTERVAL", "5"))
SPACES_PRESENCE_SWEEP_INTERVAL = float(os.environ.get("SPACES_PRESENCE_SWEEP_INTERVAL", "30"))
SPACES_REMINDER_BATCH = int(os.environ.get("SPACES_REMINDER_BATCH", "100"))  # per transaction
# Web Push (accounts/webpush.py): the VAPID private key (raw P-256, base64url) and contact.
# Empty key: no push. Loopback endpoints are allowed only where the tests say so.
SPACES_VAPID_PRIVATE_KEY = os.environ.get("SPACES_VAPID_PRIVATE_KEY", "")
SPACES_VAPID_SUBJECT = os.environ.get("SPACES_VAPID_SUBJECT", "mailto:admin@localhost")
SPACES_PUSH_ALLOW_LOOPBACK = False
# Followers told per transaction when a host goes live or schedules (rooms/follows.py).
SPACES_FOLLOWER_BATCH = int(os.environ.get("SPACES_FOLLOWER_BATCH", "500"))
# Host insights (rooms/insights.py): how often a live Space's listeners are sampled, and how
# often a socket process writes the arrivals and reactions it noted.
SPACES_INSIGHTS_SAMPLE = float(os.environ.get("SPACES_INSIGHTS_SAMPLE", "30"))
SPACES_INSIGHTS_FLUSH = float(os.environ.get("SPACES_INSIGHTS_FLUSH", "10"))
CELERY_BEAT_SCHEDULE["rooms-insights-sample"] = {
    "task": "rooms.tasks.insights_sample",
    "schedule": SPACES_INSIGHTS_SAMPLE,
}
CELERY_BEAT_SCHEDULE["rooms-follow-digest"] = {
    "task": "rooms.tasks.follow_digest_send",
    "schedule": 24 * 3600.0,
}
SPACES_EMAIL_RETRY_AFTER = float(os.environ.get("SPACES_EMAIL_RETRY_AFTER", "300"))
SPACES_EMAIL_MAX_ATTEMPTS = 5
SPACES_JOB_MAX_ATTEMPTS = 5
SPACES_TEST_SEND_DELAY = 0.0  # only settings/test.py sets it: a pause so tests can kill mid-batch
TEMPLATES[0]["OPTIONS"]["context_processors"].append("accounts.context_processors.notifications")


def _every(seconds: float) -> dict:
    # A tick that waited longer than its interval is dropped: the next one does the same work.
    return {"schedule": seconds, "options": {"expires": max(seconds, 1.0)}}


CELERY_BEAT_SCHEDULE["rooms-due-work"] = {
    "task": "rooms.tasks.due_work_run",
    **_every(SPACES_DUE_WORK_INTERVAL),
}
CELERY_BEAT_SCHEDULE["rooms-hostless-watch"] = {
    "task": "rooms.tasks.hostless_watch",
    **_every(SPACES_DUE_WORK_INTERVAL),
}
CELERY_BEAT_SCHEDULE["rooms-presence-sweep"] = {
    "task": "rooms.tasks.presence_sweep",
    **_every(SPACES_PRESENCE_SWEEP_INTERVAL),
}
CELERY_BEAT_SCHEDULE["accounts-email-retry"] = {
    "task": "accounts.tasks.email_retry",
    **_every(SPACES_DUE_WORK_INTERVAL),
}
# "inprocess": a Space's audio router runs in the daphne process that takes its first offer;
# "worker": in the media worker processes named here (`manage.py mediaworker <name>`, needs Redis).
SPACES_MEDIA["MODE"] = os.environ.get("SPACES_MEDIA_MODE", "inprocess")
SPACES_MEDIA["WORKERS"] = env_list("SPACES_MEDIA_WORKERS")
# Media workers beat every WORKER_HEARTBEAT_SECONDS; one silent for WORKER_STALE_SECONDS is
# treated as dead and its Spaces move. An offer unanswered for OFFER_TIMEOUT s tries another.
SPACES_MEDIA["WORKER_HEARTBEAT_SECONDS"] = float(
    os.environ.get("SPACES_MEDIA_WORKER_HEARTBEAT_SECONDS", "0.5")
)
SPACES_MEDIA["WORKER_STALE_SECONDS"] = float(
    os.environ.get("SPACES_MEDIA_WORKER_STALE_SECONDS", "2")
)
SPACES_MEDIA["OFFER_TIMEOUT"] = float(os.environ.get("SPACES_MEDIA_OFFER_TIMEOUT", "2.5"))
# TURN with short-lived credentials (coturn `use-auth-secret`); off unless both are set.
SPACES_TURN = {
    "URLS": env_list("SPACES_TURN_URLS"),  # e.g. turn:turn.example.org:3478?transport=udp
    "SECRET": os.environ.get("SPACES_TURN_SECRET", ""),
    "TTL": int(os.environ.get("SPACES_TURN_TTL", "3600")),
}
# Public endpoints, per client address and minute: the public page and its calendar file, and
# guest socket connections (each reconnect counts).
SPACES_PUBLIC_PAGE_RATE = int(os.environ.get("SPACES_PUBLIC_PAGE_RATE", "120"))
SPACES_GUEST_CONNECT_RATE = int(os.environ.get("SPACES_GUEST_CONNECT_RATE", "60"))
# People may change their @handle once in this many days (the first change is free).
SPACES_HANDLE_CHANGE_DAYS = int(os.environ.get("SPACES_HANDLE_CHANGE_DAYS", "30"))
# Guest sockets open at once from one address in one Space (generous: schools and offices share
# an address); counted in the cache, so across processes.
SPACES_GUEST_SOCKETS_PER_ADDRESS = int(os.environ.get("SPACES_GUEST_SOCKETS_PER_ADDRESS", "50"))

# A crowd on one daphne process (docs/reliability.md, "A crowd on one process").
# Room-wide frames are built once and written straight to each idle connection
# (spaces_project/daphne_compat.py); "off" sends every frame through ASGI.
SPACES_FAST_BROADCAST = os.environ.get("SPACES_FAST_BROADCAST", "on") != "off"
# Guests' presence rows are written by their process in one batch per tick (rooms/presence.py).
SPACES_PRESENCE_BATCH_SECONDS = float(os.environ.get("SPACES_PRESENCE_BATCH_SECONDS", "1"))
