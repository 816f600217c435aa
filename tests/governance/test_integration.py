"""Real processes: a Celery worker on real Redis, and the `make run` process set on SQLite."""

import os
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from governance.choices import JobOutcome
from governance.models import JobRun
from tests.conftest import ROOT, need, wait_for

pytestmark = pytest.mark.integration


@pytest.mark.redis
def test_a_task_sent_through_redis_runs_in_a_real_worker_and_reaches_the_database(celery_worker):
    from governance.tasks import heartbeat

    heartbeat.delay()
    run = wait_for(
        lambda: JobRun.objects.filter(job="governance.heartbeat", outcome=JobOutcome.SUCCEEDED).first(),
        timeout=30,
        message=f"the worker never recorded the heartbeat:\n{celery_worker.log()}",
    )
    assert run.worker  # recorded by the worker process, with its host name
    assert run.summary.startswith("alive at ")


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status
    except Exception:
        return 0


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_make_run_processes_serve_and_beat_drives_a_job_through_the_worker(tmp_path):
    """`make run`'s Procfile on SQLite and the embedded broker: web, worker and beat for real."""
    honcho = ROOT / ".venv" / "bin" / "honcho"
    need(honcho.exists(), "honcho is not installed in .venv")
    port = _free_port()
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")},
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_DEBUG": "true",
        "DJANGO_SECRET_KEY": "integration-test-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
        "FIELD_ENCRYPTION_KEY": "dGVzdC1vbmx5LWZpZWxkLWVuY3J5cHRpb24ta2V5LTA=",
        "AUDIT_SIGNING_KEY": "dGVzdC1vbmx5LWF1ZGl0LXNpZ25pbmcta2V5LTAxMjM=",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'vigil.sqlite3'}",
        "CELERY_FILESYSTEM_BROKER_DIR": str(tmp_path / "broker"),
        "MEDIA_ROOT": str(tmp_path / "media"),
        "VIGIL_BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": "1",
        "CELERY_CONCURRENCY": "1",
    }
    python = str(ROOT / ".venv" / "bin" / "python")
    subprocess.run([python, "manage.py", "migrate", "--no-input", "-v0"], cwd=ROOT, env=env, check=True)
    # Beat runs the heartbeat every minute; every 2 s keeps the test short. The path is the same.
    subprocess.run(
        [
            python,
            "manage.py",
            "shell",
            "-c",
            "from django_celery_beat.models import IntervalSchedule, PeriodicTask;"
            "i, _ = IntervalSchedule.objects.get_or_create(every=2, period='seconds');"
            "PeriodicTask.objects.filter(name='governance.heartbeat').update(interval=i)",
        ],
        cwd=ROOT,
        env=env,
        check=True,
    )
    log_path = tmp_path / "honcho.log"
    started = time.monotonic()
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(honcho), "start", "--procfile", "Procfile"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(lambda: _get(f"{base}/health/live") == 200, timeout=60, message=log_path.read_text())
        assert _get(f"{base}/admin/login/") == 200
        assert time.monotonic() - started < 60

        import sqlite3

        def heartbeat_recorded():
            with sqlite3.connect(tmp_path / "vigil.sqlite3", timeout=10) as db:
                return db.execute(
                    "SELECT worker FROM governance_jobrun WHERE job = 'governance.heartbeat' AND outcome = 'succeeded'"
                ).fetchone()

        row = wait_for(heartbeat_recorded, timeout=60, interval=0.5, message=log_path.read_text())
        assert row[0]
    finally:
        os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C does
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            raise
    output = log_path.read_text()
    for name in ("web.1", "worker.1", "beat.1"):
        assert f"{name} stopped" in output, output


def test_a_production_start_without_a_secret_stops_with_one_line_naming_it():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "FIELD_", "AUDIT_"))}
    env.update({"DJANGO_DEBUG": "false", "DJANGO_SETTINGS_MODULE": "config.settings"})
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == ["vigil: DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is false"]


def test_check_deploy_is_clean_with_production_settings():
    import base64
    import secrets

    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "FIELD_", "AUDIT_"))}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DJANGO_DEBUG": "false",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "FIELD_ENCRYPTION_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
            "AUDIT_SIGNING_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
        }
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
