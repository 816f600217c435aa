"""Vigil's processes as production runs them, for the benches that go through gunicorn or a worker.

`production_env` is the environment: production settings (debug off, fresh secrets, Redis as cache and
broker) on the bench's scratch database, with the bench's own overrides on top. `start_gunicorn` starts
one gunicorn with config/gunicorn.py on a free port and returns when it accepts connections.
"""

import base64
import os
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The benches measure endpoints, not the throttles' limits: one key and one address send everything.
UNTHROTTLED = {"API_RATE_LIMIT": "100000000/min", "API_IP_RATE_LIMIT": "100000000/min"}


def production_env(database_url: str, redis_url: str, **overrides: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "FIELD_ENCRYPTION_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        "AUDIT_SIGNING_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "WEB_ACCESS_LOG": "",
        "LOG_LEVEL": "WARNING",
        **overrides,
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("gunicorn exited early")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("gunicorn did not start")


def start_gunicorn(
    env: dict[str, str], *, workers: int, app: str = "config.wsgi:application"
) -> tuple[subprocess.Popen, int]:
    """One gunicorn (config/gunicorn.py) on a free loopback port, accepting connections."""
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--chdir",
            str(ROOT),
            "--config",
            str(ROOT / "config" / "gunicorn.py"),
            "--workers",
            str(workers),
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            app,
        ],
        cwd=ROOT,
        env=env,
    )
    wait_for_port(port, process)
    return process, port


def stop(process: subprocess.Popen | None) -> None:
    if process is not None:
        process.terminate()
        process.wait(timeout=30)


def drop_queued_tasks(redis_url: str) -> None:
    """No worker ran: the tasks the bench's requests queued are removed from its broker queue."""
    try:
        import redis

        redis.Redis.from_url(redis_url).delete("celery")
    except Exception as exc:
        print(f"(could not clear the bench's queued tasks: {exc})")
