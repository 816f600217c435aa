"""Lateness of escalation steps after their deadline, through a real Celery worker and beat.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379/2 \\
        .venv/bin/python bench/escalation.py [--quick]

Creates the scratch database `vigil_bench_escalation` (dropped afterwards), an escalation policy whose
steps page a generic-webhook channel (a local HTTP sink) and the routing rule that gives it to
`incident.escalated`, then starts one worker (`celery -A config worker`, prefork, concurrency 2, as in
the Procfile) and one beat (django-celery-beat's DatabaseScheduler, every scheduled job of Vigil) on
production settings against that database and the Redis of REDIS_URL. Then it declares N SEV1
incidents, back-dated so that their acknowledgement deadlines fall at known times spread over the next
seconds, and acknowledges none: each deadline task (eta = the deadline) records the breach and starts the
policy, each step is queued for its due time, the beat's sweepers stand behind them.

Step k of an incident is due at ack deadline + the waits of steps 1…k: the policy's promise counted from
the missed acknowledgement, so a late breach makes every step of it late. Performed: the step's
`fired_at` in the escalation's log. Prints p50/p95/max of (performed − due) over every step, the breach's
own lateness, and the step notifications the sink received. Target: p95 ≤ 5 s, every step fired.

Full: 100 incidents with deadlines over 60 s, steps after 0, 1 and 1 minutes (300 steps, about 4 min).
--quick: 6 incidents over 6 s, steps after 0 and 0 minutes (12 steps, about 20 s).
"""

import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._report import figure  # noqa: E402
from bench._scratch import drop_database, scratch_database  # noqa: E402
from bench._servers import production_env  # noqa: E402

BENCH_DB = "vigil_bench_escalation"
QUICK = "--quick" in sys.argv
INCIDENTS = 6 if QUICK else 100
SPREAD_SECONDS = 6 if QUICK else 60  # the deadlines fall evenly over this window
LEAD_SECONDS = 5 if QUICK else 10  # from the first declaration to the first deadline
STEP_WAITS = [0, 0] if QUICK else [0, 1, 1]  # minutes after the previous step
TARGET_P95_SECONDS = 5.0
GRACE_SECONDS = 100  # after the last due step: the sweepers (every minute, 30 s grace) have had their turn
BROKER_KEYS = ("celery", "unacked", "unacked_index")


class Sink:
    """The channel's webhook endpoint: counts each notification once by its idempotency key."""

    def __init__(self):
        self.lock = threading.Lock()
        self.received: set[str] = set()
        self.duplicates = 0
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                key = self.headers.get("X-Vigil-Idempotency-Key", "")
                with sink.lock:
                    if key in sink.received:
                        sink.duplicates += 1
                    sink.received.add(key)
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def start(name: str, args: list[str], env: dict) -> subprocess.Popen:
    """A celery process in its own session (stopped with its children), logging under var/."""
    (ROOT / "var").mkdir(exist_ok=True)
    with (ROOT / "var" / f"bench-escalation-{name}.log").open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", *args],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def wait_for_worker(process: subprocess.Popen, node: str, timeout: float = 60) -> None:
    from celery import current_app

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("bench: the worker exited: see var/bench-escalation-worker.log")
        try:
            if current_app.control.ping(destination=[node], timeout=0.5):
                return
        except Exception:
            pass
        time.sleep(0.3)
    raise SystemExit("bench: the worker did not answer a ping: see var/bench-escalation-worker.log")


def stop(process: subprocess.Popen | None) -> None:
    if process is None or process.poll() is not None:
        return
    os.killpg(process.pid, 15)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, 9)
        process.wait(timeout=10)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> int:
    url = scratch_database(BENCH_DB)
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/2")
    # The sink listens on loopback.
    env = production_env(url, redis_url, ALERT_ALLOW_PRIVATE_URLS="true")
    os.environ.update(env)
    import django

    django.setup()
    import redis
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from alerting.choices import ChannelKind, EventType, StepTarget
    from alerting.models import Escalation, Notification
    from alerting.services import channel_create, escalation_policy_create, routing_rule_create
    from governance.models import Service
    from incidents.models import Incident, SeverityPolicy
    from incidents.services import incident_declare

    broker = redis.Redis.from_url(redis_url)
    sink = Sink()
    worker = beat = None
    try:
        call_command("migrate", verbosity=0)
        broker.delete(*BROKER_KEYS)  # tasks another run left in this Redis db
        service = Service.objects.create(slug="checkout", name="Checkout", tier=1)
        channel = channel_create(name="bench pager", kind=ChannelKind.GENERIC_WEBHOOK, url=sink.url)
        policy = escalation_policy_create(
            name="bench escalation",
            steps=[{"wait_minutes": wait, "target": StepTarget.CHANNEL, "channel": channel} for wait in STEP_WAITS],
        )
        routing_rule_create(
            name="bench escalation", event_types=[EventType.INCIDENT_ESCALATED], escalation_policy=policy
        )
        connection.close()

        node = f"bench-escalation-{os.getpid()}@{socket.gethostname()}"
        concurrency = os.environ.get("CELERY_CONCURRENCY", "2")
        worker = start(
            "worker",
            [
                "worker",
                "--concurrency",
                concurrency,
                "--loglevel",
                "WARNING",
                "--without-mingle",
                "--without-gossip",
                "-n",
                node,
            ],
            env,
        )
        beat = start(
            "beat",
            [
                "beat",
                "--loglevel",
                "WARNING",
                "--scheduler",
                "django_celery_beat.schedulers:DatabaseScheduler",
                "--pidfile=",
            ],
            env,
        )
        wait_for_worker(worker, node)
        if beat.poll() is not None:
            raise SystemExit("bench: beat exited: see var/bench-escalation-beat.log")

        # Back-dated declarations: each acknowledgement deadline falls at a known time from now on.
        ack_minutes = SeverityPolicy.objects.get(severity="SEV1").ack_minutes
        declaring_started = timezone.now()
        first_due = declaring_started + timedelta(seconds=LEAD_SECONDS)
        incidents = []
        for n in range(INCIDENTS):
            due = first_due + timedelta(seconds=SPREAD_SECONDS * n / max(1, INCIDENTS - 1))
            incidents.append(
                incident_declare(
                    title=f"Checkout down {n}",
                    severity="SEV1",
                    service=service,
                    declared_at=due - timedelta(minutes=ack_minutes),
                )
            )
        if timezone.now() > first_due:
            declared_in = (timezone.now() - declaring_started).total_seconds()
            print(f"(declaring took {declared_in:.1f} s: the first deadlines passed before the last declaration)")

        steps_total = INCIDENTS * len(STEP_WAITS)
        last_due = max(i.ack_due_at for i in incidents) + timedelta(minutes=sum(STEP_WAITS))
        give_up = last_due + timedelta(seconds=GRACE_SECONDS)
        while timezone.now() < give_up:
            fired = sum(len(log) for log in Escalation.objects.values_list("log", flat=True))
            if fired >= steps_total:
                break
            if worker.poll() is not None or beat.poll() is not None:
                raise SystemExit("bench: the worker or beat exited: see var/bench-escalation-*.log")
            time.sleep(0.5)
        # The step notifications: delivered by the same worker, each received once at the sink.
        expected_notifications = Notification.objects.filter(escalation__isnull=False).count()
        delivered_by = time.monotonic() + 30
        while len(sink.received) < expected_notifications and time.monotonic() < delivered_by:
            time.sleep(0.2)

        lateness: list[float] = []
        breach_lateness: list[float] = []
        cumulative = [sum(STEP_WAITS[: k + 1]) for k in range(len(STEP_WAITS))]
        by_incident = {e.key: e for e in Escalation.objects.all()}
        for incident in Incident.objects.filter(pk__in=[i.pk for i in incidents]):
            if incident.ack_breached_at is not None:
                breach_lateness.append((incident.ack_breached_at - incident.ack_due_at).total_seconds())
            escalation = by_incident.get(f"incident:{incident.pk}")
            for entry in escalation.log if escalation else []:
                due = incident.ack_due_at + timedelta(minutes=cumulative[entry["step"] - 1])
                lateness.append((datetime.fromisoformat(entry["fired_at"]) - due).total_seconds())
        fired = len(lateness)
        if not lateness:
            raise SystemExit(f"bench: no escalation step fired in {GRACE_SECONDS} s after the last was due")
        p50, p95, worst = percentile(lateness, 50), percentile(lateness, 95), max(lateness)
        print(
            f"1 worker (prefork, concurrency {concurrency}) + 1 beat, Redis broker, PostgreSQL; {INCIDENTS} SEV1 "
            f"incidents, deadlines over {SPREAD_SECONDS} s, steps after {', '.join(map(str, STEP_WAITS))} min"
        )
        print(
            f"ack breach recorded after its deadline over {len(breach_lateness)}: "
            f"p50 {statistics.median(breach_lateness):.2f} s, p95 {percentile(breach_lateness, 95):.2f} s, "
            f"max {max(breach_lateness):.2f} s"
        )
        print(
            f"escalation step performed after its deadline over {fired} steps: p50 {p50:.2f} s, p95 {p95:.2f} s, "
            f"max {worst:.2f} s, earliest {min(lateness):+.2f} s"
        )
        print(
            f"steps fired: {fired} of {steps_total}; step notifications received at the sink: "
            f"{len(sink.received)} of {expected_notifications}, duplicates {sink.duplicates}"
        )
        on_time = p95 <= TARGET_P95_SECONDS
        print(f"p95 lateness {p95:.2f} s  (target ≤ {TARGET_P95_SECONDS:.0f} s) {'ok' if on_time else 'ABOVE'}")
        figure("escalation lateness: p50", p50, None, None, unit="s")
        figure("escalation lateness: p95", p95, f"≤ {TARGET_P95_SECONDS:.0f} s", on_time, unit="s")
        figure("escalation lateness: max", worst, None, None, unit="s")
        figure("escalation: steps fired", f"{fired} of {steps_total}", "all", fired == steps_total)
        if fired != steps_total:
            return 1
        return 0 if on_time or QUICK else 1
    finally:
        stop(beat)
        stop(worker)
        sink.server.shutdown()
        connection.close()
        drop_database(url)
        broker.delete(*BROKER_KEYS)


if __name__ == "__main__":
    sys.exit(main())
