"""A real Celery worker on real Redis runs the automated drill the daily scheduler queued."""

import datetime as dt
from pathlib import Path

import pytest
from django.core.management import call_command

from backups import executors, tasks
from backups.choices import DrillStatus
from backups.models import BackupRun, BackupTarget, RestoreDrill
from tests.conftest import wait_for


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_runs_the_queued_automated_drill(celery_worker, tmp_path, capsys):
    call_command("ops_backup", "create", "--out", str(tmp_path), "--quiet")
    path = Path(capsys.readouterr().out.strip().splitlines()[-1])
    run = BackupRun.objects.get(location=str(path))
    BackupTarget.objects.filter(pk=run.target_id).update(created_at=run.started_at - dt.timedelta(days=1))

    tasks.drill_scheduler()  # queues the drill through the broker on commit

    drill = RestoreDrill.objects.get()
    done = wait_for(
        lambda: RestoreDrill.objects.filter(pk=drill.pk, status__in=[DrillStatus.PASSED, DrillStatus.FAILED]).first(),
        timeout=120,
        message=f"the worker did not run drill {drill.pk}:\n{celery_worker.log()[-3000:]}",
    )
    assert done.status == DrillStatus.PASSED, done.failure_reason
    assert done.checks.filter(name="row counts", passed=True).exists()
    assert not executors.database_exists(executors.default_database(), done.scratch_name)
