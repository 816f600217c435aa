"""Executions: started for an incident, each step on its timeline; drills and procedures without one."""

import subprocess

import pytest

from governance.errors import Conflict, ValidationFailed
from incidents.models import IncidentEvent
from incidents.services import incident_declare
from runbooks import services
from runbooks.models import RunbookExecution
from runbooks.selectors import runbooks_for_incident
from tests.conftest import ROOT

from .conftest import make_runbook

pytestmark = pytest.mark.django_db


@pytest.fixture
def incident(service, commander):
    return incident_declare(title="Checkout 502s", severity="SEV1", service=service, commander=commander)


def runbook_events(incident):
    return list(IncidentEvent.objects.filter(incident=incident, kind="runbook_step").order_by("occurred_at", "id"))


def test_each_step_outcome_lands_on_the_incident_timeline(runbook, incident, responder):
    execution = services.execution_start(
        version=runbook.current_version, purpose="incident", incident=incident, actor=responder
    )
    assert execution.status == "in_progress" and execution.assignee == responder
    services.execution_step_record(execution=execution, step=1, outcome="done", output="exit 0", actor=responder)
    services.execution_step_record(execution=execution, step=2, outcome="failed", output="no rollout", actor=responder)
    services.execution_complete(execution=execution, actor=responder)
    events = runbook_events(incident)
    messages = [e.message for e in events]
    assert messages[0] == "Runbook «Checkout errors» v1: started"
    assert messages[1] == "Runbook «Checkout errors» v1, step 1 (Check the error rate): done — exit 0"
    assert messages[2] == "Runbook «Checkout errors» v1, step 2 (Roll back the deploy): failed — no rollout"
    assert messages[3].startswith("Runbook «Checkout errors» v1: completed (failed")
    assert all(e.actor == responder for e in events)
    assert events[1].data == {
        "runbook": "Checkout errors",
        "version": 1,
        "execution_id": execution.pk,
        "step": 1,
        "outcome": "done",
    }
    execution.refresh_from_db()
    assert execution.status == "completed" and execution.result == "failed"


def test_a_step_is_recorded_once(runbook, incident, responder):
    execution = services.execution_start(
        version=runbook.current_version, purpose="incident", incident=incident, actor=responder
    )
    services.execution_step_record(execution=execution, step=1, outcome="done", actor=responder)
    with pytest.raises(Conflict):
        services.execution_step_record(execution=execution, step=1, outcome="skipped", actor=responder)


def test_an_unknown_step_or_outcome_is_a_validation_error_naming_the_field(runbook, incident, responder):
    execution = services.execution_start(
        version=runbook.current_version, purpose="incident", incident=incident, actor=responder
    )
    with pytest.raises(ValidationFailed) as exc:
        services.execution_step_record(execution=execution, step=9, outcome="done", actor=responder)
    assert "step" in exc.value.fields
    with pytest.raises(ValidationFailed) as exc:
        services.execution_step_record(execution=execution, step=1, outcome="maybe", actor=responder)
    assert "outcome" in exc.value.fields


def test_completion_needs_every_step(runbook, incident, responder):
    execution = services.execution_start(
        version=runbook.current_version, purpose="incident", incident=incident, actor=responder
    )
    services.execution_step_record(execution=execution, step=1, outcome="done", actor=responder)
    with pytest.raises(Conflict, match="step\\(s\\) 2"):
        services.execution_complete(execution=execution, actor=responder)


def test_a_draft_version_cannot_be_run(service, author, incident, responder):
    runbook = make_runbook(service, author, publish=False, slug="draft-only")
    with pytest.raises(Conflict):
        services.execution_start(version=runbook.versions.get(), purpose="incident", incident=incident, actor=responder)


def test_a_drill_execution_needs_no_incident_and_writes_no_timeline(runbook, approver):
    execution = services.execution_start(version=runbook.current_version, purpose="drill", actor=approver)
    services.execution_step_record(execution=execution, step=1, outcome="done", actor=approver)
    services.execution_step_record(execution=execution, step=2, outcome="skipped", actor=approver)
    services.execution_complete(execution=execution, actor=approver)
    execution.refresh_from_db()
    assert execution.incident is None and execution.result == "succeeded"
    assert not IncidentEvent.objects.filter(kind="runbook_step").exists()


def test_incident_execution_without_incident_is_refused(runbook, responder):
    with pytest.raises(ValidationFailed) as exc:
        services.execution_start(version=runbook.current_version, purpose="incident", actor=responder)
    assert "incident" in exc.value.fields
    assert not RunbookExecution.objects.exists()


def test_matching_runbooks_follow_service_severity_and_alert_names(service, author, approver, commander):
    sev1 = make_runbook(service, author, approver, slug="sev1-only", severities=["SEV1"])
    make_runbook(service, author, approver, slug="sev3-only", severities=["SEV3"])
    any_severity = make_runbook(service, author, approver, slug="any", severities=[])
    make_runbook(service, author, publish=False, slug="draft", severities=["SEV1"])
    incident = incident_declare(title="x", severity="SEV1", service=service, commander=commander)
    assert {r.slug for r in runbooks_for_incident(incident)} == {sev1.slug, any_severity.slug}


def test_incidents_still_do_not_import_runbooks():
    result = subprocess.run([str(ROOT / ".venv" / "bin" / "lint-imports")], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
