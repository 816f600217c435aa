import datetime as dt
import hashlib

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from incidents import services
from incidents.choices import EventKind, IncidentStatus
from incidents.models import Evidence, Incident, IncidentEvent

from .conftest import publish_postmortem
from .factories import IncidentFactory

pytestmark = pytest.mark.django_db
CHANGELIST = reverse("admin:incidents_incident_changelist")
ADD = reverse("admin:incidents_incident_add")


def change_url(incident):
    return reverse("admin:incidents_incident_change", args=[incident.pk])


def action_url(incident, tool):
    return reverse("admin:incidents_incident_actions", kwargs={"pk": incident.pk, "tool": tool})


@pytest.fixture
def as_commander(client, commander):
    client.force_login(commander)
    return client


@pytest.fixture
def as_responder(client, responder):
    client.force_login(responder)
    return client


def bulk_incidents(count, *, service, commander):
    """Rows as the declare service would write them, without its per-row notifications."""
    now = timezone.now()
    rows = []
    for n in range(count):
        declared = now - dt.timedelta(minutes=n)
        rows.append(
            Incident(
                title=f"Incident {n}",
                severity=("SEV1", "SEV2", "SEV3")[n % 3],
                status="declared",
                service=service,
                commander=commander,
                declared_at=declared,
                ack_due_at=declared + dt.timedelta(minutes=5),
                ack_minutes=5,
                ack_breached=n % 2 == 0,
                ack_breached_at=declared + dt.timedelta(minutes=5) if n % 2 == 0 else None,
            )
        )
    Incident.objects.bulk_create(rows, batch_size=500)


# --- the changelist ------------------------------------------------------------------------------------


def changelist_queries(client, query=""):
    with CaptureQueriesContext(connection) as captured:
        response = client.get(CHANGELIST + query)
    assert response.status_code == 200
    return len(captured)


def test_changelist_runs_the_same_queries_for_5_and_500_incidents(as_commander, commander, service):
    bulk_incidents(5, service=service, commander=commander)
    few = changelist_queries(as_commander)
    few_filtered = changelist_queries(as_commander, "?severity__exact=SEV1&status__exact=declared")
    bulk_incidents(495, service=service, commander=commander)
    assert changelist_queries(as_commander) == few
    assert changelist_queries(as_commander, "?severity__exact=SEV1&status__exact=declared") == few_filtered


def test_changelist_filters_by_severity_and_status(as_commander, commander, service):
    sev1 = IncidentFactory(severity="SEV1", title="Payments down", service=service, commander=commander)
    IncidentFactory(severity="SEV3", title="Slow search", service=service, commander=commander)
    response = as_commander.get(CHANGELIST + "?severity__exact=SEV1")
    assert sev1.title in response.content.decode()
    assert "Slow search" not in response.content.decode()
    response = as_commander.get(CHANGELIST + "?status__exact=resolved")
    assert "Payments down" not in response.content.decode()


def test_changelist_colours_breached_clocks(as_commander, commander, service):
    with time_machine.travel(timezone.now() - dt.timedelta(minutes=17)):
        IncidentFactory(severity="SEV1", service=service, commander=commander)
    content = as_commander.get(CHANGELIST).content.decode()
    assert "vigil-bad" in content
    assert "ack late by 12 min" in content


def test_changelist_finds_an_incident_by_reference(as_commander, incident):
    response = as_commander.get(CHANGELIST + f"?q={incident.reference}")
    assert response.context["cl"].result_count == 1


# --- declaring ----------------------------------------------------------------------------------------


def test_add_form_is_the_short_declare_form(as_commander):
    form = as_commander.get(ADD).context["adminform"].form
    assert list(form.fields) == ["title", "severity", "service", "summary", "commander"]


def test_declare_from_the_admin_lands_on_the_incident(as_commander, commander, service):
    response = as_commander.post(ADD, {"title": "Checkout down", "severity": "SEV1", "service": service.pk})
    incident = Incident.objects.get()
    assert response.status_code == 302
    assert response["Location"] == change_url(incident)
    assert incident.commander == commander
    assert incident.declared_by == commander
    assert incident.source == "manual"
    assert IncidentEvent.objects.filter(incident=incident, kind=EventKind.DECLARED).exists()


def test_responder_cannot_declare(as_responder):
    assert as_responder.get(ADD).status_code == 403


# --- the change page --------------------------------------------------------------------------------------


def test_change_page_shows_clocks_timeline_and_next_actions(as_commander, commander, service):
    with time_machine.travel(timezone.now() - dt.timedelta(minutes=2)):
        incident = IncidentFactory(severity="SEV1", service=service, commander=commander)
    content = as_commander.get(change_url(incident)).content.decode()
    assert "ack due in 3 min" in content
    assert "next update due in 28 min" in content
    assert 'id="incident-timeline"' in content
    for tool in ("acknowledge", "post_update", "change_severity", "assign_roles"):
        assert f'data-tool-name="{tool}"' in content
    for tool in ("mitigate", "resolve", "close"):
        assert f'data-tool-name="{tool}"' not in content


def test_responder_sees_acknowledge_and_update_but_not_resolve(as_responder, acknowledged):
    content = as_responder.get(change_url(acknowledged)).content.decode()
    assert 'data-tool-name="post_update"' in content
    assert 'data-tool-name="resolve"' not in content
    assert 'data-tool-name="close"' not in content


def test_state_fields_are_not_editable(as_commander, incident):
    form = as_commander.get(change_url(incident)).context["adminform"].form
    assert "status" not in form.fields
    assert "severity" not in form.fields
    assert "acknowledged_at" not in form.fields


def test_acknowledge_button(as_commander, incident):
    response = as_commander.post(action_url(incident, "acknowledge"))
    assert response.status_code == 302
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.ACKNOWLEDGED


def test_acknowledge_button_refuses_get(as_commander, incident):
    assert as_commander.get(action_url(incident, "acknowledge")).status_code == 405


def test_responder_may_acknowledge_from_the_admin(as_responder, incident):
    as_responder.post(action_url(incident, "acknowledge"))
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.ACKNOWLEDGED


def test_responder_may_not_resolve_from_the_admin(as_responder, acknowledged):
    assert as_responder.post(action_url(acknowledged, "resolve"), {"note": ""}).status_code == 403
    acknowledged.refresh_from_db()
    assert acknowledged.status == IncidentStatus.ACKNOWLEDGED


def test_post_update_button_shows_a_form_then_posts(as_commander, incident):
    page = as_commander.get(action_url(incident, "post_update"))
    assert page.status_code == 200
    assert "message" in page.context["form"].fields
    as_commander.post(action_url(incident, "post_update"), {"message": "Rolling back."})
    event = IncidentEvent.objects.filter(incident=incident, kind=EventKind.STATUS_UPDATE).get()
    assert event.message == "Rolling back."


def test_post_update_without_message_shows_the_form_again(as_commander, incident):
    response = as_commander.post(action_url(incident, "post_update"), {"message": ""})
    assert response.status_code == 200
    assert response.context["form"].errors


def test_mitigate_resolve_and_close_buttons(as_commander, acknowledged, commander):
    as_commander.post(action_url(acknowledged, "mitigate"), {"note": "contained"})
    as_commander.post(action_url(acknowledged, "resolve"), {"note": "fixed"})
    publish_postmortem(acknowledged, commander)
    as_commander.post(action_url(acknowledged, "close"), {"note": ""})
    acknowledged.refresh_from_db()
    assert acknowledged.status == IncidentStatus.CLOSED
    kinds = set(IncidentEvent.objects.filter(incident=acknowledged).values_list("kind", flat=True))
    assert {"mitigated", "resolved", "closed"} <= kinds


def test_close_without_postmortem_shows_the_refusal(as_commander, resolved):
    response = as_commander.post(action_url(resolved, "close"), {"note": ""}, follow=True)
    assert "publish its postmortem" in response.content.decode()
    resolved.refresh_from_db()
    assert resolved.status == IncidentStatus.RESOLVED


def test_invalid_transition_from_a_stale_page_is_refused_with_a_message(as_commander, incident):
    response = as_commander.post(action_url(incident, "resolve"), {"note": ""}, follow=True)
    assert "cannot become resolved" in response.content.decode()
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.DECLARED


def test_change_severity_button(as_commander, incident):
    as_commander.post(action_url(incident, "change_severity"), {"severity": "SEV2", "reason": "fewer users"})
    incident.refresh_from_db()
    assert incident.severity == "SEV2"


def test_assign_roles_button(as_commander, incident, responder, commander):
    as_commander.post(
        action_url(incident, "assign_roles"),
        {"commander": commander.pk, "communications_lead": responder.pk, "scribe": ""},
    )
    incident.refresh_from_db()
    assert incident.communications_lead == responder


def test_evidence_upload_records_sha256(as_commander, incident, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    content = b"2026-03-03T03:01:02Z ERROR pool exhausted\n"
    response = as_commander.post(
        change_url(incident),
        {
            "title": incident.title,
            "summary": "",
            "customer_impact": "",
            "chat_url": "",
            "evidence-TOTAL_FORMS": "1",
            "evidence-INITIAL_FORMS": "0",
            "evidence-MIN_NUM_FORMS": "0",
            "evidence-MAX_NUM_FORMS": "1000",
            "evidence-0-file": SimpleUploadedFile("app.log", content),
            "evidence-0-description": "app log",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    evidence = Evidence.objects.get(incident=incident)
    assert evidence.sha256 == hashlib.sha256(content).hexdigest()
    assert evidence.uploaded_by.username == "commander"
    assert IncidentEvent.objects.filter(incident=incident, kind=EventKind.EVIDENCE_PRESERVED).exists()


def test_editing_details_goes_through_the_service(as_commander, incident):
    as_commander.post(
        change_url(incident),
        {
            "title": "Checkout fully down",
            "summary": "",
            "customer_impact": "All card payments fail.",
            "chat_url": "",
            "evidence-TOTAL_FORMS": "0",
            "evidence-INITIAL_FORMS": "0",
            "evidence-MIN_NUM_FORMS": "0",
            "evidence-MAX_NUM_FORMS": "1000",
        },
    )
    incident.refresh_from_db()
    assert incident.title == "Checkout fully down"
    event = IncidentEvent.objects.get(incident=incident, kind=EventKind.DETAILS_CHANGED)
    assert event.data == {"fields": ["customer_impact", "title"]}


def test_incidents_cannot_be_deleted(as_commander, incident, admin_user, client):
    client.force_login(admin_user)
    assert client.get(reverse("admin:incidents_incident_delete", args=[incident.pk])).status_code == 403


# --- dashboard ------------------------------------------------------------------------------------------------


def test_dashboard_shows_the_incidents_panel_with_charts(as_commander, commander, service):
    incident = IncidentFactory(severity="SEV1", service=service, commander=commander)
    services.incident_acknowledge(incident=incident, actor=commander)
    content = as_commander.get(reverse("admin:index")).content.decode()
    assert 'id="panel-incidents"' in content
    assert "<svg" in content
    assert 'id="incident-metrics-severity"' in content


# --- postmortems and action items ----------------------------------------------------------------------


def postmortem_action(postmortem, tool):
    return reverse("admin:incidents_postmortem_actions", kwargs={"pk": postmortem.pk, "tool": tool})


def test_postmortem_is_written_submitted_and_published_in_the_admin(as_commander, resolved):
    from incidents.models import Postmortem

    postmortem = Postmortem.objects.get(incident=resolved)
    url = reverse("admin:incidents_postmortem_change", args=[postmortem.pk])
    fields = {
        "summary": "Pool size 0 shipped.",
        "impact": "12 % of checkouts failed.",
        "root_cause": "Default changed.",
        "contributing_factors": "",
        "lessons": "",
    }
    assert as_commander.post(url, fields).status_code == 302
    as_commander.post(postmortem_action(postmortem, "submit_for_review"))
    as_commander.post(postmortem_action(postmortem, "publish"))
    postmortem.refresh_from_db()
    assert postmortem.status == "published"
    assert postmortem.root_cause == "Default changed."
    as_commander.post(action_url(resolved, "close"), {"note": ""})
    resolved.refresh_from_db()
    assert resolved.status == IncidentStatus.CLOSED


def test_publishing_an_empty_postmortem_is_refused_with_the_missing_fields(as_commander, resolved):
    from incidents.models import Postmortem

    postmortem = Postmortem.objects.get(incident=resolved)
    as_commander.post(postmortem_action(postmortem, "submit_for_review"))
    response = as_commander.post(postmortem_action(postmortem, "publish"), follow=True)
    assert "root_cause" in response.content.decode()
    postmortem.refresh_from_db()
    assert postmortem.status == "in_review"


def test_action_item_is_created_and_done_in_the_admin(as_commander, incident, commander):
    from incidents.models import ActionItem

    response = as_commander.post(
        reverse("admin:incidents_actionitem_add"),
        {
            "incident": incident.pk,
            "title": "Alert on pool size",
            "kind": "detective",
            "owner": commander.pk,
            "due_date": "2026-12-01",
        },
    )
    assert response.status_code == 302
    item = ActionItem.objects.get()
    as_commander.post(reverse("admin:incidents_actionitem_actions", kwargs={"pk": item.pk, "tool": "mark_done"}))
    item.refresh_from_db()
    assert item.status == "done"
    assert item.completed_at is not None


def test_severity_policies_are_editable_but_not_deletable(client, admin_user):
    from incidents.models import SeverityPolicy

    client.force_login(admin_user)
    policy = SeverityPolicy.objects.get(severity="SEV2")
    url = reverse("admin:incidents_severitypolicy_change", args=[policy.pk])
    client.post(
        url,
        {"ack_minutes": 10, "update_every_minutes": 45, "postmortem_required": "on", "postmortem_due_business_days": 3},
    )
    policy.refresh_from_db()
    assert (policy.ack_minutes, policy.update_every_minutes, policy.postmortem_due_business_days) == (10, 45, 3)
    assert client.get(reverse("admin:incidents_severitypolicy_delete", args=[policy.pk])).status_code == 403


def test_evidence_upload_is_offered_to_commanders(as_commander, incident):
    assert b'type="file"' in as_commander.get(change_url(incident)).content


def test_evidence_upload_is_not_offered_to_responders(as_responder, incident):
    assert b'type="file"' not in as_responder.get(change_url(incident)).content


def test_change_page_shows_panels_other_apps_register_for_incidents(as_commander, commander, incident):
    from governance.registries import ObjectPanel, object_panels

    def render(request, obj):
        return f"<p>suggested for {obj.reference} by {request.user.username}</p>"

    object_panels.register(
        "test-suggestions", ObjectPanel("test-suggestions", "incidents.incident", "Suggested", render)
    )
    object_panels.register("test-empty", ObjectPanel("test-empty", "incidents.incident", "Hidden", lambda r, o: ""))
    try:
        content = as_commander.get(change_url(incident)).content.decode()
    finally:
        object_panels.unregister("test-suggestions")
        object_panels.unregister("test-empty")
    assert 'id="panel-test-suggestions"' in content
    assert f"suggested for {incident.reference} by {commander.username}" in content
    assert 'id="panel-test-empty"' not in content
    # The object actions are still there: the house template extends django-object-actions'.
    assert 'data-tool-name="acknowledge"' in content
