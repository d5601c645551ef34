"""The chaos soak, 60 seconds of it: a whole deployment of its own (PostgreSQL,
Redis, two daphnes behind nginx, the notification worker) broken on purpose
while people chat; every client must end with the database's view.

The harness is soak/run.py (``make soak`` runs it for 10 minutes); it runs here
as a subprocess so that its servers, secrets and settings are its own.
"""

import json
import os
import subprocess
import sys

import pytest

from chat.tests import live

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

SECONDS = 60
CLIENTS = 40
TIMEOUT = 600  # seconds for the whole run: setup, load, convergence and checks


def test_chaos_soak_loses_and_duplicates_nothing_and_recovers_from_every_fault(tmp_path):
    live.require("nginx", live.find_executable("nginx") is not None, "apt-get install nginx-light")
    live.require("redis-server", live.find_executable("redis-server") is not None, "apt-get install redis-server")
    report_path = tmp_path / "soak.json"
    command = [sys.executable, "-m", "soak.run", "--seconds", str(SECONDS), "--clients", str(CLIENTS), "--json", str(report_path)]
    env = {key: value for key, value in os.environ.items() if key not in {"DATABASE_TEST_NAME", "DATABASE_URL", "REDIS_URL"}}
    finished = subprocess.run(command, check=False, cwd=live.PROJECT_DIR, env=env, capture_output=True, text=True, timeout=TIMEOUT)
    print(finished.stdout)
    assert report_path.exists(), f"no report:\n{finished.stdout[-3000:]}\n{finished.stderr[-5000:]}"
    report = json.loads(report_path.read_text())

    assert report["acknowledged"] > 0, report
    assert report["lost"] == 0, report["problems"]
    assert report["duplicated"] == 0, report["problems"]
    assert {fault["kind"] for fault in report["faults"]} == {"daphne_sigkill", "redis_restart", "postgres_restart", "worker_sigkill"}
    assert report["all_recovered"], report["faults"]
    assert report["problems"] == [], report["problems"]
    assert finished.returncode == 0, finished.stderr[-5000:]
