"""Prometheus exposition: request metrics (django-prometheus) plus the registered domain gauges."""

import logging
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from .choices import CheckStatus
from .registries import MetricFamily, metrics

logger = logging.getLogger(__name__)
_scrape_memo: ContextVar[dict | None] = ContextVar("vigil_scrape_memo", default=None)


def once_per_scrape(key: Any, compute: Callable[[], Any]) -> Any:
    """`compute()` once per /metrics scrape for every gauge that asks with the same `key`.

    Several gauges are columns of one query (MTTA, MTTR and ack-SLA compliance per severity): the
    first asks the database, the others read its answer. Outside a scrape it simply computes.
    """
    memo = _scrape_memo.get()
    if memo is None:
        return compute()
    if key not in memo:
        memo[key] = compute()
    return memo[key]


class DomainCollector:
    """Collects every registered MetricFamily at scrape time, straight from the database."""

    def collect(self):
        token = _scrape_memo.set({})
        try:
            yield from self._families()
        finally:
            _scrape_memo.reset(token)

    def _families(self):
        for family in metrics:
            # Prometheus' naming rule: a name ending in _total is a counter (the rest are gauges).
            kind = CounterMetricFamily if family.name.endswith("_total") else GaugeMetricFamily
            gauge = kind(family.name, family.documentation, labels=list(family.labels))
            try:
                for labels, value in family.collect():
                    gauge.add_metric([str(labels.get(name, "")) for name in family.labels], float(value))
            except Exception:  # one broken gauge must not take the whole scrape down
                logger.warning("metric %s failed to collect", family.name, exc_info=True)
                continue
            yield gauge


def exposition() -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DomainCollector())
    return generate_latest(REGISTRY) + generate_latest(registry)


def _job_freshness_samples():
    from django.utils import timezone

    from .registries import scheduled_jobs
    from .selectors import jobs_freshness

    now = timezone.now()
    freshness = jobs_freshness(job_names=[job.name for job in scheduled_jobs])
    for job in scheduled_jobs:
        last = freshness.get(job.name, {}).get("last_success_at")
        # -1 for "never succeeded", so an alert rule can tell it from "just ran".
        yield {"job": job.name}, (now - last).total_seconds() if last else -1


def _job_stale_samples():
    from .health import check_jobs

    for result in check_jobs():
        yield {"job": result.name.removeprefix("job:")}, 1 if result.status != CheckStatus.OK else 0


metrics.register(
    "vigil_job_seconds_since_success",
    MetricFamily(
        "vigil_job_seconds_since_success",
        "Seconds since each scheduled job last succeeded (-1: never).",
        _job_freshness_samples,
        labels=("job",),
    ),
)
metrics.register(
    "vigil_job_stale",
    MetricFamily(
        "vigil_job_stale", "1 when a scheduled job is overdue against its interval.", _job_stale_samples, ("job",)
    ),
)
