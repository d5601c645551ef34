"""Project-level guarantees: migrations, deploy checks, settings fallbacks, docs.

Settings are read once per process, so every test that needs a different
environment runs ``manage.py`` or ``python -c`` in a subprocess with an
environment built from scratch (no DJANGO_*, CHAT_*, DATABASE_*, JWT_* or REDIS_URL
leaking in from the shell that runs the suite).
"""

import base64
import json
import os
import re
import secrets
import shutil
import stat
import subprocess
import sys
from io import StringIO
from pathlib import Path
from types import SimpleNamespace

import pytest
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives.asymmetric import ec
from django.core.management import call_command

import chatsite.checks as project_checks

PROJECT_DIR = Path(__file__).resolve().parents[2]
SETTINGS_FILE = PROJECT_DIR / "chatsite" / "settings.py"
CONFIGURED_PREFIXES = ("DJANGO_", "CHAT_", "DATABASE_", "JWT_")
CONFIGURED_NAMES = {"REDIS_URL"}


def clean_env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    """The current environment minus every chatsite setting, plus ``overrides``."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(CONFIGURED_PREFIXES) and name not in CONFIGURED_NAMES
    }
    env["DJANGO_SETTINGS_MODULE"] = "chatsite.settings"
    # Never read or write the developer's own secrets file.
    env["CHAT_LOCAL_SECRETS_FILE"] = str(tmp_path / "no-such-dir" / "local-secrets.json")
    env.update(overrides)
    return env


def _vapid_private_key() -> str:
    """A P-256 private key as the raw 32 bytes in base64url."""
    number = ec.generate_private_key(ec.SECP256R1()).private_numbers().private_value
    return base64.urlsafe_b64encode(number.to_bytes(32, "big")).rstrip(b"=").decode()


def production_env(tmp_path: Path) -> dict[str, str]:
    current_db = os.environ.get("DATABASE_URL", "")
    database_url = current_db if current_db.startswith(("postgres://", "postgresql://")) else (
        # check --deploy never connects: a server that does not exist is fine.
        "postgres://chat:unused@db.invalid:5432/chat"
    )
    return clean_env(
        tmp_path,
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_DEBUG="0",
        DJANGO_ALLOWED_HOSTS="chat.example.com",
        CHAT_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
        CHAT_SEARCH_KEY=secrets.token_urlsafe(32),
        CHAT_VAPID_PRIVATE_KEY=_vapid_private_key(),
        CHAT_VAPID_SUBJECT="mailto:admin@chat.example.com",
        EMAIL_URL="submission://chat:unused@smtp.example.com",
        DJANGO_SECURE_SSL_REDIRECT="1",
        DJANGO_HSTS_SECONDS="31536000",
        # Without it Django reports security.W021 (not on the HSTS preload list).
        DJANGO_HSTS_PRELOAD="1",
        DJANGO_SECURE_COOKIES="1",
        DATABASE_URL=database_url,
        REDIS_URL="redis://127.0.0.1:6379/0",
    )


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def output(result: subprocess.CompletedProcess) -> str:
    return result.stdout + result.stderr


# --- Migrations -----------------------------------------------------------------


@pytest.mark.django_db
def test_models_have_no_missing_migrations():
    out = StringIO()
    # makemigrations --check exits with SystemExit(1) when a migration is missing.
    call_command("makemigrations", "--check", "--dry-run", stdout=out, stderr=StringIO())
    assert "No changes detected" in out.getvalue()


# --- check --deploy, end to end -------------------------------------------------


def test_check_deploy_passes_with_production_settings(tmp_path):
    env = production_env(tmp_path)

    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], env)

    assert result.returncode == 0, output(result)
    assert "System check identified no issues" in result.stdout
    # Every secret came from the environment: nothing was generated.
    assert not Path(env["CHAT_LOCAL_SECRETS_FILE"]).exists()


def test_check_deploy_warns_about_generated_secrets_and_one_process_defaults(tmp_path):
    secrets_file = tmp_path / "local-secrets.json"
    env = clean_env(tmp_path, CHAT_LOCAL_SECRETS_FILE=str(secrets_file), DJANGO_DEBUG="0")

    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], env)

    text = output(result)
    assert result.returncode != 0, text
    missing = [
        check_id
        for check_id in (
            "chatsite.W001", "chatsite.W002", "chatsite.W003", "chatsite.W004", "chatsite.W005", "chatsite.W006", "chatsite.W010", "chatsite.W011"
        )
        if check_id not in text
    ]
    assert not missing, (
        f"check --deploy did not report {missing}; is `import chatsite.checks` in "
        f"ChatConfig.ready() (chat/apps.py)?\n{text}"
    )
    for name in ("DJANGO_SECRET_KEY", "CHAT_ENCRYPTION_KEYS", "CHAT_SEARCH_KEY", "DATABASE_URL", "REDIS_URL"):
        assert f"Set {name}" in text
    generated = json.loads(secrets_file.read_text())
    assert set(generated) == {"DJANGO_SECRET_KEY", "CHAT_ENCRYPTION_KEYS", "CHAT_SEARCH_KEY", "CHAT_VAPID_PRIVATE_KEY"}
    assert stat.S_IMODE(secrets_file.stat().st_mode) == 0o600
    # A generated secret is never printed.
    for value in generated.values():
        assert value not in text


def test_invalid_encryption_key_fails_every_check_not_only_deploy(tmp_path):
    env = production_env(tmp_path)
    good_key = env["CHAT_ENCRYPTION_KEYS"]
    env["CHAT_ENCRYPTION_KEYS"] = f"{good_key},not-a-fernet-key"

    result = run(["manage.py", "check"], env)

    text = output(result)
    assert result.returncode != 0, text
    assert "chatsite.E001" in text, f"is `import chatsite.checks` in ChatConfig.ready()?\n{text}"
    assert "entry 2 of 2" in text
    assert "not-a-fernet-key" not in text
    assert good_key not in text


# --- The checks, one by one -----------------------------------------------------


def check_ids(issues) -> list[str]:
    return [issue.id for issue in issues]


def test_each_generated_secret_has_its_own_warning(settings):
    settings.GENERATED_SECRETS = {"CHAT_SEARCH_KEY"}
    issues = project_checks.check_generated_secrets()
    assert check_ids(issues) == ["chatsite.W003"]
    assert "CHAT_SEARCH_KEY" in issues[0].hint

    settings.GENERATED_SECRETS = {"DJANGO_SECRET_KEY", "CHAT_ENCRYPTION_KEYS", "CHAT_SEARCH_KEY"}
    assert check_ids(project_checks.check_generated_secrets()) == ["chatsite.W001", "chatsite.W002", "chatsite.W003"]

    settings.GENERATED_SECRETS = set()
    assert project_checks.check_generated_secrets() == []


def test_invalid_or_missing_fernet_keys_are_errors(settings):
    settings.CHAT_ENCRYPTION_KEYS = [Fernet.generate_key().decode(), Fernet.generate_key().decode()]
    assert project_checks.check_encryption_keys() == []

    settings.CHAT_ENCRYPTION_KEYS = ["short", Fernet.generate_key().decode()]
    issues = project_checks.check_encryption_keys()
    assert check_ids(issues) == ["chatsite.E001"]
    assert issues[0].is_serious()
    assert "entry 1 of 2" in issues[0].msg

    settings.CHAT_ENCRYPTION_KEYS = []
    assert check_ids(project_checks.check_encryption_keys()) == ["chatsite.E001"]


def test_sqlite_is_reported_as_one_process_only(monkeypatch):
    # A stand-in for django.conf.settings: overriding DATABASES itself is unsafe.
    def database(engine):
        fake_settings = SimpleNamespace(DATABASES={"default": {"ENGINE": engine, "NAME": "chat"}})
        monkeypatch.setattr(project_checks, "settings", fake_settings)

    database("django.db.backends.sqlite3")
    issues = project_checks.check_database_for_several_processes()
    assert check_ids(issues) == ["chatsite.W010"]
    assert "DATABASE_URL" in issues[0].hint

    database("django.db.backends.postgresql")
    assert project_checks.check_database_for_several_processes() == []


def test_missing_redis_is_reported_as_one_process_only(settings):
    redis_layer = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer"}}
    redis_cache = {"default": {"BACKEND": "django_redis.cache.RedisCache"}}

    settings.REDIS_URL = ""
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    issues = project_checks.check_redis_for_several_processes()
    assert check_ids(issues) == ["chatsite.W011"]
    assert "REDIS_URL" in issues[0].hint

    settings.REDIS_URL = "redis://127.0.0.1:6379/0"
    settings.CHANNEL_LAYERS = redis_layer
    settings.CACHES = redis_cache
    assert project_checks.check_redis_for_several_processes() == []

    # A Redis URL does not help if the layer was swapped back to memory.
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    assert check_ids(project_checks.check_redis_for_several_processes()) == ["chatsite.W011"]


# --- Settings fall back to the embedded defaults ---------------------------------

PRINT_BACKENDS = """
import json
import django
django.setup()
from django.conf import settings
from django.db import connections
db = connections["default"].settings_dict
layer = settings.CHANNEL_LAYERS["default"]
print(json.dumps({
    "engine": db["ENGINE"],
    "conn_max_age": db["CONN_MAX_AGE"],
    "pool": db.get("OPTIONS", {}).get("pool"),
    "cache": settings.CACHES["default"]["BACKEND"],
    "layer": layer["BACKEND"],
    "layer_config": layer.get("CONFIG", {}),
    "socket_buffer": [settings.CHAT_WS_MAX_BUFFERED_FRAMES, settings.CHAT_WS_MAX_BUFFERED_BYTES],
}, default=str))
"""


def backends(env: dict[str, str]) -> dict:
    result = run(["-c", PRINT_BACKENDS], env)
    assert result.returncode == 0, output(result)
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_without_database_and_redis_urls_settings_use_embedded_defaults(tmp_path):
    found = backends(clean_env(tmp_path))

    assert found["engine"] == "django.db.backends.sqlite3"
    assert found["cache"] == "django.core.cache.backends.locmem.LocMemCache"
    assert found["layer"] == "chat.realtime.layer.InMemoryFanoutLayer"
    assert "hosts" not in found["layer_config"]  # in memory: one process
    assert found["socket_buffer"] == [1000, 4 * 1024 * 1024]  # a slow socket is closed past these (4008)


def test_with_database_and_redis_urls_settings_use_postgres_pool_and_redis(tmp_path):
    env = clean_env(
        tmp_path,
        # Nothing connects: hosts that do not resolve are fine.
        DATABASE_URL="postgres://chat:secret@db.invalid:5432/chat",
        DATABASE_POOL_MAX_SIZE="7",
        REDIS_URL="redis://redis.invalid:6379/3",
        CHAT_WS_MAX_BUFFERED_FRAMES="50",
    )

    found = backends(env)

    assert found["engine"] == "django.db.backends.postgresql"
    assert found["conn_max_age"] == 0  # persistent connections leak under ASGI
    assert found["pool"]["max_size"] == 7
    assert found["socket_buffer"] == [50, 4 * 1024 * 1024]
    assert found["cache"] == "django_redis.cache.RedisCache"
    assert found["layer"] == "chat.realtime.layer.RedisFanoutLayer"
    host = found["layer_config"]["hosts"][0]
    assert host["address"] == "redis://redis.invalid:6379/3"
    assert host["max_connections"] > 100  # redis-py's default cap breaks mass group_discard


# --- Setup, CI and docs ----------------------------------------------------------


def settings_environment_variables() -> set[str]:
    source = SETTINGS_FILE.read_text()
    readers = r"(?:env_str|env_bool|env_int|env_list|secret_from_env|_local_secret|os\.environ\.get|os\.getenv)"
    return set(re.findall(readers + r'\(\s*"([A-Z][A-Z0-9_]+)"', source))


def test_readme_lists_every_environment_variable_settings_read():
    names = settings_environment_variables()
    assert {"DJANGO_SECRET_KEY", "DATABASE_URL", "REDIS_URL", "CHAT_ENCRYPTION_KEYS"} <= names
    docs = (PROJECT_DIR / "README.md").read_text()
    configuration = PROJECT_DIR / "docs" / "configuration.md"
    if configuration.exists():
        docs += configuration.read_text()

    undocumented = sorted(name for name in names if f"`{name}`" not in docs)

    assert not undocumented, f"settings.py reads {undocumented}, which the README does not list"


def test_ci_script_is_executable_bash():
    script = PROJECT_DIR / ".ci" / "run"
    assert os.access(script, os.X_OK)
    text = script.read_text()
    assert text.startswith("#!/usr/bin/env bash") or text.startswith("#!/bin/bash")
    assert "set -euo pipefail" in text
    assert "make test" in text
    result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_run_installs_only_the_runtime_packages():
    result = subprocess.run(
        ["make", "--dry-run", "--always-make", "run", "PORT=8123", "HOST=0.0.0.0"],
        cwd=PROJECT_DIR, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "-r requirements.txt" in result.stdout and "requirements-dev.txt" not in result.stdout
    assert "--site-url http://0.0.0.0:8123/" in result.stdout and "daphne -b 0.0.0.0 -p 8123" in result.stdout
    runtime = (PROJECT_DIR / "requirements.txt").read_text().lower()
    for tool in ("pytest", "playwright", "schemathesis", "factory-boy", "import-linter", "aiosmtpd"):
        assert tool not in runtime, tool
    assert "-r requirements.txt" in (PROJECT_DIR / "requirements-dev.txt").read_text()


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_test_runs_pytest_in_the_project_venv():
    result = subprocess.run(
        ["make", "--dry-run", "--always-make", "test"],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert ".venv/bin/pytest" in result.stdout
    assert "pip install" in result.stdout and "-r requirements-dev.txt" in result.stdout
    # The layering contracts, the browser client's unit tests and the SQLite pass
    # of the write path belong to the same command.
    assert ".venv/bin/lint-imports" in result.stdout
    assert "node --test chat/tests/js/" in result.stdout
    assert "chat/tests/test_services_messages.py" in result.stdout


def test_gc_tuning_freezes_start_up_objects_and_makes_full_collections_rare():
    import gc

    from chatsite import gc_tuning

    before = gc.get_threshold()
    try:
        gc_tuning.tune()
        assert gc.get_freeze_count() > 1000  # Django and the application, never walked again
        assert gc.get_threshold() == (700, 10, 1000)
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
