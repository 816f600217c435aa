"""slos_evaluate: one line per SLO, as the scheduled job evaluates."""

from datetime import UTC, datetime

import pytest
import time_machine
from django.core.management import CommandError, call_command

from governance.models import JobRun
from slos.models import SLOStatus

from .conftest import hourly_history, push

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
pytestmark = pytest.mark.django_db


def test_slos_evaluate_prints_one_line_per_slo(pushed_slo, capsys):
    push(pushed_slo, hourly_history(NOW, hours=48, total=1000, bad=0))
    with time_machine.travel(NOW, tick=False):
        call_command("slos_evaluate")
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("checkout-availability: ok sli=1.000000 budget_remaining=1.0000")
    assert out[-1] == "1 SLO(s) evaluated, 0 burning, 0 unknown"
    assert SLOStatus.objects.filter(slo=pushed_slo).count() == 1


def test_slos_evaluate_refuses_an_unknown_slug(db):
    with pytest.raises(CommandError):
        call_command("slos_evaluate", "--slo", "nope")


def test_the_scheduled_job_runs_through_the_ledger(pushed_slo):
    from slos.tasks import evaluate

    evaluate.apply()
    run = JobRun.objects.get(job="slos.evaluate")
    assert run.outcome == "succeeded"
    assert run.summary == "1 SLO(s) evaluated, 0 burning, 1 unknown"


@pytest.mark.integration
@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_the_worker_runs_the_evaluation_job(celery_worker, service):
    from decimal import Decimal

    from celery import current_app
    from django.utils import timezone

    from slos.services import slo_save
    from tests.conftest import wait_for

    slo, _ = slo_save(slug="worker-slo", name="Worker SLO", service=service, objective=Decimal("0.99"))
    top = timezone.now().replace(minute=0, second=0, microsecond=0)
    push(slo, hourly_history(top, hours=3, total=1000, bad=5))
    current_app.send_task("slos.evaluate")
    run = wait_for(
        lambda: JobRun.objects.filter(job="slos.evaluate").exclude(outcome="running").first(),
        timeout=30,
        message=f"the worker did not run the job:\n{celery_worker.log()[-3000:]}",
    )
    assert run.outcome == "succeeded", run.summary
    assert run.summary == "1 SLO(s) evaluated, 0 burning, 0 unknown"
    status = SLOStatus.objects.get(slo=slo)
    assert status.sli == pytest.approx(0.995) and status.budget_status == "ok"
