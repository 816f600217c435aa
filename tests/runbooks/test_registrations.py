"""What runbooks register with the kernel: scorecard dimension, ops_status lines, gauges, jobs,
the dashboard panel and the demo seeder."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from governance.choices import CheckStatus
from governance.registries import (
    dashboard_panels,
    demo_seeders,
    metrics,
    object_panels,
    scheduled_jobs,
    scorecard_dimensions,
    status_sources,
)
from incidents.models import Alert
from incidents.services import incident_declare
from runbooks.models import Runbook, RunbookVersion
from tests.factories import ServiceFactory

from .conftest import make_runbook

pytestmark = pytest.mark.django_db


def test_everything_is_registered():
    assert "runbook_completeness" in scorecard_dimensions
    assert "runbooks" in status_sources and "runbooks" in dashboard_panels and "runbooks" in demo_seeders
    assert object_panels.get("runbooks").model == "incidents.incident"
    assert {"runbooks.procedures", "runbooks.review_reminders"} <= {job.name for job in scheduled_jobs}
    assert {"vigil_runbooks_review_overdue", "vigil_runbook_procedures"} <= {name for name, _ in metrics.items()}


def test_the_completeness_score_follows_the_facts(service, author, approver, commander, time_machine):
    dimension = scorecard_dimensions.get("runbook_completeness")
    ServiceFactory(slug="ledger", name="Ledger", tier=1)
    incident = incident_declare(title="Down", severity="SEV1", service=service, commander=commander)
    now = timezone.now()
    Alert.objects.create(
        incident=incident, fingerprint="f1", starts_at=now, status="firing", alertname="CheckoutDown",
        labels={}, first_seen_at=now, last_seen_at=now,
    )  # fmt: skip
    empty = dimension.score()
    assert empty["score"] == round(100 * (0 + 0 + 0) / 3)
    assert "0 of 2 tier-1 service(s) have a published runbook" in empty["facts"]
    assert "0 of 1 SEV1 alert name(s) have a published runbook" in empty["facts"]

    make_runbook(service, author, approver, alert_names=["CheckoutDown"])
    covered = dimension.score()
    assert covered["score"] == round(100 * (0.5 + 1 + 1) / 3)
    assert any("ledger" in step for step in covered["next_steps"])

    time_machine.move_to(now + timedelta(days=91), tick=False)
    stale = dimension.score()
    assert "1 published runbook(s), 1 overdue for review" in stale["facts"]
    assert stale["score"] < covered["score"]


def test_ops_status_warns_about_overdue_reviews(runbook, time_machine):
    lines = {line.name: line for line in status_sources.get("runbooks").collect()}
    assert lines["runbooks:reviews"].status == CheckStatus.OK
    time_machine.move_to(timezone.now() + timedelta(days=91), tick=False)
    lines = {line.name: line for line in status_sources.get("runbooks").collect()}
    assert lines["runbooks:reviews"].status == CheckStatus.WARNING
    assert "checkout-errors" in lines["runbooks:reviews"].detail
    samples = list(metrics.get("vigil_runbooks_review_overdue").collect())
    assert samples == [({}, 1)]


def test_the_dashboard_panel_renders_for_a_viewer(rf, runbook, approver):
    request = rf.get("/admin/")
    request.user = approver
    html = dashboard_panels.get("runbooks").render(request)
    assert 'id="runbooks-panel"' in html and "Coverage report" in html


def test_the_demo_seeder_loads_the_starters_once_and_gives_them_an_owner():
    call_command("seed_demo")
    count = RunbookVersion.objects.count()
    assert count >= 10
    assert not Runbook.objects.filter(owner_team__isnull=True).exists()
    call_command("seed_demo")
    assert RunbookVersion.objects.count() == count


def test_the_evidence_exporters_list_approvals_reviews_and_executions(runbook, approver, responder):
    from governance.registries import evidence_exporters
    from runbooks import services

    services.runbook_review(runbook=runbook, outcome="still_valid", actor=approver)
    execution = services.execution_start(version=runbook.current_version, purpose="drill", actor=approver)
    services.execution_step_record(execution=execution, step=1, outcome="done", actor=approver)
    start, end = timezone.now() - timedelta(days=1), timezone.now() + timedelta(days=1)
    _, versions = evidence_exporters.get("runbook_versions").export(start, end)
    assert versions[0][:2] == ["checkout-errors", 1] and versions[0][3:5] == ["author", "approver"]
    _, reviews = evidence_exporters.get("runbook_reviews").export(start, end)
    assert reviews[0][2:5][0] == "approver" and reviews[0][4] == "still_valid"
    columns, executions = evidence_exporters.get("runbook_executions").export(start, end)
    assert executions[0][columns.index("steps")] == "1:done:approver"
    assert evidence_exporters.get("runbook_executions").export(end, end + timedelta(days=1))[1] == []


def test_seeding_twice_changes_nothing_the_second_time():
    from governance.models import AuditEvent

    call_command("seed_demo")
    before = AuditEvent.objects.filter(object_type__startswith="runbooks.").count()
    call_command("seed_demo")
    assert AuditEvent.objects.filter(object_type__startswith="runbooks.").count() == before
