"""The procedures job through a real Celery worker on real Redis: registered, serialisable,
recorded in the job ledger, and it creates the due execution in the shared database."""

from datetime import timedelta

import pytest
from celery import current_app
from django.utils import timezone

from governance.models import JobRun
from runbooks.models import Runbook, RunbookExecution
from tests.conftest import wait_for

from .conftest import make_runbook

pytestmark = [pytest.mark.integration, pytest.mark.redis]


def test_the_worker_runs_the_procedures_job_and_creates_the_due_execution(celery_worker, service, author, approver):
    runbook = make_runbook(service, author, approver, slug="every-minute", severities=[], cadence="* * * * *")
    # The schedule began an hour ago (set up directly: the service starts a new schedule "now").
    Runbook.objects.filter(pk=runbook.pk).update(cadence_since=timezone.now() - timedelta(hours=1))

    current_app.send_task("runbooks.procedures")
    run = wait_for(
        lambda: JobRun.objects.filter(job="runbooks.procedures").exclude(outcome="running").first(),
        timeout=30,
        message=f"the worker did not run the job:\n{celery_worker.log()[-3000:]}",
    )
    assert run.outcome == "succeeded", run.summary
    assert run.summary.startswith("1 procedure execution(s) created")
    execution = RunbookExecution.objects.get(runbook=runbook)
    assert execution.purpose == "procedure" and execution.status == "pending"
    assert execution.scheduled_for <= timezone.now() and execution.scheduled_for.second == 0
