"""chatsite settings, read from the environment.

With no environment at all, chatsite runs as one process on an embedded default:
SQLite, the in-memory channel layer and a local-memory cache. ``DATABASE_URL``
switches to PostgreSQL (psycopg 3 with Django's connection pool), ``REDIS_URL``
to chatsite's fan-out channel layer on Redis (chat/realtime/layer.py) and a Redis cache shared by every process. Every variable is
listed with its default in the README.
"""

import json
import os
import secrets
from pathlib import Path

import dj_database_url
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def env_bool(name: str, default: bool = False) -> bool:
    value = env_str(name)
    if not value:
        return default
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false), not {value!r}")


def env_int(name: str, default: int) -> int:
    value = env_str(name)
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, not {value!r}") from None


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env_str(name, default).split(",") if item.strip()]


# --- Secrets -----------------------------------------------------------------
# Production sets all three in the environment. A development machine that sets
# none gets them generated once into LOCAL_SECRETS_FILE (git-ignored, mode 600);
# ``manage.py check --deploy`` warns while a generated one is in use.
LOCAL_SECRETS_FILE = Path(env_str("CHAT_LOCAL_SECRETS_FILE", str(BASE_DIR / ".local-secrets.json")))
GENERATED_SECRETS: set[str] = set()


def _local_secret(name: str, make) -> str:
    stored: dict[str, str] = {}
    if LOCAL_SECRETS_FILE.exists():
        stored = json.loads(LOCAL_SECRETS_FILE.read_text())
    if name not in stored:
        stored[name] = make()
        LOCAL_SECRETS_FILE.parent.mkdir(parents=True, exist_ok=True)
        # A name of this process's own: two processes starting together must not
        # move each other's file away (the last one's secrets win; set them in the
        # environment when several processes share the file).
        tmp = LOCAL_SECRETS_FILE.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(stored, indent=2))
        tmp.chmod(0o600)
        tmp.replace(LOCAL_SECRETS_FILE)
    GENERATED_SECRETS.add(name)
    return stored[name]


def secret_from_env(name: str, make) -> str:
    return env_str(name) or _local_secret(name, make)


SECRET_KEY = secret_from_env("DJANGO_SECRET_KEY", lambda: secrets.token_urlsafe(50))
DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

# Fernet keys, comma separated: the first encrypts, every one decrypts.
CHAT_ENCRYPTION_KEYS = env_list("CHAT_ENCRYPTION_KEYS") or [
    _local_secret("CHAT_ENCRYPTION_KEYS", lambda: Fernet.generate_key().decode())
]
# HMAC key of the search index (separate from the encryption keys).
CHAT_SEARCH_KEY = secret_from_env("CHAT_SEARCH_KEY", lambda: secrets.token_urlsafe(32))

# --- Applications ------------------------------------------------------------
INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "channels",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's files, served from here rather than a CDN
    "django_ratelimit",
    "chatsite.core",
    "accounts",
    "chat",
    "imports",
]

MIDDLEWARE = [
    # One log line per request, with its request id (chatsite/core/request_log.py).
    "chatsite.core.request_log.request_log_middleware",
    # /healthz and /readyz, answered before the rest: no redirect, host check,
    # session or login (chatsite/health.py).
    "chatsite.health.health_middleware",
    # Counts and times every request by route name and status (chatsite/core/metrics.py).
    "chatsite.core.metrics_http.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Outside the session and auth middleware: they read the database too.
    "chatsite.core.middleware.DatabaseUnavailableMiddleware",
    "chatsite.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # When a browser session was last used (the list of sessions in the profile).
    "accounts.middleware.SessionSeenMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "chatsite.urls"
WSGI_APPLICATION = "chatsite.wsgi.application"
ASGI_APPLICATION = "chatsite.asgi.application"

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
            ],
        },
    },
]

# --- Database ----------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    # Under ASGI a persistent connection per thread leaks: no CONN_MAX_AGE,
    # Django's psycopg pool instead.
    _db = dj_database_url.parse(DATABASE_URL, conn_max_age=0)
    if _db["ENGINE"] == "django.db.backends.postgresql":
        _db.setdefault("OPTIONS", {})["pool"] = {
            "min_size": env_int("DATABASE_POOL_MIN_SIZE", 1),
            "max_size": env_int("DATABASE_POOL_MAX_SIZE", 20),
            # How long a request waits for a connection: with PostgreSQL down,
            # a 503 after this, not a hung request.
            "timeout": env_int("DATABASE_POOL_TIMEOUT", 1),
        }
else:
    _db = {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": BASE_DIR / "db.sqlite3",
        "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE"},
    }
if env_str("DATABASE_TEST_NAME"):
    # Lets several test runs share one server without sharing a test database.
    _db["TEST"] = {"NAME": env_str("DATABASE_TEST_NAME")}
DATABASES = {"default": _db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: cache and channel layer -------------------------------------------
REDIS_URL = env_str("REDIS_URL")
# Redis connections one process may open for the channel layer, and as many
# for presence (chat/presence.py): hundreds of sockets closing at once must not
# run either pool dry.
CHAT_LAYER_MAX_CONNECTIONS = env_int("CHAT_LAYER_MAX_CONNECTIONS", 1000)
CHAT_PRESENCE_MAX_CONNECTIONS = CHAT_LAYER_MAX_CONNECTIONS
# Seconds a closed socket still counts as present (chat/presence.py): someone
# back within it (a reload, a network change, a server restart) never went
# offline, and nobody is told they did. 0: offline at once.
CHAT_PRESENCE_GRACE_SECONDS = env_int("CHAT_PRESENCE_GRACE_SECONDS", 10)
CHAT_LAYER_PREFIX = env_str("CHAT_LAYER_PREFIX", "chatsite")
# How long a process holds a room event that arrived past a gap, waiting for the
# missing ones (chat/realtime/layer.py); 0 turns the wait off.
CHAT_LAYER_REORDER_MS = env_int("CHAT_LAYER_REORDER_MS", 50)
# Threads per process for the WebSocket's database work (keep below DATABASE_POOL_MAX_SIZE).
# Few: they share the GIL with the event loop, and a dozen of them busy at once
# starve it (the overload run in docs/performance.md: p99 1.1 s with 12, 0.1 s with 4).
CHAT_DB_THREADS = env_int("CHAT_DB_THREADS", 4)
# Load shedding (chatsite/core/overload.py): past these a process refuses new
# writes at once (WebSocket error / HTTP 503 "overloaded") instead of queueing them.
CHAT_OVERLOAD_SHEDDING = env_bool("CHAT_OVERLOAD_SHEDDING", True)
CHAT_OVERLOAD_LOOP_LAG_MS = env_int("CHAT_OVERLOAD_LOOP_LAG_MS", 200)
CHAT_OVERLOAD_DB_QUEUE = env_int("CHAT_OVERLOAD_DB_QUEUE", 2 * CHAT_DB_THREADS)
CHAT_OVERLOAD_DB_WAIT_MS = env_int("CHAT_OVERLOAD_DB_WAIT_MS", 300)
CHAT_OVERLOAD_HTTP_INFLIGHT = env_int("CHAT_OVERLOAD_HTTP_INFLIGHT", 64)
CHAT_OVERLOAD_RETRY_AFTER = env_int("CHAT_OVERLOAD_RETRY_AFTER", 1)
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env_str("CHAT_CACHE_PREFIX", "chatsite"),
            "OPTIONS": {
                "SOCKET_CONNECT_TIMEOUT": 2,
                "SOCKET_TIMEOUT": 2,
                "CONNECTION_POOL_KWARGS": {"max_connections": 200, "health_check_interval": 30},
            },
        }
    }
    CHANNEL_LAYERS = {
        "default": {
            # chatsite's own layer, not channels_redis: one publish per group send,
            # one receipt per process (chat/realtime/layer.py, docs/performance.md).
            # It keeps nothing in Redis, so it takes no expiry / group_expiry.
            "BACKEND": "chat.realtime.layer.RedisFanoutLayer",
            "CONFIG": {
                # One host in channels_redis's format (an address, or Sentinel).
                "hosts": [
                    {
                        "address": REDIS_URL,
                        # redis-py's default cap of 100 fails group_discard when
                        # hundreds of sockets close at once.
                        "max_connections": CHAT_LAYER_MAX_CONNECTIONS,
                        "socket_keepalive": True,
                        "health_check_interval": 30,
                        "retry_on_timeout": True,
                    }
                ],
                "prefix": CHAT_LAYER_PREFIX,
                "capacity": env_int("CHAT_LAYER_CAPACITY", 1000),
                "reorder_window": CHAT_LAYER_REORDER_MS / 1000,
            },
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    # The same fan-out layer in memory: one process, no Redis.
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "chat.realtime.layer.InMemoryFanoutLayer",
            "CONFIG": {
                "prefix": CHAT_LAYER_PREFIX,
                "capacity": env_int("CHAT_LAYER_CAPACITY", 1000),
                "reorder_window": CHAT_LAYER_REORDER_MS / 1000,
            },
        }
    }
    # The embedded default is one process by design: a local-memory cache is
    # shared by everything that process serves.
    SILENCED_SYSTEM_CHECKS = ["django_ratelimit.E003", "django_ratelimit.W001"]

RATELIMIT_USE_CACHE = "default"

# --- Auth --------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# The browser UI's pages (accounts/views.py); admin keeps its own login page.
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# --- REST API ----------------------------------------------------------------
from datetime import timedelta  # noqa: E402

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # simplejwt's, refusing a token whose session was revoked (accounts/tokens.py).
        "accounts.tokens.SessionJWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "rest_framework.parsers.JSONParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "chatsite.core.api_errors.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SIMPLE_JWT = {
    # Access tokens cannot be revoked: keep them short.
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env_int("JWT_ACCESS_MINUTES", 5)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env_int("JWT_REFRESH_DAYS", 7)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": True,
    "SIGNING_KEY": SECRET_KEY,
    "USER_ID_FIELD": "id",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "chatsite API",
    "DESCRIPTION": "REST API of chatsite, a real-time team chat server. Errors are JSON: "
    '{"code": "...", "detail": "...", "fields": {...}}.',
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "RoleEnum": "chat.models.Role",
        "RoomTypeEnum": "chat.models.RoomType",
        "MessageTypeEnum": "chat.models.MessageType",
        "InviteRoleEnum": "chat.models.INVITE_ROLES",
        "ExportKindEnum": "chat.models.EXPORT_JOB_KINDS",
        "MentionKindEnum": "chat.models.MentionKind",
        "SessionKindEnum": "accounts.models.SessionKind",
    },
}
# Request bodies: JSON and form fields are small; uploads are limited by CHAT_MAX_ATTACHMENT_BYTES.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DJANGO_DATA_UPLOAD_MAX_MEMORY_SIZE", 256 * 1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024

# --- Internationalization ----------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static and uploaded files -----------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("DJANGO_STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = Path(env_str("DJANGO_MEDIA_ROOT", str(BASE_DIR / "media")))
STORAGES = {
    # Attachments are never served from a public URL: only through a view
    # that checks room membership.
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = DEBUG

# --- Security ----------------------------------------------------------------
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", False)
# A load balancer probes these over plain HTTP (health_middleware answers them first
# anyway), and Prometheus scrapes each process on its own port, over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("DJANGO_BEHIND_TLS_PROXY") else None
SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_SECONDS > 0
SECURE_HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD", False)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# --- Chat limits and rules ---------------------------------------------------
CHAT_MAX_MESSAGE_LENGTH = env_int("CHAT_MAX_MESSAGE_LENGTH", 4000)
# Pinned messages a room holds at most.
CHAT_MAX_PINS = env_int("CHAT_MAX_PINS", 50)
# How long the sender of a message may bring it back after deleting it (Undo).
CHAT_UNDO_DELETE_SECONDS = env_int("CHAT_UNDO_DELETE_SECONDS", 30)
# Messages one person can keep saved (across their rooms).
CHAT_MAX_SAVED = env_int("CHAT_MAX_SAVED", 1000)
# Invite links: how many a room has live at once, and the longest expiry.
CHAT_MAX_ROOM_INVITES = env_int("CHAT_MAX_ROOM_INVITES", 100)
CHAT_INVITE_MAX_DAYS = env_int("CHAT_INVITE_MAX_DAYS", 30)
CHAT_MAX_ROOM_MEMBERS = env_int("CHAT_MAX_ROOM_MEMBERS", 1000)
CHAT_MAX_ATTACHMENT_BYTES = env_int("CHAT_MAX_ATTACHMENT_BYTES", 10 * 1024 * 1024)
# A Slack export (manage.py import_slack, the admin upload): the most its files may unpack to.
CHAT_IMPORT_MAX_BYTES = env_int("CHAT_IMPORT_MAX_BYTES", 2 * 1024 * 1024 * 1024)
CHAT_MAX_ROOM_NAME_LENGTH = 200
# WebSocket: sockets per user (across processes) and the largest client frame.
CHAT_MAX_SOCKETS_PER_USER = env_int("CHAT_MAX_SOCKETS_PER_USER", 10)
CHAT_MAX_FRAME_BYTES = env_int("CHAT_MAX_FRAME_BYTES", 64 * 1024)
# What one socket that stops reading may have queued before it is closed with
# 4008 (chat/realtime/send_buffer.py); text counted in characters.
CHAT_WS_MAX_BUFFERED_FRAMES = env_int("CHAT_WS_MAX_BUFFERED_FRAMES", 1000)
CHAT_WS_MAX_BUFFERED_BYTES = env_int("CHAT_WS_MAX_BUFFERED_BYTES", 4 * 1024 * 1024)
# Banned words: "mask" replaces them with asterisks, "reject" refuses the message.
CHAT_BANNED_WORDS = env_list("CHAT_BANNED_WORDS")
CHAT_BANNED_WORDS_MODE = env_str("CHAT_BANNED_WORDS_MODE", "mask")
if CHAT_BANNED_WORDS_MODE not in {"mask", "reject"}:
    raise ImproperlyConfigured("CHAT_BANNED_WORDS_MODE must be 'mask' or 'reject'")
# Messages linking to these domains (or their subdomains) are flagged for moderators.
CHAT_FLAGGED_LINK_DOMAINS = env_list("CHAT_FLAGGED_LINK_DOMAINS")
# Retention: soft-deleted message content and room events older than this are purged.
CHAT_DELETED_CONTENT_RETENTION_DAYS = env_int("CHAT_DELETED_CONTENT_RETENTION_DAYS", 30)
CHAT_EVENT_RETENTION_DAYS = env_int("CHAT_EVENT_RETENTION_DAYS", 30)
# Account deletion (docs/data.md): False keeps the person's messages under the
# anonymised name; True erases them (content and files purged, tombstones kept).
CHAT_ERASE_MESSAGES_ON_DELETE = env_bool("CHAT_ERASE_MESSAGES_ON_DELETE", False)

# Rate limits per user and kind of action, e.g. "message.send=30/10s,reaction=60/m"
# (kinds and defaults in chatsite/core/ratelimit.py).
CHAT_RATE_LIMITS = dict(item.split("=", 1) for item in env_list("CHAT_RATE_LIMITS"))
CHAT_RATE_LIMITS_ENABLED = env_bool("CHAT_RATE_LIMITS_ENABLED", True)

# --- Notifications: email (docs/notifications.md) -------------------------------
# The notification worker (manage.py notification_worker) sends DMs and mentions
# still unread after each user's delay as one email per user per batch.
# EMAIL_URL, or the usual EMAIL_HOST... variables, say where mail goes; with
# neither, the console backend prints it (development).
EMAIL_SCHEMES = {"smtp": (25, False), "submission": (587, True), "smtps": (465, False)}


def email_settings_from_url(url: str) -> dict:
    """Django's EMAIL_* settings from ``EMAIL_URL``.

    ``smtp://user:pass@host:port`` (``?tls=1`` for STARTTLS, ``?ssl=1`` for
    implicit TLS, ``?timeout=`` seconds), ``submission://`` (port 587,
    STARTTLS), ``smtps://`` (port 465, implicit TLS), ``console://``. User and
    password are percent-decoded, so any character can be given.
    """
    from urllib.parse import parse_qs, unquote, urlsplit

    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "console":
        return {"EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend"}
    if scheme not in EMAIL_SCHEMES:
        raise ImproperlyConfigured(f"EMAIL_URL: unknown scheme {scheme!r} (smtp, submission, smtps or console)")
    if not parts.hostname:
        raise ImproperlyConfigured("EMAIL_URL needs a host: smtp://user:password@host:port")
    query = {key: values[-1].strip().lower() for key, values in parse_qs(parts.query).items()}
    default_port, starttls = EMAIL_SCHEMES[scheme]
    use_ssl = scheme == "smtps" or query.get("ssl") in {"1", "true", "yes", "on"}
    use_tls = starttls or query.get("tls") in {"1", "true", "yes", "on"}
    if use_ssl and use_tls:
        raise ImproperlyConfigured("EMAIL_URL: choose STARTTLS (tls=1, submission://) or implicit TLS (ssl=1, smtps://), not both")
    try:
        port = parts.port or default_port
        timeout = float(query["timeout"]) if query.get("timeout") else 30.0
    except ValueError:
        raise ImproperlyConfigured("EMAIL_URL: the port and timeout must be numbers") from None
    return {
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": parts.hostname,
        "EMAIL_PORT": port,
        "EMAIL_HOST_USER": unquote(parts.username or ""),
        "EMAIL_HOST_PASSWORD": unquote(parts.password or ""),
        "EMAIL_USE_TLS": use_tls,
        "EMAIL_USE_SSL": use_ssl,
        "EMAIL_TIMEOUT": timeout,
    }


def email_settings_from_env() -> dict:
    """EMAIL_URL first, else EMAIL_HOST and its companions, else the console."""
    if env_str("EMAIL_URL"):
        return email_settings_from_url(env_str("EMAIL_URL"))
    if not env_str("EMAIL_HOST"):
        return {"EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend"}
    use_ssl, use_tls = env_bool("EMAIL_USE_SSL"), env_bool("EMAIL_USE_TLS")
    if use_ssl and use_tls:
        raise ImproperlyConfigured("Set EMAIL_USE_TLS (STARTTLS) or EMAIL_USE_SSL (implicit TLS), not both")
    return {
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": env_str("EMAIL_HOST"),
        "EMAIL_PORT": env_int("EMAIL_PORT", 465 if use_ssl else 25),
        "EMAIL_HOST_USER": env_str("EMAIL_HOST_USER"),
        "EMAIL_HOST_PASSWORD": env_str("EMAIL_HOST_PASSWORD"),
        "EMAIL_USE_TLS": use_tls,
        "EMAIL_USE_SSL": use_ssl,
        "EMAIL_TIMEOUT": env_int("EMAIL_TIMEOUT", 30),
    }


_email = email_settings_from_env()
EMAIL_BACKEND = _email["EMAIL_BACKEND"]
EMAIL_HOST = _email.get("EMAIL_HOST", "localhost")
EMAIL_PORT = _email.get("EMAIL_PORT", 25)
EMAIL_HOST_USER = _email.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = _email.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = _email.get("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = _email.get("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = _email.get("EMAIL_TIMEOUT", 30)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "chatsite <notifications@localhost>")
SERVER_EMAIL = env_str("SERVER_EMAIL", DEFAULT_FROM_EMAIL)
# Links in emails are absolute: the address people open chatsite at.
CHAT_SITE_URL = env_str("CHAT_SITE_URL", "http://127.0.0.1:8000").rstrip("/")
# An excerpt of each message in the email (the recipient could read it in the
# chat anyway); off: only who wrote where and when.
CHAT_EMAIL_INCLUDE_CONTENT = env_bool("CHAT_EMAIL_INCLUDE_CONTENT", True)
# The worker: how often it looks for due rows, and how often a failed email is retried.
CHAT_NOTIFICATION_POLL_SECONDS = env_int("CHAT_NOTIFICATION_POLL_SECONDS", 5)
# Jobs (chatsite/core/jobs.py): how long a worker holds a job without a word
# before another worker takes it over (its lease).
CHAT_JOB_LEASE_SECONDS = env_int("CHAT_JOB_LEASE_SECONDS", 60)
# /readyz reports the worker "stale" (a warning) after this long without a
# heartbeat (chatsite/core/heartbeat.py; the worker writes one every 15 s).
CHAT_WORKER_STALE_SECONDS = env_int("CHAT_WORKER_STALE_SECONDS", 60)
# Exports (docs/data.md): messages per step (a checkpoint after each), how long a
# finished export can be downloaded, the most attachment bytes one may include.
CHAT_EXPORT_BATCH = env_int("CHAT_EXPORT_BATCH", 500)
CHAT_EXPORT_HOURS = env_int("CHAT_EXPORT_HOURS", 24)
CHAT_EXPORT_MAX_ATTACHMENT_BYTES = env_int("CHAT_EXPORT_MAX_ATTACHMENT_BYTES", 1024 * 1024 * 1024)
CHAT_NOTIFICATION_MAX_ATTEMPTS = env_int("CHAT_NOTIFICATION_MAX_ATTEMPTS", 5)

# --- Notifications: Web Push (docs/notifications.md) ---------------------------
import base64 as _base64  # noqa: E402

from cryptography.hazmat.primitives import serialization as _serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec as _ec  # noqa: E402


def _vapid_key_generate() -> str:
    """A new P-256 private key, raw 32 bytes in base64url (the form `web-push
    generate-vapid-keys` prints)."""
    private_value = _ec.generate_private_key(_ec.SECP256R1()).private_numbers().private_value
    return _base64.urlsafe_b64encode(private_value.to_bytes(32, "big")).rstrip(b"=").decode()


def _vapid_public_key(private_key: str) -> str:
    """The application server key browsers subscribe with: the public point,
    uncompressed (65 bytes), base64url without padding."""
    try:
        if private_key.startswith("-----BEGIN"):
            key = _serialization.load_pem_private_key(private_key.encode(), password=None)
        else:
            raw = _base64.urlsafe_b64decode(private_key + "=" * (-len(private_key) % 4))
            if len(raw) != 32:
                raise ValueError("not 32 bytes")
            key = _ec.derive_private_key(int.from_bytes(raw, "big"), _ec.SECP256R1())
        if not isinstance(key, _ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
            raise ValueError("not a P-256 key")
    except (ValueError, TypeError):
        # Never echo the key: settings errors end up in logs.
        raise ImproperlyConfigured(
            "CHAT_VAPID_PRIVATE_KEY must be a P-256 private key: PEM, or the raw 32 bytes in base64url"
        ) from None
    point = key.public_key().public_bytes(_serialization.Encoding.X962, _serialization.PublicFormat.UncompressedPoint)
    return _base64.urlsafe_b64encode(point).rstrip(b"=").decode()


# The VAPID key pair (RFC 8292) that signs every push; the public half is what
# the browser subscribes with, so changing the private key orphans every
# existing subscription. A PEM may be given on one line with literal "\n".
CHAT_VAPID_PRIVATE_KEY = secret_from_env("CHAT_VAPID_PRIVATE_KEY", _vapid_key_generate).replace("\\n", "\n").strip()
CHAT_VAPID_PUBLIC_KEY = _vapid_public_key(CHAT_VAPID_PRIVATE_KEY)
# Who push services contact about this sender: "mailto:" or "https:". Apple's
# service refuses a mailto: at localhost (check --deploy warns).
CHAT_VAPID_SUBJECT = env_str("CHAT_VAPID_SUBJECT", "mailto:admin@localhost")
if not CHAT_VAPID_SUBJECT.startswith(("mailto:", "https://")):
    raise ImproperlyConfigured("CHAT_VAPID_SUBJECT must be a mailto: or https:// URL")
# Off: a push says only who wrote where ("New message from Alice in #general"),
# since it passes through the browser vendor's push service. On: an excerpt too.
CHAT_PUSH_INCLUDE_CONTENT = env_bool("CHAT_PUSH_INCLUDE_CONTENT", False)
# Hosts a subscription's endpoint may name, each also matching its subdomains:
# Chrome, Edge on Android, Opera, Brave, Samsung Internet (FCM); Chromium builds
# without Google's API keys, Playwright's included (jmt17.google.com); Firefox
# (updates.push.services.mozilla.com); Edge on Windows (*.notify.windows.com);
# Safari (web.push.apple.com). An IP address or localhost must be listed exactly.
CHAT_PUSH_ALLOWED_HOSTS = env_list(
    "CHAT_PUSH_ALLOWED_HOSTS",
    "fcm.googleapis.com,jmt17.google.com,push.services.mozilla.com,notify.windows.com,push.apple.com",
)
# Only https endpoints; the tests turn it off for their loopback receiver.
CHAT_PUSH_REQUIRE_HTTPS = env_bool("CHAT_PUSH_REQUIRE_HTTPS", True)
# How long a push service keeps a push for a device that is offline (seconds).
CHAT_PUSH_TTL = env_int("CHAT_PUSH_TTL", 24 * 60 * 60)
# Seconds to wait for a push service to answer one request.
CHAT_PUSH_TIMEOUT = env_int("CHAT_PUSH_TIMEOUT", 10)

# --- Metrics (docs/operations.md) ----------------------------------------------
# GET /metrics is off (404) unless one of these is set; each one set must pass.
# A bearer token (compared in constant time), and/or the client addresses
# allowed, as networks ("127.0.0.1/32,10.0.0.0/8"). PROMETHEUS_MULTIPROC_DIR,
# read by prometheus-client itself, lets the processes of a machine report together.
CHAT_METRICS_TOKEN = env_str("CHAT_METRICS_TOKEN")
CHAT_METRICS_ALLOW = env_list("CHAT_METRICS_ALLOW")


def _check_networks(values: list[str]) -> None:
    import ipaddress

    for value in values:
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise ImproperlyConfigured(f"CHAT_METRICS_ALLOW: {value!r} is not an address or network (CIDR)") from None


_check_networks(CHAT_METRICS_ALLOW)

# --- Logging -----------------------------------------------------------------
# Everything to the console (stderr): plain lines, or one JSON object per line
# with DJANGO_LOG_FORMAT=json (chatsite/core/logs.py, docs/operations.md).
# Every line names its request id; Django's own request warnings name the
# route, not the raw path.
DJANGO_LOG_FORMAT = env_str("DJANGO_LOG_FORMAT", "plain").lower()
if DJANGO_LOG_FORMAT not in {"plain", "json"}:
    raise ImproperlyConfigured(f"DJANGO_LOG_FORMAT must be 'plain' or 'json', not {DJANGO_LOG_FORMAT!r}")
DJANGO_LOG_LEVEL = env_str("DJANGO_LOG_LEVEL", "INFO").upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "chatsite.core.logs.RequestIdFilter"},
        "redact_paths": {"()": "chatsite.core.logs.PathRedactingFilter"},
    },
    "formatters": {
        "plain": {"()": "chatsite.core.logs.PlainFormatter"},
        "json": {"()": "chatsite.core.logs.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": DJANGO_LOG_FORMAT,
            "filters": ["request_id", "redact_paths"],
        }
    },
    "root": {"handlers": ["console"], "level": DJANGO_LOG_LEVEL},
    # Django's own console handler (DEBUG only) would print its lines twice:
    # its loggers go to the root's handler, at the same level.
    "loggers": {
        "django": {"handlers": [], "level": DJANGO_LOG_LEVEL, "propagate": True},
        # A traceback per failing check per probe otherwise; chatsite.health logs
        # each change of readiness once (unexpected errors still show).
        "health_check": {"level": "ERROR"},
        # uvicorn (the optional server) configures its own handlers before
        # Django starts: its lines go through this handler and its filters too.
        "uvicorn": {"handlers": ["console"], "level": DJANGO_LOG_LEVEL, "propagate": False},
        "uvicorn.access": {"handlers": ["console"], "level": DJANGO_LOG_LEVEL, "propagate": False},
    },
}
