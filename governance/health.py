"""Health checks: the kernel's own, and the runner that /health and ops_status share."""

import logging
import time
from dataclasses import dataclass, field
from datetime import timedelta

from celery import current_app as app
from django.db import connection
from django.utils import timezone

from .choices import CheckStatus
from .registries import HealthCheck, health_checks, status_sources
from .selectors import job_freshness, jobs_freshness, platform_installed_at

logger = logging.getLogger(__name__)

_SEVERITY = {CheckStatus.OK: 0, CheckStatus.WARNING: 1, CheckStatus.CRITICAL: 2}


@dataclass
class CheckResult:
    name: str
    status: CheckStatus
    detail: str = ""
    data: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        result = {"name": self.name, "status": str(self.status), "detail": self.detail}
        if self.data:
            result["data"] = self.data
        return result


def worst(statuses) -> CheckStatus:
    return max(statuses, key=lambda s: _SEVERITY[CheckStatus(s)], default=CheckStatus.OK)


def exit_code(status: CheckStatus) -> int:
    return _SEVERITY[CheckStatus(status)]


def _guarded(check: HealthCheck) -> list[CheckResult]:
    started = time.monotonic()
    try:
        outcome = check.run()
    except Exception as exc:  # a failing check is a result, never a 500
        logger.warning("health check %s raised", check.name, exc_info=True)
        outcome = CheckResult(check.name, CheckStatus.CRITICAL, f"{type(exc).__name__}: {exc}")
    results = outcome if isinstance(outcome, list) else [outcome]
    for result in results:
        result.data.setdefault("duration_ms", round((time.monotonic() - started) * 1000, 1))
    return results


def run_checks(*, readiness_only: bool = False) -> list[CheckResult]:
    results: list[CheckResult] = []
    for check in health_checks:
        if readiness_only and not check.readiness:
            continue
        results.extend(_guarded(check))
    return results


def run_status_sources(*, breaches_only: bool = False) -> list[CheckResult]:
    results: list[CheckResult] = []
    for source in status_sources:
        if breaches_only and not source.breaches:
            continue
        try:
            results.extend(source.collect())
        except Exception as exc:
            logger.warning("status source %s raised", source.name, exc_info=True)
            results.append(CheckResult(source.name, CheckStatus.CRITICAL, f"{type(exc).__name__}: {exc}"))
    return results


def unchecked(name: str, *, job_name: str) -> CheckResult | None:
    """For a status line whose answer a scheduled job computes: a result when that answer cannot be trusted.

    Before the job's first success the line says "not checked yet" (a warning, never "ok": the absence of
    a finding is not a finding); an answer older than 1.5 × the job's interval is stale. None: the answer
    is current, so the caller reports it.
    """
    from .registries import scheduled_jobs

    job = scheduled_jobs.get(job_name)
    last = (job_freshness(job_name=job_name) or {}).get("last_success_at")
    if last is None:
        return CheckResult(name, CheckStatus.WARNING, f"not checked yet: {job_name} has not run successfully")
    age = timezone.now() - last
    if age > job.expected_every * 1.5:
        return CheckResult(
            name,
            CheckStatus.WARNING,
            f"stale: {job_name} last succeeded {int(age.total_seconds() // 3600)} h ago",
            {"last_success_at": last.isoformat()},
        )
    return None


# --- the kernel's checks ------------------------------------------------------------


def check_database() -> CheckResult:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return CheckResult("database", CheckStatus.OK, f"{connection.vendor} reachable")


def check_broker() -> CheckResult:
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
            transport = conn.transport_cls
    except Exception as exc:
        return CheckResult("broker", CheckStatus.CRITICAL, f"broker unreachable: {type(exc).__name__}: {exc}")
    return CheckResult("broker", CheckStatus.OK, f"{transport} reachable")


def check_workers() -> CheckResult:
    try:
        replies = app.control.ping(timeout=1.0)
    except Exception as exc:
        return CheckResult("workers", CheckStatus.CRITICAL, f"cannot ping workers: {type(exc).__name__}: {exc}")
    if not replies:
        # The embedded broker cannot broadcast; a recent heartbeat run proves a worker instead.
        recent = job_freshness(job_name="governance.heartbeat")
        if recent and recent["last_success_at"] and timezone.now() - recent["last_success_at"] < timedelta(minutes=3):
            return CheckResult("workers", CheckStatus.OK, "a worker ran the heartbeat job recently")
        return CheckResult("workers", CheckStatus.CRITICAL, "no Celery worker answered a ping")
    names = sorted(name for reply in replies for name in reply)
    return CheckResult("workers", CheckStatus.OK, f"{len(names)} worker(s): {', '.join(names)}")


def check_jobs() -> list[CheckResult]:
    """Each scheduled job's last success against its expected interval."""
    from .registries import scheduled_jobs

    now = timezone.now()
    freshness = jobs_freshness(job_names=[job.name for job in scheduled_jobs])
    installed_at = None
    results = []
    for job in scheduled_jobs:
        fresh = freshness.get(job.name, {})
        last = fresh.get("last_success_at")
        name = f"job:{job.name}"
        data = {
            "last_success_at": last.isoformat() if last else None,
            "expected_every_seconds": int(job.expected_every.total_seconds()),
        }
        if last is None:
            # Never succeeded: measured from the install, so a fresh platform is not red
            # before a daily job's first turn, and one that never runs still turns red.
            installed_at = installed_at or platform_installed_at() or now
            age = now - installed_at
            detail = f"no successful run in the {int(age.total_seconds())} s since install"
        else:
            age = now - last
            detail = f"last success {int(age.total_seconds())} s ago"
        if age > job.expected_every * 3:
            status = CheckStatus.CRITICAL
        elif age > job.expected_every * 1.5:
            status = CheckStatus.WARNING
        else:
            status = CheckStatus.OK
        results.append(CheckResult(name, status, detail, data))
    return results


def check_audit_chain() -> CheckResult:
    from .chain import chain_status

    status = chain_status()
    if not status.ok:
        return CheckResult("audit_chain", CheckStatus.CRITICAL, status.detail, {"head_seq": status.head_seq})
    if status.last_verified_at is None:
        return CheckResult("audit_chain", CheckStatus.WARNING, status.detail, {"head_seq": status.head_seq})
    return CheckResult("audit_chain", CheckStatus.OK, status.detail, {"head_seq": status.head_seq})


health_checks.register("database", HealthCheck("database", check_database, readiness=True))
health_checks.register("broker", HealthCheck("broker", check_broker, readiness=True))
health_checks.register("workers", HealthCheck("workers", check_workers))
health_checks.register("jobs", HealthCheck("jobs", check_jobs))
health_checks.register("audit_chain", HealthCheck("audit_chain", check_audit_chain))
