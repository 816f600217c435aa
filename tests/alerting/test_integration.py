"""A real Celery worker on real Redis delivering to a real local HTTP server.

Covers the outbox's promises: delivery after commit, a broker outage parked in the
database and delivered exactly once after the sweeper runs, and a worker SIGKILLed
mid-delivery.
"""

import socket
import subprocess
import time
from collections import Counter
from datetime import timedelta

import pytest
import redis
from django.db import transaction

from alerting.choices import AttemptOutcome, ChannelKind, EventType, NotificationStatus
from alerting.models import DeliveryAttempt, Notification
from alerting.services import notifications_sweep, notify
from tests.conftest import celery_broker, need, start_celery_worker, wait_for

from .factories import ChannelFactory, RuleFactory

pytestmark = [pytest.mark.integration, pytest.mark.redis]

WORKER_ENV = {"ALERT_ALLOW_PRIVATE_URLS": "true", "ALERT_DELIVERY_BACKOFF_BASE": "0.2"}


@pytest.fixture
def hooks(http_sink, settings, transactional_db):
    """Two webhook channels at the sink, routed for every event."""
    settings.ALERT_ALLOW_PRIVATE_URLS = True
    channels = [
        ChannelFactory(kind=ChannelKind.GENERIC_WEBHOOK, url=f"{http_sink.url}/hook-{i}", signing_secret="k")
        for i in (1, 2)
    ]
    RuleFactory(channels=channels, event_types=[EventType.INCIDENT_DECLARED])
    return channels


def _receipts(http_sink) -> Counter:
    return Counter((r.path, r.json()["idempotency_key"]) for r in http_sink.received())


def _all_delivered() -> bool:
    return not Notification.objects.exclude(status=NotificationStatus.DELIVERED).exists()


class ThrowawayRedis:
    """A redis-server of our own, to stop and start; the machine's Redis is never touched."""

    def __init__(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = None

    def start(self):
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not self.answers():
            if time.monotonic() > deadline:
                self.stop()
                pytest.fail("redis-server did not start")
            time.sleep(0.1)

    def answers(self) -> bool:
        try:
            return bool(redis.Redis.from_url(self.url, socket_connect_timeout=0.5).ping())
        except redis.ConnectionError:
            return False

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


@pytest.fixture
def throwaway_redis():
    import shutil

    need(bool(shutil.which("redis-server")), "redis-server is not installed")
    server = ThrowawayRedis()
    try:
        server.start()
        yield server
    finally:
        server.stop()


def test_worker_delivers_after_commit(settings, tmp_path, redis_url, hooks, http_sink):
    redis.Redis.from_url(redis_url).flushdb()
    worker = start_celery_worker(settings, tmp_path, broker_url=redis_url, extra_env=WORKER_ENV)
    try:
        with transaction.atomic():
            notify(EventType.INCIDENT_DECLARED, subject="INC-1: down", idempotency_key="INC-1:declared")
        wait_for(_all_delivered, timeout=30, message="not delivered")
    finally:
        worker.kill()
    assert sorted(_receipts(http_sink).values()) == [1, 1]


@pytest.mark.urls("tests.alerting.urls")
def test_broker_outage_parks_notifications_then_delivers_each_exactly_once(
    settings, tmp_path, client, hooks, http_sink, throwaway_redis
):
    settings.ALERT_SWEEP_GRACE_SECONDS = 0
    with celery_broker(throwaway_redis.url) as reconnect:
        throwaway_redis.stop()

        started = time.monotonic()
        for i in range(5):
            response = client.post("/test-notify/", {"subject": f"INC-{i}: down", "key": f"INC-{i}"})
            assert response.status_code == 201
        assert time.monotonic() - started < 10  # five requests, none hanging on the broker
        assert Notification.objects.filter(status=NotificationStatus.PENDING).count() == 10
        assert notifications_sweep(grace=timedelta(0)) == 0  # still down: nothing lost, nothing sent

        throwaway_redis.start()
        reconnect()
        worker = start_celery_worker(settings, tmp_path, broker_url=throwaway_redis.url, extra_env=WORKER_ENV)
        try:
            assert notifications_sweep() == 10
            wait_for(_all_delivered, timeout=30, message="parked notifications were not delivered")
            notifications_sweep()  # a second sweep finds nothing to do
            time.sleep(1)
        finally:
            worker.kill()
    receipts = _receipts(http_sink)
    assert len(receipts) == 10
    assert set(receipts.values()) == {1}


def test_worker_killed_mid_delivery_delivers_once_per_key(settings, tmp_path, redis_url, hooks, http_sink):
    redis.Redis.from_url(redis_url).flushdb()
    env = {**WORKER_ENV, "ALERT_DELIVERY_TIMEOUT": "3"}
    http_sink.respond(200, delay=2.5)  # the first request hangs: the worker dies while it waits
    worker = start_celery_worker(settings, tmp_path, broker_url=redis_url, extra_env=env)
    try:
        with transaction.atomic():
            for i in range(5):
                notify(EventType.INCIDENT_DECLARED, subject=f"INC-{i}: down", idempotency_key=f"INC-{i}")
        wait_for(lambda: http_sink.received(), timeout=30, message="the worker sent nothing")
        time.sleep(0.3)
    finally:
        worker.kill()  # SIGKILL to the whole process group
    interrupted = [
        n.pk
        for n in Notification.objects.filter(status=NotificationStatus.PENDING)
        if n.attempts > n.attempt_log.count()
    ]
    assert interrupted, "the kill should have interrupted a delivery in flight"

    worker = start_celery_worker(settings, tmp_path, broker_url=redis_url, extra_env=env)
    try:
        # The interrupted claim expires after the HTTP timeouts; the sweeper then re-dispatches it.
        def swept_and_delivered():
            notifications_sweep(grace=timedelta(0))
            return _all_delivered()

        wait_for(swept_and_delivered, timeout=45, interval=1.0, message="interrupted notification not delivered")
    finally:
        worker.kill()

    for notification in Notification.objects.all():
        outcomes = list(notification.attempt_log.values_list("outcome", flat=True))
        assert outcomes.count(AttemptOutcome.DELIVERED) == 1
    receipts = _receipts(http_sink)
    keys = {n.key for n in Notification.objects.all()}
    assert {key for _, key in receipts} == keys  # every notification reached the receiver
    # A receiver that honours the idempotency key processes each once; a repeat on the wire
    # only ever comes from a send the kill interrupted before its answer was recorded.
    interrupted_keys = set(Notification.objects.filter(pk__in=interrupted).values_list("key", flat=True))
    repeated = {key for (_, key), count in receipts.items() if count > 1}
    assert repeated <= interrupted_keys
    assert max(receipts.values()) <= 2
    assert DeliveryAttempt.objects.filter(outcome=AttemptOutcome.DELIVERED).count() == len(keys)


def test_concurrent_notify_with_the_same_key_writes_one_set_of_rows(transactional_db, postgres_only):
    import threading

    from django.db import connection

    RuleFactory(channels=[ChannelFactory(), ChannelFactory()], event_types=[EventType.BACKUP_FAILED])
    first_wrote = threading.Event()
    results = {}

    def first():
        try:
            with transaction.atomic():
                results["first"] = notify(EventType.BACKUP_FAILED, subject="b", idempotency_key="same")
                first_wrote.set()
                time.sleep(0.5)  # the second call runs into our uncommitted rows
        finally:
            connection.close()

    def second():
        try:
            first_wrote.wait(5)
            with transaction.atomic():
                results["second"] = notify(EventType.BACKUP_FAILED, subject="b", idempotency_key="same")
        finally:
            connection.close()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert Notification.objects.count() == 2
    assert sorted(r.pk for r in results["second"]) == sorted(r.pk for r in results["first"])


def test_worker_fires_a_scheduled_escalation_step_and_delivers_it(
    settings, tmp_path, redis_url, http_sink, transactional_db
):
    from alerting.choices import StepTarget
    from alerting.models import Escalation
    from alerting.services import escalation_start

    from .factories import PolicyFactory, StepFactory

    settings.ALERT_ALLOW_PRIVATE_URLS = True
    redis.Redis.from_url(redis_url).flushdb()
    channel = ChannelFactory(kind=ChannelKind.SLACK_WEBHOOK, url=f"{http_sink.url}/slack")
    policy = PolicyFactory()
    StepFactory(policy=policy, position=0, wait_minutes=0, target=StepTarget.CHANNEL, channel=channel)
    StepFactory(policy=policy, position=1, wait_minutes=30, target=StepTarget.CHANNEL, channel=channel)
    worker = start_celery_worker(settings, tmp_path, broker_url=redis_url, extra_env=WORKER_ENV)
    try:
        with transaction.atomic():
            escalation_start(
                key="INC-9", event_type=EventType.INCIDENT_ESCALATED, subject="INC-9: nobody answered", policy=policy
            )
        wait_for(lambda: http_sink.received(), timeout=30, message="the first step was not delivered")
    finally:
        worker.kill()
    escalation = Escalation.objects.get(key="INC-9")
    assert escalation.next_step_index == 1
    assert "INC-9: nobody answered" in http_sink.received()[0].json()["text"]
