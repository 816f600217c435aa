import datetime as dt
import hashlib
import threading

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from governance.choices import Severity
from governance.errors import Conflict, ValidationFailed
from governance.models import AuditEvent
from incidents import services
from incidents.calendar import add_business_days
from incidents.choices import EventKind, IncidentStatus, PostmortemStatus
from incidents.models import Incident, IncidentEvent, Postmortem, SeverityPolicy

from .conftest import publish_postmortem
from .factories import IncidentFactory

pytestmark = pytest.mark.django_db


def kinds(incident):
    return list(
        IncidentEvent.objects.filter(incident=incident).order_by("occurred_at", "id").values_list("kind", flat=True)
    )


def audit_actions(incident):
    return list(
        AuditEvent.objects.filter(object_type="incidents.incident", object_id=str(incident.pk))
        .order_by("id")
        .values_list("action", flat=True)
    )


# --- policies ---------------------------------------------------------------------------------


def test_seeded_policies_match_the_issue():
    rows = {
        p.severity: (p.ack_minutes, p.update_every_minutes, p.postmortem_required, p.postmortem_due_business_days)
        for p in SeverityPolicy.objects.all()
    }
    assert rows == {"SEV1": (5, 30, True, 5), "SEV2": (15, 60, True, 5), "SEV3": (60, None, False, 5)}


def test_declaration_copies_the_policy_and_starts_the_ack_clock(commander, service):
    with time_machine.travel(dt.datetime(2026, 3, 2, 3, 0, tzinfo=dt.UTC), tick=False):
        incident = IncidentFactory(severity=Severity.SEV1, service=service, commander=commander)
    assert incident.reference == f"INC-{incident.pk}"
    assert incident.status == IncidentStatus.DECLARED
    assert incident.ack_due_at == dt.datetime(2026, 3, 2, 3, 5, tzinfo=dt.UTC)
    assert incident.next_update_due_at == dt.datetime(2026, 3, 2, 3, 30, tzinfo=dt.UTC)
    assert (incident.ack_minutes, incident.update_every_minutes, incident.postmortem_required) == (5, 30, True)


def test_incident_keeps_the_policy_it_was_declared_under(incident):
    SeverityPolicy.objects.filter(severity="SEV1").update(ack_minutes=1, postmortem_required=False)
    incident.refresh_from_db()
    assert incident.ack_minutes == 5
    assert incident.postmortem_required is True
    later = IncidentFactory(severity=Severity.SEV1)
    assert later.ack_minutes == 1


def test_declaration_writes_timeline_and_audit(incident):
    assert kinds(incident) == [EventKind.DECLARED, EventKind.ROLE_ASSIGNED]
    assert audit_actions(incident) == ["incident.declare"]


def test_declaration_without_title_is_refused(service):
    with pytest.raises(ValidationFailed) as excinfo:
        services.incident_declare(title=" ", severity="SEV1", service=service)
    assert "title" in excinfo.value.fields


def test_declaration_with_unknown_severity_is_refused(service):
    with pytest.raises(ValidationFailed) as excinfo:
        services.incident_declare(title="x", severity="SEV9", service=service)
    assert "severity" in excinfo.value.fields


def test_dedup_key_of_an_open_incident_returns_it(service):
    first, created = services.incident_declare_or_get(dedup_key="db-down", title="DB", severity="SEV2", service=service)
    again, created_again = services.incident_declare_or_get(
        dedup_key="db-down", title="DB again", severity="SEV2", service=service
    )
    assert (created, created_again) == (True, False)
    assert again.pk == first.pk


def test_dedup_key_of_a_resolved_incident_opens_a_new_one(service, commander):
    first, _ = services.incident_declare_or_get(dedup_key="db-down", title="DB", severity="SEV3", service=service)
    services.incident_acknowledge(incident=first, actor=commander)
    services.incident_resolve(incident=first, actor=commander)
    second, created = services.incident_declare_or_get(
        dedup_key="db-down", title="DB", severity="SEV3", service=service
    )
    assert created
    assert second.pk != first.pk


# --- acknowledge --------------------------------------------------------------------------------


def test_acknowledge_moves_declared_to_acknowledged(incident, responder):
    acknowledged = services.incident_acknowledge(incident=incident, actor=responder)
    assert acknowledged.status == IncidentStatus.ACKNOWLEDGED
    assert acknowledged.acknowledged_by == responder
    assert kinds(incident)[-1] == EventKind.ACKNOWLEDGED
    assert audit_actions(incident)[-1] == "incident.acknowledge"


def test_second_ack_keeps_first_timestamp(incident, commander, responder):
    first = services.incident_acknowledge(incident=incident, actor=commander)
    with time_machine.travel(dt.timedelta(minutes=3)):
        second = services.incident_acknowledge(incident=incident, actor=responder)
    assert second.acknowledged_at == first.acknowledged_at
    assert second.acknowledged_by == commander
    assert kinds(incident).count(EventKind.ACKNOWLEDGED) == 1
    assert audit_actions(incident).count("incident.acknowledge") == 1


@pytest.mark.django_db(transaction=True)
def test_thirty_concurrent_acknowledgements_record_one(postgres_only, commander, service):
    incident = IncidentFactory(service=service, commander=commander)
    barrier = threading.Barrier(30)
    errors, stamps = [], []

    def ack():
        try:
            barrier.wait(timeout=10)
            stamps.append(services.incident_acknowledge(incident=incident.pk, actor=commander).acknowledged_at)
        except Exception as exc:  # collected and asserted below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=ack) for _ in range(30)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(set(stamps)) == 1
    assert IncidentEvent.objects.filter(incident=incident, kind=EventKind.ACKNOWLEDGED).count() == 1
    assert Incident.objects.get(pk=incident.pk).acknowledged_at == stamps[0]


# --- transitions ---------------------------------------------------------------------------------


def test_mitigate_after_acknowledge(acknowledged, commander):
    incident = services.incident_mitigate(incident=acknowledged, actor=commander, note="rolled back")
    assert incident.status == IncidentStatus.MITIGATED
    assert incident.mitigated_at is not None
    event = IncidentEvent.objects.filter(incident=incident, kind=EventKind.MITIGATED).get()
    assert event.message == "rolled back"


def test_mitigate_before_acknowledge_is_refused(incident, commander):
    with pytest.raises(Conflict) as excinfo:
        services.incident_mitigate(incident=incident, actor=commander)
    assert excinfo.value.code == "invalid_transition"


def test_resolve_before_acknowledge_is_refused(incident, commander):
    with pytest.raises(Conflict) as excinfo:
        services.incident_resolve(incident=incident, actor=commander)
    assert excinfo.value.code == "invalid_transition"


def test_resolve_from_mitigated(acknowledged, commander):
    services.incident_mitigate(incident=acknowledged, actor=commander)
    incident = services.incident_resolve(incident=acknowledged, actor=commander)
    assert incident.status == IncidentStatus.RESOLVED
    assert incident.next_update_due_at is None


def test_resolving_a_sev1_drafts_a_postmortem_due_in_five_business_days(acknowledged, commander, settings):
    settings.HOLIDAY_COUNTRY = None
    with time_machine.travel(dt.datetime(2026, 3, 6, 15, 0, tzinfo=dt.UTC), tick=False):  # a Friday
        incident = services.incident_resolve(incident=acknowledged, actor=commander)
    assert incident.postmortem_due_at == dt.datetime(2026, 3, 13, 15, 0, tzinfo=dt.UTC)
    postmortem = Postmortem.objects.get(incident=incident)
    assert postmortem.status == PostmortemStatus.DRAFT
    assert postmortem.due_at == incident.postmortem_due_at


def test_business_days_skip_the_holiday_calendar():
    # Whit Monday 2026-05-25 is a public holiday in Germany.
    friday = dt.datetime(2026, 5, 22, 12, 0, tzinfo=dt.UTC)
    assert add_business_days(friday, 5, country="") == dt.datetime(2026, 5, 29, 12, 0, tzinfo=dt.UTC)
    assert add_business_days(friday, 5, country="DE") == dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)


def test_resolving_a_sev3_needs_no_postmortem(commander, service):
    incident = IncidentFactory(severity=Severity.SEV3, service=service, commander=commander)
    services.incident_acknowledge(incident=incident, actor=commander)
    incident = services.incident_resolve(incident=incident, actor=commander)
    assert incident.postmortem_due_at is None
    assert not Postmortem.objects.filter(incident=incident).exists()


def test_close_before_resolve_is_refused(acknowledged, commander):
    with pytest.raises(Conflict) as excinfo:
        services.incident_close(incident=acknowledged, actor=commander)
    assert excinfo.value.code == "invalid_transition"


def test_closing_a_sev1_without_published_postmortem_is_refused(resolved, commander):
    with pytest.raises(Conflict) as excinfo:
        services.incident_close(incident=resolved, actor=commander)
    assert excinfo.value.code == "postmortem_required"
    assert Incident.objects.get(pk=resolved.pk).status == IncidentStatus.RESOLVED


def test_closing_a_sev1_with_published_postmortem(resolved, commander):
    publish_postmortem(resolved, commander)
    incident = services.incident_close(incident=resolved, actor=commander)
    assert incident.status == IncidentStatus.CLOSED
    assert kinds(incident)[-1] == EventKind.CLOSED
    assert audit_actions(incident)[-1] == "incident.close"


def test_closing_a_sev3_needs_no_postmortem(commander, service):
    incident = IncidentFactory(severity=Severity.SEV3, service=service, commander=commander)
    services.incident_acknowledge(incident=incident, actor=commander)
    services.incident_resolve(incident=incident, actor=commander)
    assert services.incident_close(incident=incident, actor=commander).status == IncidentStatus.CLOSED


def test_closed_incident_refuses_every_transition(resolved, commander):
    publish_postmortem(resolved, commander)
    services.incident_close(incident=resolved, actor=commander)
    for transition in (services.incident_mitigate, services.incident_resolve, services.incident_close):
        with pytest.raises(Conflict):
            transition(incident=resolved, actor=commander)
    with pytest.raises(Conflict):
        services.incident_post_update(incident=resolved, message="late", actor=commander)


# --- severity, roles, updates, evidence ------------------------------------------------------------


def test_severity_change_is_recorded_with_reason(incident, commander):
    changed = services.incident_change_severity(
        incident=incident, severity=Severity.SEV3, reason="only staging", actor=commander
    )
    assert changed.severity == Severity.SEV3
    assert changed.ack_due_at == changed.declared_at + dt.timedelta(minutes=60)
    event = IncidentEvent.objects.get(incident=incident, kind=EventKind.SEVERITY_CHANGED)
    assert event.data == {"before": "SEV1", "after": "SEV3", "reason": "only staging"}
    assert "incident.change_severity" in audit_actions(incident)


def test_severity_change_needs_a_reason(incident, commander):
    with pytest.raises(ValidationFailed):
        services.incident_change_severity(incident=incident, severity=Severity.SEV2, reason="", actor=commander)


def test_assign_roles_records_each_role(incident, commander, responder):
    services.incident_assign_roles(incident=incident, actor=commander, communications_lead=responder, scribe=commander)
    incident.refresh_from_db()
    assert (incident.communications_lead, incident.scribe) == (responder, commander)
    roles = IncidentEvent.objects.filter(incident=incident, kind=EventKind.ROLE_ASSIGNED).values_list(
        "data__role", flat=True
    )
    assert sorted(roles) == ["commander", "communications_lead", "scribe"]


def test_status_update_restarts_the_cadence_clock(incident, commander):
    with time_machine.travel(incident.declared_at + dt.timedelta(minutes=20), tick=False):
        services.incident_post_update(incident=incident, message="Investigating.", actor=commander)
    incident.refresh_from_db()
    assert incident.next_update_due_at == incident.declared_at + dt.timedelta(minutes=50)
    assert kinds(incident)[-1] == EventKind.STATUS_UPDATE


def test_evidence_records_its_sha256(incident, commander, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    upload = SimpleUploadedFile("kubectl-logs.txt", b"panic: nil pointer\n")
    evidence = services.evidence_preserve(incident=incident, file=upload, description="pod logs", actor=commander)
    assert evidence.sha256 == hashlib.sha256(b"panic: nil pointer\n").hexdigest()
    assert evidence.size_bytes == 19
    assert evidence.file.read() == b"panic: nil pointer\n"
    assert kinds(incident)[-1] == EventKind.EVIDENCE_PRESERVED


def test_details_change_records_fields(incident, commander):
    services.incident_update_details(incident=incident, actor=commander, title="Checkout down", chat_url="")
    event = IncidentEvent.objects.filter(incident=incident, kind=EventKind.DETAILS_CHANGED).get()
    assert event.data == {"fields": ["title"]}


# --- postmortems and action items --------------------------------------------------------------------


def test_postmortem_cannot_be_published_from_draft(resolved, commander):
    postmortem = Postmortem.objects.get(incident=resolved)
    with pytest.raises(Conflict):
        services.postmortem_publish(postmortem=postmortem, actor=commander)


def test_postmortem_publish_needs_root_cause(resolved, commander):
    postmortem = Postmortem.objects.get(incident=resolved)
    services.postmortem_submit(postmortem=postmortem, actor=commander)
    with pytest.raises(ValidationFailed) as excinfo:
        services.postmortem_publish(postmortem=postmortem, actor=commander)
    assert set(excinfo.value.fields) == {"summary", "impact", "root_cause"}


def test_published_postmortem_is_final(resolved, commander):
    postmortem = publish_postmortem(resolved, commander)
    with pytest.raises(Conflict):
        services.postmortem_update(postmortem=postmortem, summary="rewrite history")


def test_action_item_done_is_final(incident, commander):
    item = services.action_item_create(
        incident=incident, title="Add alert", kind="detective", due_date=dt.date(2026, 12, 1), owner=commander
    )
    services.action_item_set_status(item=item, status="done", actor=commander)
    with pytest.raises(Conflict):
        services.action_item_set_status(item=item, status="open", actor=commander)
