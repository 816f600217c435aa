"""Outbox throughput and latency through a real Celery worker to a local HTTP sink.

    .venv/bin/python bench/notifications.py [--count 1000] [--latency-count 300] [--rate 50]

Uses its own PostgreSQL database and Redis db (BENCH_DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/vigil_bench_alerting; BENCH_REDIS_URL, default
redis://127.0.0.1:6379/3), migrates it, starts one worker (threads pool) and a sink
on 127.0.0.1, then measures in the same run:

1. direct:  the worker POSTs the same webhook payloads with no outbox (a bare task);
2. outbox:  notify() writes the rows, the worker claims, sends and records each one;
3. latency: notify() at a steady rate; time from the call to receipt at the sink (p50/p95).

Prints delivered/s for both, their ratio, and the latency figures against the targets
(p95 < 2 s, outbox throughput ≥ half the direct throughput).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from celery import shared_task

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._report import figure  # noqa: E402

DIRECT_TASK = "bench.direct_post"
LINKS = [{"label": "Backup target", "url": "https://vigil.example/admin/backups/backuptarget/1/"}]


@shared_task(name=DIRECT_TASK, ignore_result=True)
def direct_post(url: str, body: str, headers: dict) -> str:
    """The baseline: the same HTTP call as the outbox makes, without the database."""
    from alerting.transport import post_json

    result = post_json(url, body.encode(), headers)
    return "ok" if result.ok else result.error


class Sink:
    def __init__(self):
        self.lock = threading.Lock()
        self.received: dict[str, float] = {}
        self.duplicates = 0
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                now = time.monotonic()
                key = self.headers.get("X-Vigil-Idempotency-Key") or json.loads(body)["idempotency_key"]
                with sink.lock:
                    if key in sink.received:
                        sink.duplicates += 1
                    else:
                        sink.received[key] = now
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, keys: list[str], timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if all(k in self.received for k in keys):
                    return
            time.sleep(0.02)
        missing = sum(1 for k in keys if k not in self.received)
        raise SystemExit(f"bench: {missing} of {len(keys)} never arrived")


def _setup_environment() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings_test")
    os.environ["DATABASE_URL"] = os.environ.get(
        "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/vigil_bench_alerting"
    )
    os.environ["REDIS_URL"] = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/3")
    os.environ["ALERT_ALLOW_PRIVATE_URLS"] = "true"
    os.environ["LOG_LEVEL"] = "WARNING"
    sys.path.insert(0, str(ROOT))


def _create_database() -> None:
    from urllib.parse import urlparse

    import psycopg

    url = urlparse(os.environ["DATABASE_URL"])
    name = url.path.lstrip("/")
    admin = url._replace(path="/postgres").geturl().replace("postgres://", "postgresql://", 1)
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def _node() -> str:
    import socket

    return f"bench-{os.getpid()}@{socket.gethostname()}"


def _start_worker(concurrency: int) -> subprocess.Popen:
    log = open(ROOT / "var" / "bench-worker.log", "wb")  # noqa: SIM115  (the worker writes it while it runs)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--pool",
            "threads",
            "--concurrency",
            str(concurrency),
            "--loglevel",
            "WARNING",
            "--without-mingle",
            "--without-gossip",
            "--include",
            "bench.notifications",
            "-n",
            _node(),
        ],
        cwd=ROOT,
        env=os.environ.copy(),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    from celery import current_app

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"bench: worker exited: see {log.name}")
        try:
            if current_app.control.ping(timeout=0.5):
                return process
        except Exception:
            pass
        time.sleep(0.3)
    raise SystemExit("bench: worker did not answer a ping")


def _consume(node: str, on: bool) -> None:
    """Stop or resume the worker's consumption, so each phase's backlog is built before it drains."""
    from celery import current_app

    control = current_app.control
    call = control.add_consumer if on else control.cancel_consumer
    replies = call("celery", destination=[node], reply=True, timeout=5)
    if not replies:
        raise SystemExit(f"bench: the worker did not answer {'add' if on else 'cancel'}_consumer")


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000, help="notifications per throughput phase")
    parser.add_argument("--latency-count", type=int, default=300, help="notifications in the latency phase")
    parser.add_argument("--rate", type=float, default=50.0, help="notify() calls per second in the latency phase")
    parser.add_argument("--concurrency", type=int, default=8, help="worker threads")
    parser.add_argument("--quick", action="store_true", help="small sizes for CI: same paths, figures only")
    args = parser.parse_args()
    if args.quick:
        args.count, args.latency_count, args.rate = 100, 40, 20.0

    _setup_environment()
    _create_database()
    import django

    django.setup()
    import redis
    from celery import current_app
    from django.core.management import call_command
    from django.db import transaction

    from alerting import payloads
    from alerting.choices import ChannelKind, EventType
    from alerting.models import Channel, Notification, RoutingRule
    from alerting.services import channel_create, notify, routing_rule_create
    from alerting.services.notifications import _context
    from governance.choices import Severity

    print("bench: migrating the bench database …", flush=True)
    call_command("migrate", verbosity=0)
    redis.Redis.from_url(os.environ["REDIS_URL"]).flushdb()
    run = str(int(time.time()))
    sink = Sink()
    Notification.objects.all().delete()
    Channel.objects.filter(name__startswith="bench-").update(enabled=False)
    channel = channel_create(
        name=f"bench-{run}", kind=ChannelKind.GENERIC_WEBHOOK, url=f"{sink.url}/hook", signing_secret="bench-secret"
    )
    # The bench database is the bench's own: only its rule routes, so each notify() makes one row.
    RoutingRule.objects.update(enabled=False)
    routing_rule_create(name=f"bench-{run}", event_types=[EventType.BACKUP_FAILED], channels=[channel], position=0)
    worker = _start_worker(args.concurrency)
    try:
        # 1. direct: the same payload bytes and headers, posted by a bare task.
        from alerting.transport import signature

        node = _node()
        keys = [f"direct-{run}-{i}" for i in range(args.count)]
        _consume(node, False)
        for key in keys:
            ctx = _context(
                event_type=EventType.BACKUP_FAILED,
                subject=f"Backup {key} failed",
                body="nightly pg_dump exited 1",
                severity=Severity.SEV2,
                service=None,
                team=None,
                links=LINKS,
                data={},
                dedup_key=None,
                action="trigger",
                now=django.utils.timezone.now(),
            )
            body = payloads.encode(payloads.webhook({**ctx, "idempotency_key": key}))
            headers = {
                "X-Vigil-Event": ctx["event"],
                "X-Vigil-Idempotency-Key": key,
                "X-Vigil-Signature": signature("bench-secret", body),
            }
            current_app.send_task(DIRECT_TASK, args=[channel.url, body.decode(), headers])
        started = time.monotonic()
        _consume(node, True)
        sink.wait(keys)
        direct_rate = len(keys) / (max(sink.received[k] for k in keys) - started)

        # 2. outbox: notify() each in its own transaction, as an app does; delivery after commit.
        keys = []
        _consume(node, False)
        enqueue_started = time.monotonic()
        for i in range(args.count):
            with transaction.atomic():
                (row,) = notify(
                    EventType.BACKUP_FAILED,
                    subject=f"Backup {i} failed",
                    body="nightly pg_dump exited 1",
                    severity=Severity.SEV2,
                    links=LINKS,
                    idempotency_key=f"outbox-{run}-{i}",
                )
            keys.append(row.key)
        enqueued = time.monotonic() - enqueue_started
        started = time.monotonic()
        _consume(node, True)
        sink.wait(keys)
        outbox_rate = len(keys) / (max(sink.received[k] for k in keys) - started)

        # 3. latency at a steady rate: notify() call → receipt.
        sent_at: dict[str, float] = {}
        interval = 1.0 / args.rate
        next_at = time.monotonic()
        for i in range(args.latency_count):
            time.sleep(max(0.0, next_at - time.monotonic()))
            next_at += interval
            called = time.monotonic()
            with transaction.atomic():
                (row,) = notify(
                    EventType.BACKUP_FAILED,
                    subject=f"Backup {i} failed",
                    severity=Severity.SEV2,
                    links=LINKS,
                    idempotency_key=f"latency-{run}-{i}",
                )
            sent_at[row.key] = called
        sink.wait(list(sent_at))
        latencies = [sink.received[k] - t for k, t in sent_at.items()]
    finally:
        os.killpg(worker.pid, 15)
        worker.wait(timeout=30)

    delivered = Notification.objects.filter(status="delivered").count()
    p50, p95 = _pct(latencies, 50), _pct(latencies, 95)
    ratio = outbox_rate / direct_rate
    print(f"worker: 1 process, {args.concurrency} threads; sink on {sink.url}; database {os.environ['DATABASE_URL']}")
    print(f"direct (no outbox):  {direct_rate:8.1f} delivered/s  ({args.count} queued posts drained)")
    print(f"outbox (notify()):   {outbox_rate:8.1f} delivered/s  ({args.count} queued notifications drained)")
    print(f"notify() itself:     {args.count / enqueued:8.1f} calls/s  (one transaction each, rows + audit + publish)")
    print(f"ratio outbox/direct: {ratio:8.2f}  (target ≥ 0.50: {'PASS' if ratio >= 0.5 else 'FAIL'})")
    print(
        f"latency notify()→receipt at {args.rate:.0f}/s over {len(latencies)}: "
        f"p50 {p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms "
        f"(target p95 < 2 s: {'PASS' if p95 < 2 else 'FAIL'})"
    )
    figure("notifications: outbox deliveries", outbox_rate, None, None, unit="/s")
    figure("notifications: ratio outbox / direct", ratio, "≥ 0.5", ratio >= 0.5)
    figure("notifications: p95 notify() → receipt", p95 * 1000, "< 2000 ms", p95 < 2, unit="ms")
    figure("notifications: duplicates at the sink", sink.duplicates, "0", sink.duplicates == 0)
    print(
        f"delivered rows: {delivered}; duplicates at the sink: {sink.duplicates}; "
        f"mean {statistics.mean(latencies) * 1000:.0f} ms"
    )


if __name__ == "__main__":
    main()
