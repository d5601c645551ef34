"""System checks for running chatsite in production.

``manage.py check --deploy`` reports what a development machine may leave unset
but a deployment must not: secrets that were generated into the local secrets
file, and the embedded one-process defaults (SQLite, in-memory channel layer,
local-memory cache). An encryption key that Fernet cannot load is an error on
every ``check``, deploy or not: no message could be written or read with it.

Registered from ``ChatConfig.ready()`` (``import chatsite.checks``).
"""

from cryptography.fernet import Fernet
from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

# Secret name -> (check id, what to put in it).
GENERATED_SECRET_CHECKS = {
    "DJANGO_SECRET_KEY": (
        "chatsite.W001",
        "Set DJANGO_SECRET_KEY to 50 or more random characters, e.g. the output of "
        "`python -c 'import secrets; print(secrets.token_urlsafe(50))'`.",
    ),
    "CHAT_ENCRYPTION_KEYS": (
        "chatsite.W002",
        "Set CHAT_ENCRYPTION_KEYS to a Fernet key, e.g. the output of "
        "`python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`. "
        "To keep messages already encrypted with the generated key readable, list the new key "
        "first and the generated one after it, then run `manage.py reencrypt_messages`.",
    ),
    "CHAT_SEARCH_KEY": (
        "chatsite.W003",
        "Set CHAT_SEARCH_KEY to 32 or more random characters, e.g. the output of "
        "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`.",
    ),
    "CHAT_VAPID_PRIVATE_KEY": (
        "chatsite.W004",
        "Set CHAT_VAPID_PRIVATE_KEY to a P-256 private key, PEM or the raw 32 bytes in base64url: "
        "`.venv/bin/vapid --gen` writes one to private_key.pem. Keep it: browsers subscribe to "
        "its public half, so a new key orphans every existing push subscription.",
    ),
}

IN_MEMORY_LAYERS = {"channels.layers.InMemoryChannelLayer", "chat.realtime.layer.InMemoryFanoutLayer"}
PROCESS_LOCAL_CACHES = {
    "django.core.cache.backends.locmem.LocMemCache",
    "django.core.cache.backends.dummy.DummyCache",
    "django.core.cache.backends.filebased.FileBasedCache",
}


@register(Tags.security, deploy=True)
def check_generated_secrets(app_configs=None, **kwargs):
    """chatsite.W001-W004: a secret came from the generated local secrets file."""
    generated = set(getattr(settings, "GENERATED_SECRETS", ()))
    secrets_file = getattr(settings, "LOCAL_SECRETS_FILE", ".local-secrets.json")
    issues = []
    for name, (check_id, hint) in GENERATED_SECRET_CHECKS.items():
        if name in generated:
            issues.append(
                Warning(
                    f"{name} is not set in the environment: the value in use was generated "
                    f"for development into {secrets_file}. Every process of a deployment "
                    f"must read the same value from its environment.",
                    hint=hint,
                    id=check_id,
                )
            )
    return issues


@register(Tags.security, deploy=True)
def check_vapid_subject(app_configs=None, **kwargs):
    """chatsite.W005: push services must be able to reach whoever sends the pushes."""
    subject = getattr(settings, "CHAT_VAPID_SUBJECT", "")
    if not subject.startswith("mailto:"):
        return []
    domain = subject.rpartition("@")[2].lower()
    if domain and domain != "localhost" and not domain.endswith((".localhost", ".local", ".invalid")):
        return []
    return [
        Warning(
            f"CHAT_VAPID_SUBJECT is {subject!r}: Apple's push service refuses pushes whose VAPID "
            "subject has no reachable domain, so Safari users would get none.",
            hint="Set CHAT_VAPID_SUBJECT to a contact address of this deployment, e.g. "
            "mailto:admin@chat.example.com, or an https:// URL of it.",
            id="chatsite.W005",
        )
    ]


@register(deploy=True)
def check_email_backend(app_configs=None, **kwargs):
    """chatsite.W006: notification emails would only be printed to the console."""
    if settings.EMAIL_BACKEND != "django.core.mail.backends.console.EmailBackend":
        return []
    return [
        Warning(
            "No mail server is configured: notification emails are printed to the console and never sent.",
            hint="Set EMAIL_URL (e.g. submission://user:password@smtp.example.com) or EMAIL_HOST and its companions.",
            id="chatsite.W006",
        )
    ]


@register(Tags.security)
def check_encryption_keys(app_configs=None, **kwargs):
    """chatsite.E001: every CHAT_ENCRYPTION_KEYS entry must be a valid Fernet key."""
    keys = list(getattr(settings, "CHAT_ENCRYPTION_KEYS", None) or [])
    hint = (
        "Set CHAT_ENCRYPTION_KEYS to comma-separated Fernet keys (32 url-safe base64-encoded "
        "bytes each), newest first; generate one with "
        "`python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`."
    )
    if not keys:
        return [Error("CHAT_ENCRYPTION_KEYS is empty: messages cannot be encrypted.", hint=hint, id="chatsite.E001")]
    issues = []
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key.encode() if isinstance(key, str) else key)
        except (ValueError, TypeError):
            # Never echo the key itself: check output ends up in logs.
            issues.append(
                Error(
                    f"CHAT_ENCRYPTION_KEYS entry {position} of {len(keys)} is not a valid Fernet key.",
                    hint=hint,
                    id="chatsite.E001",
                )
            )
    return issues


@register(Tags.database, deploy=True)
def check_database_for_several_processes(app_configs=None, **kwargs):
    """chatsite.W010: SQLite is the embedded one-process default."""
    engine = settings.DATABASES.get("default", {}).get("ENGINE", "")
    if engine != "django.db.backends.sqlite3":
        return []
    return [
        Warning(
            "The database is SQLite (DATABASE_URL is not set): fine for one process on one "
            "machine, not for several processes.",
            hint="Set DATABASE_URL to a PostgreSQL URL, e.g. postgres://chat:password@db.example.com:5432/chat.",
            id="chatsite.W010",
        )
    ]


@register(Tags.caches, deploy=True)
def check_redis_for_several_processes(app_configs=None, **kwargs):
    """chatsite.W011: without Redis, groups and the cache live in one process."""
    layer = (getattr(settings, "CHANNEL_LAYERS", None) or {}).get("default", {}).get("BACKEND", "")
    cache = settings.CACHES.get("default", {}).get("BACKEND", "")
    if getattr(settings, "REDIS_URL", "") and layer not in IN_MEMORY_LAYERS and cache not in PROCESS_LOCAL_CACHES:
        return []
    return [
        Warning(
            "The channel layer or the cache is local to this process (REDIS_URL is not set): "
            "live events and rate-limit counters would stay inside one process.",
            hint="Set REDIS_URL, e.g. redis://redis.example.com:6379/0, the same for every process.",
            id="chatsite.W011",
        )
    ]
