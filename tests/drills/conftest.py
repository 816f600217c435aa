"""Fault drills: a PostgreSQL cluster of their own (migrated once, a fresh copy of the database per drill),
and per drill a Redis of its own, the local sink, and web, worker and beat against them."""

import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from tests.conftest import need
from tests.drills.stack import BIN, ROOT, VigilStack, drill_environment
from tests.servers import ThrowawayPostgres, ThrowawayRedis, postgres_bindir

TEMPLATE_DATABASE = "vigil_drill_template"


@dataclass(frozen=True)
class DrillCluster:
    server: ThrowawayPostgres
    migrated_in: float  # seconds `migrate` took on the template


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    # Kept on the test item, so the stack's teardown knows whether to print the programs' logs.
    report = yield
    setattr(item, f"drill_report_{report.when}", report)
    return report


@pytest.fixture(scope="session", autouse=True)
def _role_grants_as_migrated():
    """Overrides the suite's: drills never touch the test database (each drill has its own server)."""


@pytest.fixture(scope="package")
def drill_cluster(tmp_path_factory):
    """PostgreSQL 15 in a temporary folder on a spare port, with a migrated template database."""
    need(postgres_bindir() is not None, "PostgreSQL's server programs (initdb) are not installed")
    need(shutil.which("redis-server") is not None, "redis-server is not installed")
    need((BIN / "gunicorn").exists() and (BIN / "celery").exists(), "gunicorn or celery missing from the venv")
    cluster = ThrowawayPostgres(prefix="vigil_drill_")
    try:
        # Crash recovery first syncs the data folder; file by file (the default) that takes 10-15 s here.
        cluster.configure(recovery_init_sync_method="syncfs")
        cluster.start()
        with psycopg.connect(cluster.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{TEMPLATE_DATABASE}"')
        folder = tmp_path_factory.mktemp("drill-template")
        began = time.monotonic()
        # Migrating takes 15-25 s: once here; each drill copies the result (CREATE DATABASE ... TEMPLATE).
        env = drill_environment(database_url=cluster.url(TEMPLATE_DATABASE), redis_url="", folder=folder)
        migrate = [sys.executable, "manage.py", "migrate", "--no-input", "-v0"]
        result = subprocess.run(migrate, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        if result.returncode != 0:
            raise RuntimeError(f"migrating the drills' template failed:\n{result.stdout}\n{result.stderr}")
        yield DrillCluster(server=cluster, migrated_in=time.monotonic() - began)
    finally:
        cluster.destroy()


@pytest.fixture
def drill_report(capsys):
    """`say(line)`: printed at once in pytest's normal output (no -s needed), so CI logs show the counts."""

    def say(line: str) -> None:
        with capsys.disabled():
            print(f"\n    drill: {line}", end="", flush=True)

    return say


@pytest.fixture
def drill_stack(request, drill_cluster, http_sink, drill_report):
    """A fresh copy of the migrated database, a Redis of its own, the sink routed, web + worker + beat running."""
    began = time.monotonic()
    postgres = drill_cluster.server
    database = "drill_" + re.sub(r"[^a-z0-9]+", "_", request.node.name.lower())[:40]
    folder = Path(tempfile.mkdtemp(prefix="vigil_drill_stack_"))
    redis = ThrowawayRedis(folder=folder)
    stack = None
    try:
        with psycopg.connect(postgres.url(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{database}" TEMPLATE "{TEMPLATE_DATABASE}"')
        redis.start()
        stack = VigilStack(folder=folder, cluster=postgres, database=database, redis=redis)
        stack.set_up(sink_url=http_sink.url)
        stack.start()
        stack.wait_ready()
        drill_report(
            f"stack ready in {time.monotonic() - began:.1f} s: a copy of the migrated database (migrating took "
            f"{drill_cluster.migrated_in:.1f} s, once), Redis on :{redis.port}, web on :{stack.port}, a worker, beat"
        )
        yield stack
    finally:
        failed = any(
            getattr(getattr(request.node, f"drill_report_{when}", None), "failed", False) for when in ("setup", "call")
        )
        if stack is not None:
            stack.stop()
            if failed:
                print(f"\nThe drill's programs, last lines of each log:\n{stack.logs(60)}")
        redis.stop()
        if not postgres.running():
            postgres.start()  # a drill that failed with PostgreSQL down must not fail the next ones
        with psycopg.connect(postgres.url(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        shutil.rmtree(folder, ignore_errors=True)
