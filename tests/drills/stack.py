"""The drills' Vigil: web, worker and beat started as `make run`'s Procfile starts them, against a drill's own
PostgreSQL database and Redis, plus the client that keeps writing to it while a fault is injected.

Every process runs in its own process group, so stopping it (or SIGKILLing it in a drill) takes its
children (gunicorn's and Celery's pool processes) with it.
"""

import base64
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import requests

from tests.servers import ThrowawayPostgres, ThrowawayRedis, free_port

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent  # the venv's bin/, where the Procfile's gunicorn and celery live
DRILL_SERVICE = "drill-svc"
# Only these are inherited: the drill pins every Vigil variable itself, whatever the calling shell exports.
INHERITED_VARIABLES = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "TZ")
# Beat runs the two outbox sweepers every 30 s / 1 min in production; in a drill every 5 s, so recovery
# is seen in seconds. The path (beat → sweeper task → worker → re-dispatch) is the same.
DRILL_SWEEPER_SECONDS = 5
DRILL_SWEEPERS = ("alerting.notification_sweeper", "incidents.alertmanager_sweeper")


def drill_environment(*, database_url: str, redis_url: str, folder: Path) -> dict[str, str]:
    """Production settings (debug off, real secrets) pointed at the drill's servers."""
    env = {name: os.environ[name] for name in INHERITED_VARIABLES if name in os.environ}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DJANGO_DEBUG": "false",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "FIELD_ENCRYPTION_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
            "AUDIT_SIGNING_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
            "DJANGO_SECURE_SSL_REDIRECT": "false",  # plain HTTP on 127.0.0.1, as behind a TLS proxy
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "CELERY_FILESYSTEM_BROKER_DIR": str(folder / "broker"),  # only used when REDIS_URL is empty
            "MEDIA_ROOT": str(folder / "media"),
            "ALERT_ALLOW_PRIVATE_URLS": "true",  # the sink is on 127.0.0.1
            # A pending row is re-dispatched 5 s past due (production: 60 s); a claim lapses after
            # 2 × 3 s + 5 s (production: 25 s). The sink answers at once, so 3 s is plenty.
            "ALERT_SWEEP_GRACE_SECONDS": "5",
            "ALERT_DELIVERY_TIMEOUT": "3",
            "ALERT_DELIVERY_BACKOFF_BASE": "1",
            "METRICS_PUBLIC": "false",
            "WEB_CONCURRENCY": "2",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


@dataclass
class ServiceProcess:
    """One long-running program of the stack, its output in a log file."""

    name: str
    process: subprocess.Popen
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def kill(self) -> None:
        """SIGKILL the whole process group: no shutdown, no acknowledgement, as when a machine dies."""
        if self.alive():
            os.killpg(self.pid, signal.SIGKILL)
        self.process.wait(timeout=20)

    def stop(self, *, grace: float = 15) -> None:
        """SIGTERM the group, SIGKILL what is left after `grace` seconds."""
        if not self.alive():
            return
        try:
            os.killpg(self.pid, signal.SIGTERM)
            self.process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
        finally:
            try:
                os.killpg(self.pid, signal.SIGKILL)  # the group's stragglers (pool children) too
            except ProcessLookupError:
                pass
            self.process.wait(timeout=20)


class VigilStack:
    """Web (gunicorn), Celery workers and beat on one drill database and one drill Redis."""

    def __init__(self, *, folder: Path, cluster: ThrowawayPostgres, database: str, redis: ThrowawayRedis):
        self.folder = folder
        self.cluster = cluster
        self.database_url = database_url = cluster.url(database)
        self.redis = redis
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.env = drill_environment(database_url=database_url, redis_url=redis.url, folder=folder)
        self.env["VIGIL_BIND"] = f"127.0.0.1:{self.port}"
        self.processes: list[ServiceProcess] = []
        self.api_key = ""

    # --- programs -------------------------------------------------------------------------------

    def _start(self, name: str, command: list[str], *, env: dict | None = None) -> ServiceProcess:
        log_path = self.folder / f"{name}.log"
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                command, cwd=ROOT, env=env or self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        started = ServiceProcess(name, process, log_path)
        self.processes.append(started)
        return started

    def _wait_for_log(self, started: ServiceProcess, text: str, *, timeout: float = 90) -> ServiceProcess:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not started.alive():
                raise RuntimeError(f"{started.name} exited early:\n{started.tail()}")
            if text in started.log():
                return started
            time.sleep(0.2)
        raise RuntimeError(f"{started.name} did not log {text!r} within {timeout} s:\n{started.tail()}")

    def manage(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if result.returncode != 0:
            raise RuntimeError(f"manage.py {' '.join(args)[:80]} failed:\n{result.stdout}\n{result.stderr}")
        return result

    def start(self) -> None:
        """Web, a worker and beat, launched together (each spends seconds importing Django), then awaited."""
        web = self._launch_web()
        worker = self._launch_worker("drill-worker-1")
        beat = self._launch_beat()
        self._wait_for_web(web)
        self._wait_for_log(worker, " ready.")
        self._wait_for_log(beat, "beat: Starting...")

    def start_worker(self, name: str, *, env: dict | None = None) -> ServiceProcess:
        return self._wait_for_log(self._launch_worker(name, env=env), " ready.")

    def _launch_web(self) -> ServiceProcess:
        # Procfile: web: .venv/bin/gunicorn --config config/gunicorn.py config.wsgi
        return self._start("web", [str(BIN / "gunicorn"), "--config", "config/gunicorn.py", "config.wsgi"])

    def _wait_for_web(self, web: ServiceProcess, *, timeout: float = 90) -> ServiceProcess:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not web.alive():
                raise RuntimeError(f"gunicorn exited early:\n{web.tail()}")
            if self.get("/health/live") == 200:
                return web
            time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not answer /health/live:\n{web.tail()}")

    def _launch_worker(self, name: str, *, env: dict | None = None) -> ServiceProcess:
        # Procfile: worker: .venv/bin/celery -A config worker --loglevel INFO --concurrency ${CELERY_CONCURRENCY:-2}
        # (named, so that a replacement worker is a different node from the one it replaces)
        command = [str(BIN / "celery"), "-A", "config", "worker", "--loglevel", "INFO", "--concurrency", "2"]
        return self._start(name, [*command, "-n", f"{name}@%h"], env=env)

    def _launch_beat(self) -> ServiceProcess:
        # Procfile: beat: .venv/bin/celery -A config beat --loglevel INFO --scheduler ...DatabaseScheduler --pidfile=
        command = [str(BIN / "celery"), "-A", "config", "beat", "--loglevel", "INFO"]
        scheduler = ["--scheduler", "django_celery_beat.schedulers:DatabaseScheduler", "--pidfile="]
        return self._start("beat", [*command, *scheduler])

    def process(self, name: str) -> ServiceProcess:
        return next(p for p in self.processes if p.name == name)

    def stop(self) -> None:
        for started in reversed(self.processes):
            started.stop()

    def logs(self, lines: int = 40) -> str:
        return "\n".join(f"--- {p.name} (last {lines} lines)\n{p.tail(lines)}" for p in self.processes)

    # --- set-up ---------------------------------------------------------------------------------

    def set_up(self, *, sink_url: str) -> None:
        """A service, a generic webhook to the sink routed `incident.declared`, an API key; faster sweepers."""
        script = f"""
import json
from alerting.services import channel_create, routing_rule_create
from django_celery_beat.models import IntervalSchedule, PeriodicTask
from governance.services import api_key_create, service_create

service_create(slug={DRILL_SERVICE!r}, name="Drill service")
sink = channel_create(name="drill sink", kind="generic_webhook", url={sink_url + "/hook"!r})
routing_rule_create(name="Declared incidents to the sink", event_types=["incident.declared"], channels=[sink])
issued = api_key_create(name="drill client", scopes=["incidents:read", "incidents:write", "alerts:ingest"])
every, _ = IntervalSchedule.objects.get_or_create(every={DRILL_SWEEPER_SECONDS}, period="seconds")
assert PeriodicTask.objects.filter(name__in={list(DRILL_SWEEPERS)!r}).update(interval=every) == 2
print(json.dumps({{"api_key": issued.raw_key}}))
"""
        result = self.manage("shell", "-c", script)
        self.api_key = json.loads(result.stdout.strip().splitlines()[-1])["api_key"]

    # --- HTTP and SQL ---------------------------------------------------------------------------

    def get(self, path: str, *, timeout: float = 5) -> int:
        """The status code, or 0 when nothing answered."""
        try:
            return requests.get(self.base_url + path, timeout=timeout).status_code
        except requests.RequestException:
            return 0

    def wait_ready(self, *, timeout: float = 60, in_a_row: int = 8) -> None:
        """Until /health/ready answers 200 `in_a_row` times running, each on a new connection (any web
        worker). A single 200 was not enough: in one CI run the next answer, the drill probe's first,
        was a 503 before any fault, and the drill read that as the fault's."""
        deadline = time.monotonic() + timeout
        ready = 0
        while time.monotonic() < deadline:
            ready = ready + 1 if self.get("/health/ready") == 200 else 0
            if ready >= in_a_row:
                return
            time.sleep(0.25)
        raise AssertionError(f"/health/ready did not answer 200 within {timeout} s:\n{self.logs()}")

    def query(self, sql: str, params: tuple | list = ()) -> list[tuple]:
        with psycopg.connect(self.database_url, connect_timeout=5) as conn:
            return conn.execute(sql, params).fetchall()

    def scalar(self, sql: str, params: tuple | list = ()):
        return self.query(sql, params)[0][0]


# --- the steady client ------------------------------------------------------------------------------


@dataclass
class Write:
    kind: str  # "incident" (POST /api/v1/incidents/) or "alert" (POST /api/v1/alerts/alertmanager/)
    marker: str  # the incident's title, or the alert's fingerprint
    status: int  # the HTTP status, 0 when no answer came
    at: float  # time.monotonic() when answered

    @property
    def acknowledged(self) -> bool:
        return 200 <= self.status < 300


def alertmanager_payload(*, group: str, fingerprint: str, service: str) -> dict:
    """One firing alert in its own Alertmanager group, as Alertmanager (webhook version 4) sends it."""
    labels = {"alertname": "DrillAlert", "service": service, "severity": "info", "drill": fingerprint}
    return {
        "version": "4",
        "groupKey": group,
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "vigil",
        "groupLabels": {"drill": fingerprint},
        "commonLabels": labels,
        "commonAnnotations": {"summary": f"drill alert {fingerprint}"},
        "externalURL": "http://alertmanager.drill.invalid",
        "alerts": [
            {
                "status": "firing",
                "labels": labels,
                "annotations": {"summary": f"drill alert {fingerprint}"},
                "startsAt": datetime.now(UTC).isoformat(),
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus.drill.invalid/graph",
                "fingerprint": fingerprint,
            }
        ],
    }


@dataclass
class WriteStream:
    """Two client threads: incident declarations with a scoped key, and Alertmanager posts, each every `interval`."""

    base_url: str
    api_key: str
    tag: str
    interval: float = 0.3
    writes: list[Write] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> "WriteStream":
        for target in (self._declare_incidents, self._post_alerts):
            thread = threading.Thread(target=target, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def _post(self, session: requests.Session, path: str, body: dict) -> int:
        try:
            return session.post(self.base_url + path, json=body, timeout=(2, 15)).status_code
        except requests.RequestException:
            return 0

    def _loop(self, kind: str, path: str, body_for) -> None:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {self.api_key}"
        number = 0
        while not self._stop.is_set():
            number += 1
            marker, body = body_for(number)
            status = self._post(session, path, body)
            with self._lock:
                self.writes.append(Write(kind, marker, status, time.monotonic()))
            self._stop.wait(self.interval)

    def _declare_incidents(self) -> None:
        def body(number: int):
            title = f"{self.tag} write {number:05d}"
            return title, {"title": title, "severity": "SEV3", "service": DRILL_SERVICE}

        self._loop("incident", "/api/v1/incidents/", body)

    def _post_alerts(self) -> None:
        def body(number: int):
            fingerprint = f"{self.tag}-alert-{number:05d}"
            group = f'{{}}:{{drill="{fingerprint}"}}'
            return fingerprint, alertmanager_payload(group=group, fingerprint=fingerprint, service=DRILL_SERVICE)

        self._loop("alert", "/api/v1/alerts/alertmanager/", body)

    def snapshot(self) -> list[Write]:
        with self._lock:
            return list(self.writes)


@dataclass
class ReadinessProbe:
    """Polls /health/ready every `interval` seconds and keeps every answer in order."""

    stack: VigilStack
    interval: float = 0.25
    answers: list[tuple[float, int]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> "ReadinessProbe":
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            self.answers.append((time.monotonic(), self.stack.get("/health/ready", timeout=5)))
            self._stop.wait(self.interval)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=15)

    def runs(self) -> list[tuple[int, int]]:
        """The answers collapsed into runs: [(status, how many in a row), ...]."""
        collapsed: list[tuple[int, int]] = []
        for _, status in self.answers:
            if collapsed and collapsed[-1][0] == status:
                collapsed[-1] = (status, collapsed[-1][1] + 1)
            else:
                collapsed.append((status, 1))
        return collapsed
