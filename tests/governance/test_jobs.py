import json
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from governance.choices import CheckStatus, JobOutcome
from governance.health import check_jobs
from governance.jobs import run_recorded, sync_schedules
from governance.models import JobRun
from governance.registries import HealthCheck, ScheduledJob, health_checks, scheduled_jobs, status_sources
from governance.selectors import platform_installed_at
from governance.tasks import heartbeat

pytestmark = pytest.mark.django_db


def test_a_successful_run_is_recorded_with_its_summary():
    heartbeat()
    run = JobRun.objects.get(job="governance.heartbeat")
    assert run.outcome == JobOutcome.SUCCEEDED
    assert run.summary.startswith("alive at ")
    assert run.finished_at >= run.started_at


def test_a_failed_run_is_recorded_and_the_error_reraised():
    def explode():
        raise ValueError("backup target unreachable")

    with pytest.raises(ValueError):
        run_recorded("tests.explode", explode)
    run = JobRun.objects.get(job="tests.explode")
    assert run.outcome == JobOutcome.FAILED
    assert run.summary == "ValueError: backup target unreachable"


def test_declared_schedules_are_synced_into_beat():
    task = PeriodicTask.objects.get(name="governance.heartbeat")
    assert task.task == "governance.heartbeat"
    assert task.interval.every == 60
    assert json.loads(task.kwargs) == {}


def test_sync_keeps_a_schedule_disabled_in_the_admin():
    PeriodicTask.objects.filter(name="governance.heartbeat").update(enabled=False)
    created = sync_schedules()
    assert created == 0
    assert PeriodicTask.objects.get(name="governance.heartbeat").enabled is False


def test_sync_repairs_a_changed_schedule():
    PeriodicTask.objects.filter(name="governance.heartbeat").update(task="something.else")
    sync_schedules()
    assert PeriodicTask.objects.get(name="governance.heartbeat").task == "governance.heartbeat"


def test_crontab_jobs_are_synced(monkeypatch):
    job = ScheduledJob(name="tests.quarterly", task="tests.quarterly", crontab={"minute": "5", "hour": "6"})
    scheduled_jobs.register(job.name, job)
    try:
        sync_schedules()
    finally:
        scheduled_jobs.unregister(job.name)
    task = PeriodicTask.objects.get(name="tests.quarterly")
    assert (task.crontab.minute, task.crontab.hour) == ("5", "6")


def _heartbeat_status():
    return next(r for r in check_jobs() if r.name == "job:governance.heartbeat")


def test_a_job_that_never_ran_is_measured_from_the_install(time_machine):
    installed = platform_installed_at()
    time_machine.move_to(installed + timedelta(seconds=30), tick=False)
    assert _heartbeat_status().status == CheckStatus.OK  # its first turn is not due yet
    time_machine.move_to(installed + timedelta(seconds=100), tick=False)
    assert _heartbeat_status().status == CheckStatus.WARNING
    time_machine.move_to(installed + timedelta(seconds=200), tick=False)
    result = _heartbeat_status()
    assert result.status == CheckStatus.CRITICAL
    assert result.detail == "no successful run in the 200 s since install"


def test_job_freshness_follows_the_expected_interval(time_machine):
    start = timezone.now()
    time_machine.move_to(start, tick=False)
    heartbeat()
    assert _heartbeat_status().status == CheckStatus.OK
    time_machine.move_to(start + timedelta(seconds=100), tick=False)
    assert _heartbeat_status().status == CheckStatus.WARNING
    time_machine.move_to(start + timedelta(seconds=200), tick=False)
    assert _heartbeat_status().status == CheckStatus.CRITICAL


@pytest.fixture
def only_checks():
    """Replace the registered checks and status sources for one test."""
    saved = (dict(health_checks._items), dict(status_sources._items))
    health_checks._items.clear()
    status_sources._items.clear()
    yield health_checks
    health_checks._items.clear()
    health_checks._items.update(saved[0])
    status_sources._items.update(saved[1])


@pytest.mark.parametrize(("status", "code"), [("ok", 0), ("warning", 1), ("critical", 2)])
def test_ops_status_exit_code_is_the_worst_status(only_checks, capsys, status, code):
    from governance.health import CheckResult

    only_checks.register("fine", HealthCheck("fine", lambda: CheckResult("fine", CheckStatus.OK, "all good")))
    only_checks.register("probe", HealthCheck("probe", lambda: CheckResult("probe", CheckStatus(status), "probed")))
    with pytest.raises(SystemExit) as excinfo:
        call_command("ops_status")
    assert excinfo.value.code == code
    assert f"Vigil is {status}" in capsys.readouterr().out.splitlines()[-1]


def test_ops_status_json_lists_every_check(capsys):
    with pytest.raises(SystemExit):
        call_command("ops_status", "--json")
    body = json.loads(capsys.readouterr().out)
    names = {check["name"] for check in body["checks"]}
    assert {"database", "broker", "workers", "job:governance.heartbeat"} <= names
