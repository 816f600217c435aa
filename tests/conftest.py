"""Shared fixtures: services (PostgreSQL, Redis, Chromium) that skip when absent
unless CI=true, a real Celery worker process, a local HTTP sink for outbound
calls, API clients with scoped keys."""

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlparse

import pytest
from django.test.testcases import TransactionTestCase
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from hypothesis.configuration import set_hypothesis_home_dir

ROOT = Path(__file__).resolve().parent.parent

# --- hypothesis: one fixed, derandomized profile, locally and in CI ---------------------------
# Every run draws the same examples (a failure reproduces on any machine) and keeps no example
# database; hypothesis' own caches go under var/, not a `.hypothesis/` folder in the checkout.
# `HYPOTHESIS_PROFILE=explore` draws fresh random examples when hunting for new failures by hand.
set_hypothesis_home_dir(ROOT / "var" / "hypothesis")
hypothesis_settings.register_profile(
    "vigil",
    derandomize=True,
    max_examples=100,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
hypothesis_settings.register_profile(
    "explore", hypothesis_settings.get_profile("vigil"), derandomize=False, database=None
)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "vigil"))


def screenshot_path(name: str) -> Path:
    """Where a browser test saves its picture: var/screenshots/, or docs/screenshots/ under `make screenshots`.

    Tests never rewrite the committed README pictures on an ordinary run, so `git status` stays clean.
    """
    folder = ROOT / os.environ.get("VIGIL_SCREENSHOTS_DIR", "var/screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name


IN_CI = os.environ.get("CI", "").lower() == "true"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")


def need(condition: bool, reason: str) -> None:
    """Skip with a one-line reason when a service is absent; in CI, fail instead."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"CI=true but {reason}", pytrace=False)
    pytest.skip(reason)


# --- the append-only audit table vs. test flushes ------------------------------------
_original_fixture_teardown = TransactionTestCase._fixture_teardown


def _fixture_teardown_with_audit_maintenance(self):
    # Transactional tests end with a flush (TRUNCATE / DELETE); the audit guard
    # would refuse it, so the flush runs with the guard lifted for this connection.
    from governance.audit import audit_maintenance

    with audit_maintenance():
        _original_fixture_teardown(self)
    # SQLite flushes with DELETE in no fixed order: the incidents' delete trigger may have written
    # roll-up rows after their table was emptied. (PostgreSQL's TRUNCATE fires no row triggers.)
    from django.db import connection

    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM incidents_incidentdailystat")
    _restore_role_grants()


TransactionTestCase._fixture_teardown = _fixture_teardown_with_audit_maintenance

# --- roles as the migrations made them ---------------------------------------------------------
# The role groups and their permissions come from every app's data migrations. A transactional
# test's flush empties them, so they are read once after the test database is migrated and put
# back after every flush: each test sees the roles exactly as a migrated install has them.
_ROLE_GRANTS: list[tuple[str, str, str]] = []


@pytest.fixture(scope="session", autouse=True)
def _role_grants_as_migrated(django_db_setup, django_db_blocker):
    from django.contrib.auth.models import Group

    with django_db_blocker.unblock():
        _ROLE_GRANTS[:] = Group.permissions.through.objects.values_list(
            "group__name", "permission__content_type__app_label", "permission__codename"
        )


def _restore_role_grants() -> None:
    from django.contrib.auth.models import Group, Permission

    groups = {name: Group.objects.get_or_create(name=name)[0] for name in {grant[0] for grant in _ROLE_GRANTS}}
    permissions = {
        (app_label, codename): pk
        for pk, app_label, codename in Permission.objects.values_list("pk", "content_type__app_label", "codename")
    }
    Group.permissions.through.objects.bulk_create(
        [
            Group.permissions.through(group=groups[name], permission_id=permissions[(app_label, codename)])
            for name, app_label, codename in _ROLE_GRANTS
        ],
        ignore_conflicts=True,
    )


@pytest.fixture(autouse=True)
def _forget_verified_api_keys():
    """Each test starts with an empty per-process API key cache."""
    from governance import services

    services._verified_keys.clear()


# --- services -----------------------------------------------------------------------------


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture
def postgres_only(settings):
    need(settings.DATABASES["default"]["ENGINE"].endswith("postgresql"), "PostgreSQL not configured (DATABASE_URL)")


@pytest.fixture(scope="session")
def redis_url() -> str:
    url = os.environ.get("REDIS_URL", "")
    if not url:
        need(False, "Redis not configured (REDIS_URL)")
    parsed = urlparse(url)
    need(_port_open(parsed.hostname or "127.0.0.1", parsed.port or 6379), f"Redis not reachable at {url}")
    return url


@pytest.fixture(scope="session")
def chromium_path() -> str:
    need(Path(CHROMIUM).exists() or bool(shutil.which("chromium")), f"Chromium not installed at {CHROMIUM}")
    return CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")


@pytest.fixture
def browser(chromium_path):
    from playwright.sync_api import sync_playwright

    # Playwright's own browser download cannot run here: drive Debian's Chromium.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as p:
        instance = p.chromium.launch(
            executable_path=chromium_path,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--disable-quic",
            ],
        )
        try:
            yield instance
        finally:
            instance.close()
            # Django calls made while Playwright runs may open connections in another context.
            from django.db import connections

            connections.close_all()


# --- processes ------------------------------------------------------------------------------


def test_database_env(settings) -> dict[str, str]:
    """Environment for a child process that must use the test database, not the real one."""
    db = settings.DATABASES["default"]
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings_test"}
    if db["ENGINE"].endswith("sqlite3"):
        env["DATABASE_URL"] = f"sqlite:///{db['NAME']}"
    else:
        user = db.get("USER") or "postgres"
        auth = f"{user}:{db['PASSWORD']}" if db.get("PASSWORD") else user
        env["DATABASE_URL"] = f"postgres://{auth}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"
    return env


test_database_env.__test__ = False  # a helper, not a test


@dataclass
class WorkerProcess:
    process: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self, sig=signal.SIGKILL) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, sig)
            self.process.wait(timeout=20)


def start_celery_worker(settings, tmp_path: Path, *, broker_url: str, extra_env: dict | None = None, beat=False):
    env = {**test_database_env(settings), "REDIS_URL": broker_url, **(extra_env or {})}
    log_path = tmp_path / f"worker-{time.monotonic_ns()}.log"
    cmd = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "config",
        "worker",
        "--pool",
        "threads",
        "--concurrency",
        "4",
        "--loglevel",
        "INFO",
        "--without-mingle",
        "--without-gossip",
        "-n",
        f"test-{os.getpid()}-{time.monotonic_ns()}@%h",
    ]
    node_name = cmd[-1].replace("%h", socket.gethostname())
    if beat:
        cmd += ["--beat", "--scheduler", "django_celery_beat.schedulers:DatabaseScheduler", "--schedule", "/dev/null"]
    with log_path.open("wb") as log:
        process = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    worker = WorkerProcess(process, log_path)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"worker exited early:\n{worker.log()}")
        if "ready." in worker.log() and _answers_ping(node_name):
            return worker
        time.sleep(0.2)
    worker.kill()
    raise RuntimeError(f"worker did not become ready:\n{worker.log()}")


@contextlib.contextmanager
def celery_broker(url: str):
    """Point this process's Celery producer at `url` (and back afterwards)."""
    import kombu.pools
    from celery import current_app

    app = current_app._get_current_object()
    old = app.conf.broker_url

    def reset(to):
        # Drop every cached connection: the app's pool and kombu's process-wide pools
        # (the producer and control pools come from there, keyed by URL).
        app.conf.broker_url = to
        if app._pool is not None:
            app._pool.force_close_all()
        app._pool = None
        kombu.pools.reset()
        app.amqp._producer_pool = None

    reset(url)
    try:
        yield lambda: reset(url)
    finally:
        reset(old)


def _answers_ping(node_name: str) -> bool:
    from celery import current_app

    try:
        return bool(current_app.control.ping(destination=[node_name], timeout=0.5))
    except Exception:
        return False


@pytest.fixture
def celery_worker(settings, tmp_path, redis_url, transactional_db):
    """A real Celery worker process on real Redis, sharing the test database."""
    _purge_redis(redis_url)
    worker = start_celery_worker(settings, tmp_path, broker_url=redis_url)
    yield worker
    worker.kill(signal.SIGTERM)


def _purge_redis(url: str) -> None:
    """Drop tasks left by earlier tests. Not FLUSHDB: that would also drop the pidbox
    bindings this process's Celery app has declared, and worker pings would go unanswered."""
    import redis

    redis.Redis.from_url(url).delete("celery", "unacked", "unacked_index")


def wait_for(predicate: Callable[[], object], *, timeout: float = 30.0, interval: float = 0.2, message: str = ""):
    """Poll until `predicate()` is truthy; returns its value or fails the test."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(message or f"condition not met within {timeout} s")


# --- a local HTTP receiver standing in for Slack, PagerDuty and webhooks --------------------


@dataclass
class ReceivedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    received_at: float

    def json(self):
        return json.loads(self.body)


@dataclass
class HttpSink:
    """Records every request; answers with the queued responses, then `default_status`."""

    url: str
    requests: list[ReceivedRequest] = field(default_factory=list)
    responses: list[tuple[int, float]] = field(default_factory=list)  # (status, delay seconds)
    default_status: int = 200
    lock: threading.Lock = field(default_factory=threading.Lock)

    def respond(self, *statuses: int, delay: float = 0.0) -> None:
        with self.lock:
            self.responses.extend((s, delay) for s in statuses)

    def next_response(self) -> tuple[int, float]:
        with self.lock:
            return self.responses.pop(0) if self.responses else (self.default_status, 0.0)

    def received(self) -> list[ReceivedRequest]:
        with self.lock:
            return list(self.requests)


@pytest.fixture
def http_sink():
    sink = HttpSink(url="")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            status, delay = sink.next_response()
            with sink.lock:
                sink.requests.append(
                    ReceivedRequest("POST", self.path, dict(self.headers.items()), body, time.monotonic())
                )
            if delay:
                time.sleep(delay)
            payload = b'{"status": "ok"}'
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test)

        do_PUT = do_POST

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    sink.url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield sink
    server.shutdown()
    server.server_close()


# --- API -------------------------------------------------------------------------------------


@pytest.fixture
def make_api_key(db):
    from governance.services import api_key_create

    def make(*scopes: str, name: str = "test key", expires_days: int | None = None):
        return api_key_create(name=name, scopes=list(scopes), expires_days=expires_days)

    return make


@pytest.fixture
def api_client_for(make_api_key):
    """`api_client_for("incidents:write")` → a DRF APIClient sending that key."""
    from rest_framework.test import APIClient

    def make(*scopes: str):
        issued = make_api_key(*scopes)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.raw_key}")
        client.api_key = issued.api_key
        return client

    return make
