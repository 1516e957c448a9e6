"""Replicas started at the same moment on a new PostgreSQL database all come up.

``CREATE TABLE IF NOT EXISTS`` races on PostgreSQL's catalogue when two sessions
run it at once; every schema is created under one advisory lock
(``projections.schema``, ``services.bootstrap.schema_lock``), so they take turns.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]

START = """
import sys, time
from services.bootstrap import build_services
from services.settings import Settings
from adapters.kafka.positions import PostgresPositionStore
from adapters.audit.checkpoints import CheckpointStore
at = float(sys.argv[1])
time.sleep(max(at - time.time(), 0))
services = build_services(Settings())
CheckpointStore(services.desk.recorder)
services.stop()
print("up")
"""


def test_three_processes_starting_at_once_on_a_new_database_all_start(
        postgres_env: dict[str, str], tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PASS24_PERSISTENCE": "postgres",
           "PASS24_POSTGRES_HOST": postgres_env["POSTGRES_HOST"],
           "PASS24_POSTGRES_PORT": postgres_env["POSTGRES_PORT"],
           "PASS24_POSTGRES_DBNAME": postgres_env["POSTGRES_DBNAME"],
           "PASS24_POSTGRES_USER": postgres_env["POSTGRES_USER"],
           "PASS24_POSTGRES_PASSWORD": postgres_env["POSTGRES_PASSWORD"],
           "PASS24_MAIL_DB_PATH": str(tmp_path / "mail.sqlite"),
           "PASS24_ATTACHMENTS_DIR": str(tmp_path / "attachments"),
           "PASS24_LOG_LEVEL": "WARNING"}
    at = time.time() + 4  # every interpreter has imported everything by then
    processes = [subprocess.Popen([sys.executable, "-c", START, str(at)], env=env, cwd=tmp_path,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(3)]
    results = [p.communicate(timeout=120) for p in processes]
    for process, (out, err) in zip(processes, results):
        assert process.returncode == 0, err[-3000:]
        assert out.strip().endswith("up")
