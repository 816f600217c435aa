import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from governance.models import AuditEvent, Service, Team

pytestmark = pytest.mark.django_db


def test_seed_demo_is_idempotent_and_shows_the_password_once(capsys):
    call_command("seed_demo")
    first = capsys.readouterr().out
    counts = (get_user_model().objects.count(), Team.objects.count(), Service.objects.count())
    call_command("seed_demo")
    second = capsys.readouterr().out
    assert (get_user_model().objects.count(), Team.objects.count(), Service.objects.count()) == counts
    assert "password: " in first
    assert "password: " not in second
    password = first.split("password: ", 1)[1].split()[0]
    assert get_user_model().objects.get(username="demo-admin").check_password(password)


def test_demo_catalog_writes_are_audited():
    call_command("seed_demo")
    assert (
        AuditEvent.objects.filter(action="create", object_type="governance.service").count()
        == Service.objects.exclude(slug="unassigned").count()  # the one a migration creates
        > 0
    )


@pytest.mark.parametrize("hour", [3, 12], ids=["03:00 UTC", "12:00 UTC"])
def test_every_demo_team_has_a_primary_and_a_secondary_right_after_seed_demo(hour):
    # Monday: before 09:00 Berlin the week's hand-off has not happened yet, the case that left nobody on call.
    import datetime as dt

    import time_machine

    from alerting.models import OnCallRotation
    from alerting.selectors import who_is_on_call

    with time_machine.travel(dt.datetime(2026, 11, 23, hour, 0, tzinfo=dt.UTC), tick=False):
        call_command("seed_demo")
        teams = [rotation.team for rotation in OnCallRotation.objects.select_related("team")]
        assert teams
        for team in teams:
            on_call = who_is_on_call(team)
            assert on_call.primary is not None, team.name
            assert on_call.secondary is not None, team.name
            assert on_call.primary != on_call.secondary


def _coverage_line(capsys) -> dict:
    import json

    with pytest.raises(SystemExit):
        call_command("ops_status", "--json")
    checks = json.loads(capsys.readouterr().out)["checks"]
    return next(check for check in checks if check["name"] == "oncall_coverage")


def test_coverage_is_not_reported_ok_before_a_coverage_check_ran(capsys):
    line = _coverage_line(capsys)
    assert line["status"] == "warning"
    assert line["detail"].startswith("not checked yet")


def test_seed_demo_runs_the_coverage_check_so_the_line_reports_its_real_result(capsys):
    from governance.models import JobRun

    call_command("seed_demo")
    capsys.readouterr()
    assert JobRun.objects.filter(job="alerting.coverage_check", outcome="succeeded").exists()
    line = _coverage_line(capsys)
    assert line["status"] == "ok", line
    assert line["detail"] == "the last coverage check found no on-call gap in the next 14 days"


def test_a_coverage_answer_older_than_its_interval_is_stale(capsys):
    import datetime as dt

    import time_machine
    from django.utils import timezone

    call_command("seed_demo")
    capsys.readouterr()
    with time_machine.travel(timezone.now() + dt.timedelta(days=2)):
        line = _coverage_line(capsys)
    assert line["status"] == "warning"
    assert line["detail"].startswith("stale: alerting.coverage_check last succeeded 48 h ago")


def test_the_coverage_job_is_due_at_beat_s_first_tick_on_a_new_install():
    from django_celery_beat.models import PeriodicTask
    from django_celery_beat.schedulers import ModelEntry

    from governance.jobs import sync_schedules

    sync_schedules()  # as migrate does (a transactional test before this one may have flushed the tables)
    task = PeriodicTask.objects.get(name="alerting.coverage_check")
    assert ModelEntry(task).is_due().is_due
    heartbeat = PeriodicTask.objects.get(name="governance.heartbeat")
    assert heartbeat.last_run_at is None  # other jobs keep beat's default: first run one interval later
