"""The admin: approval buttons refuse one's own change, the incident's "What changed?" panel and its
one-click link, the change calendar, the iCalendar feed, constant changelist queries."""

import datetime as dt
import re

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from changes import services
from changes.choices import ChangeStatus
from changes.models import Change, ChangeCalendarFeed, SuspectedCause
from changes.tasks import flag_suspects
from governance.choices import Role
from incidents.choices import EventKind
from incidents.models import IncidentEvent
from tests.factories import ServiceFactory, person
from tests.incidents.factories import IncidentFactory

pytestmark = pytest.mark.django_db


def action_url(change, tool):
    return reverse("admin:changes_change_actions", kwargs={"pk": change.pk, "tool": tool})


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_admin_refuses_to_let_the_implementer_approve(service):
    implementer = person("impl", Role.CHANGE_MANAGER)
    change = services.change_create(
        title="Swap load balancer", services=[service], implementer=implementer, created_by=implementer
    )
    services.change_submit(change=change, actor=implementer)
    client = logged_in(implementer)
    page = client.get(reverse("admin:changes_change_change", args=[change.pk]))
    assert page.status_code == 200
    assert 'data-tool-name="approve"' not in page.content.decode()
    response = client.post(action_url(change, "approve"), follow=True)
    assert "Nobody approves their own change" in response.content.decode()
    assert Change.objects.get(pk=change.pk).status == ChangeStatus.SUBMITTED
    other = logged_in(person("other", Role.CHANGE_MANAGER))
    assert (
        'data-tool-name="approve"'
        in other.get(reverse("admin:changes_change_change", args=[change.pk])).content.decode()
    )
    other.post(action_url(change, "approve"))
    assert Change.objects.get(pk=change.pk).status == ChangeStatus.APPROVED


def test_the_next_step_is_the_one_primary_button_as_the_change_moves(service):
    implementer = person("impl", Role.CHANGE_MANAGER)
    approver = logged_in(person("approver", Role.CHANGE_MANAGER))
    change = services.change_create(
        title="Rotate TLS certificates", services=[service], implementer=implementer, created_by=implementer
    )
    page = reverse("admin:changes_change_change", args=[change.pk])

    def primary(client) -> list[str]:
        content = client.get(page).content.decode()
        return re.findall(r'class="objectaction-item vigil-primary-action" data-tool-name="(\w+)"', content)

    assert primary(logged_in(implementer)) == ["submit"]
    services.change_submit(change=change, actor=implementer)
    assert primary(approver) == ["approve"]
    approver.post(action_url(change, "approve"))
    assert primary(logged_in(implementer)) == ["start"]


def test_admin_add_goes_through_the_service_and_is_audited(service):
    from governance.models import AuditEvent

    manager = person("cm", Role.CHANGE_MANAGER)
    client = logged_in(manager)
    response = client.post(
        reverse("admin:changes_change_add"),
        {
            "title": "Patch kernel",
            "kind": "normal",
            "risk": "low",
            "services": [service.pk],
            "description": "",
            "rollback_plan": "Reboot into the old kernel.",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    change = Change.objects.get()
    assert change.created_by == manager
    assert AuditEvent.objects.filter(action="change.create", object_id=str(change.pk)).exists()


def test_incident_page_shows_the_deployment_30_minutes_before_and_links_it_in_one_click(service):
    commander = person("commander", Role.INCIDENT_COMMANDER)
    implementer = person("dev", Role.CHANGE_MANAGER)
    t0 = timezone.now() - dt.timedelta(hours=2)
    with time_machine.travel(t0, tick=False):
        deployment = services.deployment_record(
            service=service,
            environment="production",
            version="9.9.1",
            status="succeeded",
            started_at=t0 - dt.timedelta(minutes=4),
            finished_at=t0,
            implementer=implementer,
        ).deployment
    other = ServiceFactory(slug="search")
    services.deployment_record(
        service=other, environment="production", version="other-1", status="succeeded", started_at=t0
    )
    with time_machine.travel(t0 + dt.timedelta(minutes=30), tick=False):
        incident = IncidentFactory(service=service, severity="SEV1", commander=commander)
        flag_suspects()
    client = logged_in(commander)
    page = client.get(reverse("admin:incidents_incident_change", args=[incident.pk])).content.decode()
    assert 'id="panel-changes.what_changed"' in page
    assert "9.9.1" in page and "other-1" not in page
    assert '<span class="vigil-warning">suspect</span>' in page
    link = reverse("admin:changes_change_link_cause", args=[deployment.change_id, incident.pk])
    assert link in page
    response = client.post(f"{link}?deployment={deployment.pk}")
    assert response.status_code == 302
    assert SuspectedCause.objects.filter(incident=incident, deployment=deployment).exists()
    assert IncidentEvent.objects.filter(incident=incident, kind=EventKind.CHANGE_LINKED).count() == 1
    page = client.get(reverse("admin:incidents_incident_change", args=[incident.pk])).content.decode()
    assert "suspected cause</strong>" in page


def test_a_responder_sees_the_panel_but_cannot_link(service):
    responder = person("responder", Role.RESPONDER)
    commander = person("commander", Role.INCIDENT_COMMANDER)
    deployment = services.deployment_record(
        service=service,
        environment="production",
        version="1",
        status="succeeded",
        started_at=timezone.now() - dt.timedelta(minutes=40),
    ).deployment
    incident = IncidentFactory(service=service, severity="SEV2", commander=commander)
    client = logged_in(responder)
    page = client.get(reverse("admin:incidents_incident_change", args=[incident.pk])).content.decode()
    assert "What changed?" in page and "vigil-link-cause" not in page
    link = reverse("admin:changes_change_link_cause", args=[deployment.change_id, incident.pk])
    assert client.post(link).status_code == 403


def test_calendar_shows_changes_deployments_and_freezes_per_service(service):
    # The calendar's rolling week starts today: at 00:30 a deployment an hour ago would be yesterday's.
    midday = timezone.localtime().replace(hour=12, minute=0, second=0, microsecond=0)
    with time_machine.travel(midday, tick=False):
        _calendar_checks(service)


def _calendar_checks(service):
    ops = person("ops", Role.OPS_ADMIN)
    now = timezone.now()
    services.freeze_window_create(
        name="Quarter close",
        reason="Finance.",
        starts_at=now + dt.timedelta(days=1),
        ends_at=now + dt.timedelta(days=2),
        services=[service],
    )
    services.change_create(
        title="Planned DB upgrade",
        services=[service],
        planned_start=now + dt.timedelta(days=3),
        planned_end=now + dt.timedelta(days=3, hours=1),
    )
    services.deployment_record(
        service=service,
        environment="production",
        version="4.2",
        status="succeeded",
        started_at=now - dt.timedelta(hours=1),
    )
    client = logged_in(ops)
    page = client.get(reverse("admin:changes_change_calendar")).content.decode()
    assert 'data-service="checkout-api"' in page
    for text in ("Freeze: Quarter close", "Planned DB upgrade", "Deploy 4.2"):
        assert text in page
    later = client.get(
        reverse("admin:changes_change_calendar"), {"week": (now + dt.timedelta(days=30)).date().isoformat()}
    )
    assert "Quarter close" not in later.content.decode()
    assert client.get(reverse("admin:changes_change_calendar"), {"week": "garbage"}).status_code == 200


def test_calendar_is_closed_to_people_without_a_role(service):
    client = logged_in(person("nobody"))
    assert client.get(reverse("admin:changes_change_calendar")).status_code == 403


def test_ical_feed_by_token_and_rotation(service):
    now = timezone.now()
    services.freeze_window_create(
        name="Holiday freeze",
        reason="Holidays.",
        starts_at=now + dt.timedelta(days=5),
        ends_at=now + dt.timedelta(days=9),
        all_services=True,
    )
    feed = services.calendar_feed_create(name="Platform")
    url = reverse("changes:calendar", args=[feed.token])
    response = Client().get(url)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/calendar")
    body = response.content.decode()
    assert "BEGIN:VEVENT" in body and "Freeze: Holiday freeze" in body
    services.calendar_feed_rotate_token(feed=feed)
    assert Client().get(url).status_code == 404
    feed = ChangeCalendarFeed.objects.get()
    assert Client().get(reverse("changes:calendar", args=[feed.token])).status_code == 200


def _changelist_queries(client) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(reverse("admin:changes_change_changelist")).status_code == 200
    return len(captured)


def test_changelist_query_count_is_constant(service):
    client = logged_in(person("cm", Role.CHANGE_MANAGER))
    implementer = person("dev", Role.RESPONDER)
    services.change_create(title="one", services=[service], implementer=implementer)
    few = _changelist_queries(client)
    extra = ServiceFactory(slug="ledger")
    for n in range(20):
        services.change_create(title=f"change {n}", services=[service, extra], implementer=implementer)
    assert _changelist_queries(client) == few
