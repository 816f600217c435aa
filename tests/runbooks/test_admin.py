"""The runbooks admin: versions cannot be changed there, edits make drafts, the incident page
suggests runbooks and starts them, the runner records steps, the coverage report."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from incidents.models import IncidentEvent
from incidents.services import incident_declare
from runbooks import services
from runbooks.models import Runbook, RunbookExecution, RunbookVersion
from tests.factories import ServiceFactory

from .conftest import BODY, make_runbook

pytestmark = pytest.mark.django_db


@pytest.fixture
def incident(service, commander):
    return incident_declare(title="Checkout 502s", severity="SEV1", service=service, commander=commander)


def test_a_version_cannot_be_changed_through_the_admin_even_by_a_superuser(client, runbook, django_user_model):
    admin_user = django_user_model.objects.create_superuser("root", "root@example.com", "correct-horse-battery-staple")
    client.force_login(admin_user)
    version = runbook.current_version
    url = reverse("admin:runbooks_runbookversion_change", args=[version.pk])
    page = client.get(url)
    assert page.status_code == 200
    assert b'name="body"' not in page.content  # read-only: no input for the body
    response = client.post(url, {"body": "forged", "change_summary": "forged"})
    assert response.status_code == 403
    delete = client.post(reverse("admin:runbooks_runbookversion_delete", args=[version.pk]), {"post": "yes"})
    assert delete.status_code == 403
    assert RunbookVersion.objects.get(pk=version.pk).body == BODY


def test_edit_content_in_the_admin_makes_a_new_draft_and_the_diff_shows_it(client, runbook, author, approver):
    client.force_login(author)
    url = reverse("admin:runbooks_runbook_actions", args=[runbook.pk, "edit_content"])
    assert client.get(url).status_code == 200
    edited = BODY.replace("Look at the dashboard first.", "Look at the checkout dashboard first.")
    response = client.post(url, {"body": edited, "change_summary": "Name the dashboard"})
    assert response.status_code == 302
    assert runbook.versions.count() == 2
    assert runbook.versions.get(number=1).body == BODY
    assert not runbook.versions.get(number=2).is_published

    # the author's own publish is refused; another publisher's is not
    publish = reverse("admin:runbooks_runbook_actions", args=[runbook.pk, "publish"])
    client.post(publish)
    assert not runbook.versions.get(number=2).is_published
    client.force_login(approver)
    client.post(publish)
    runbook.refresh_from_db()
    assert runbook.current_version.number == 2

    diff = client.get(reverse("admin:runbooks_runbook_actions", args=[runbook.pk, "compare"]) + "?a=1&b=2")
    assert diff.status_code == 200
    assert b"checkout" in diff.content and (b'class="diff_add"' in diff.content or b'class="diff_chg"' in diff.content)


def test_adding_a_runbook_in_the_admin_creates_a_draft_version(client, service, author):
    client.force_login(author)
    response = client.post(
        reverse("admin:runbooks_runbook_add"),
        {
            "title": "Cache flush",
            "slug": "cache-flush",
            "service": service.pk,
            "severities": ["SEV2"],
            "alert_names": "CacheHitRateLow, CacheDown",
            "review_interval_days": 60,
            "cadence": "",
            "cadence_timezone": "UTC",
            "procedure_deadline_hours": 24,
            "body": BODY,
            "change_summary": "First version",
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    runbook = Runbook.objects.get(slug="cache-flush")
    assert runbook.alert_names == ["CacheDown", "CacheHitRateLow"] and runbook.status == "draft"
    assert runbook.versions.get().author == author


def test_a_bad_cron_expression_in_the_admin_is_a_form_error_not_a_500(client, runbook, author):
    client.force_login(author)
    response = client.post(
        reverse("admin:runbooks_runbook_change", args=[runbook.pk]),
        {
            "title": runbook.title,
            "service": runbook.service_id,
            "severities": ["SEV1"],
            "alert_names": "",
            "owner_team": runbook.owner_team_id,
            "review_interval_days": 90,
            "cadence": "every other tuesday",
            "cadence_timezone": "UTC",
            "procedure_deadline_hours": 24,
        },
    )
    assert response.status_code == 200
    assert b"cron expression" in response.content


def test_the_incident_page_suggests_matching_runbooks_with_a_start_button(client, runbook, incident, responder):
    other = ServiceFactory(slug="search")
    make_runbook(other, None, None, slug="search-only", publish=False)
    client.force_login(responder)
    page = client.get(reverse("admin:incidents_incident_change", args=[incident.pk]))
    html = page.content.decode()
    assert 'id="panel-runbooks"' in html
    assert 'data-slug="checkout-errors"' in html and "search-only" not in html
    assert f'value="{runbook.pk}"' in html and "runbook-start" in html


def test_starting_from_the_incident_and_recording_steps_puts_them_on_the_timeline(client, runbook, incident, responder):
    client.force_login(responder)
    start = reverse("admin:runbooks_runbookexecution_start") + f"?incident={incident.pk}"
    response = client.post(start, {"runbook": runbook.pk})
    execution = RunbookExecution.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:runbooks_runbookexecution_change", args=[execution.pk])
    runner = client.get(response["Location"])
    assert runner.status_code == 200 and b'id="step-1-form"' in runner.content

    step_url = reverse("admin:runbooks_runbookexecution_step", args=[execution.pk])
    client.post(step_url, {"step": 1, "outcome": "done", "output": "ops_status exit 0"})
    client.post(step_url, {"step": 2, "outcome": "skipped", "output": "no deploy today"})
    client.post(reverse("admin:runbooks_runbookexecution_complete", args=[execution.pk]))
    execution.refresh_from_db()
    assert execution.status == "completed"
    messages = list(
        IncidentEvent.objects.filter(incident=incident, kind="runbook_step")
        .order_by("id")
        .values_list("message", flat=True)
    )
    assert len(messages) == 4 and "step 1 (Check the error rate): done — ops_status exit 0" in messages[1]


def test_a_bad_step_post_is_a_message_not_a_500(client, runbook, incident, responder):
    client.force_login(responder)
    execution = services.execution_start(
        version=runbook.current_version, purpose="incident", incident=incident, actor=responder
    )
    step_url = reverse("admin:runbooks_runbookexecution_step", args=[execution.pk])
    for data in ({"step": "x", "outcome": "done"}, {"step": 7, "outcome": "done"}, {"step": 1, "outcome": "perhaps"}):
        response = client.post(step_url, data, follow=True)
        assert response.status_code == 200
    assert not execution.step_results.exists()


def test_an_auditor_cannot_start_or_record(client, runbook, incident):
    from tests.factories import person

    auditor = person("auditor", "Auditor")
    client.force_login(auditor)
    response = client.post(
        reverse("admin:runbooks_runbookexecution_start") + f"?incident={incident.pk}", {"runbook": runbook.pk}
    )
    assert response.status_code == 403
    page = client.get(reverse("admin:incidents_incident_change", args=[incident.pk]))
    assert b"runbook-start" not in page.content and b'data-slug="checkout-errors"' in page.content


def test_the_runbook_changelist_marks_overdue_reviews_in_constant_queries(
    client, service, author, approver, time_machine
):
    from datetime import timedelta

    from django.utils import timezone

    client.force_login(approver)
    make_runbook(service, author, approver, slug="a")
    url = reverse("admin:runbooks_runbook_changelist")
    client.get(url)
    with CaptureQueriesContext(connection) as one:
        client.get(url)
    for n in range(5):
        make_runbook(service, author, approver, slug=f"more-{n}")
    time_machine.move_to(timezone.now() + timedelta(days=100), tick=False)
    client.force_login(approver)  # the session of 100 days ago has expired
    with CaptureQueriesContext(connection) as six:
        page = client.get(url)
    assert len(six) == len(one)
    assert page.content.decode().count("OVERDUE since") == 6


def test_the_coverage_report_lists_gaps(client, runbook, approver):
    ServiceFactory(slug="ledger", name="Ledger", tier=1)
    client.force_login(approver)
    page = client.get(reverse("admin:runbooks_runbook_coverage"))
    assert page.status_code == 200
    html = page.content.decode()
    assert "<code>ledger</code>" in html and "<code>checkout-api</code>" not in html


def test_an_ops_admin_rehearses_a_runbook_as_a_drill_and_a_responder_cannot(client, runbook, approver, responder):
    client.force_login(responder)
    response = client.post(reverse("admin:runbooks_runbookexecution_start"), {"runbook": runbook.pk})
    assert response.status_code == 403
    client.force_login(approver)
    response = client.post(reverse("admin:runbooks_runbook_actions", args=[runbook.pk, "rehearse"]))
    execution = RunbookExecution.objects.get()
    assert execution.purpose == "drill" and execution.incident is None and execution.started_by == approver
    assert response["Location"] == reverse("admin:runbooks_runbookexecution_change", args=[execution.pk])


def test_changing_what_a_runbook_applies_to_in_the_admin_is_audited(client, runbook, approver):
    from governance.models import AuditEvent

    client.force_login(approver)
    response = client.post(
        reverse("admin:runbooks_runbook_change", args=[runbook.pk]),
        {
            "title": runbook.title,
            "service": runbook.service_id,
            "severities": ["SEV1"],
            "alert_names": "CheckoutDown",
            "owner_team": runbook.owner_team_id,
            "review_interval_days": 30,
            "cadence": "weekly",
            "cadence_timezone": "Europe/Amsterdam",
            "procedure_deadline_hours": 24,
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    runbook.refresh_from_db()
    assert runbook.severities == ["SEV1"] and runbook.alert_names == ["CheckoutDown"]
    assert runbook.cadence == "weekly" and runbook.cadence_since is not None
    event = AuditEvent.objects.filter(action="runbook.update", object_id=str(runbook.pk)).latest("occurred_at")
    assert event.changes["severities"] == [["SEV1", "SEV2"], ["SEV1"]]
    assert event.actor_user_id == approver.pk
    assert runbook.versions.count() == 1  # metadata never makes a version


def test_the_execution_changelist_keeps_its_query_count(client, runbook, incident, approver, responder):
    client.force_login(approver)
    url = reverse("admin:runbooks_runbookexecution_changelist")
    services.execution_start(version=runbook.current_version, purpose="incident", incident=incident, actor=responder)
    client.get(url)
    with CaptureQueriesContext(connection) as one:
        client.get(url)
    for _ in range(8):
        services.execution_start(version=runbook.current_version, purpose="drill", actor=approver)
    with CaptureQueriesContext(connection) as nine:
        page = client.get(url)
    assert len(nine) == len(one)
    assert page.content.decode().count("drill run #") == 8


@pytest.mark.parametrize("role", ["Auditor", "Compliance Manager", "Ops Admin"])
def test_every_runbooks_page_opens_for_readers(client, runbook, incident, responder, role):
    from tests.factories import person

    execution = services.execution_start(
        version=runbook.current_version, purpose="incident", incident=incident, actor=responder
    )
    services.runbook_edit(runbook=runbook, body=BODY + "\nMore.\n", actor=responder)
    client.force_login(person(f"reader-{role}".lower().replace(" ", "-"), role))
    urls = [
        reverse("admin:runbooks_runbook_changelist"),
        reverse("admin:runbooks_runbook_changelist") + "?review=overdue",
        reverse("admin:runbooks_runbook_change", args=[runbook.pk]),
        reverse("admin:runbooks_runbook_actions", args=[runbook.pk, "compare"]),
        reverse("admin:runbooks_runbook_coverage"),
        reverse("admin:runbooks_runbookversion_changelist"),
        reverse("admin:runbooks_runbookversion_changelist") + "?published_at__isempty=1",
        reverse("admin:runbooks_runbookversion_change", args=[runbook.current_version_id]),
        reverse("admin:runbooks_runbookexecution_changelist"),
        reverse("admin:runbooks_runbookexecution_change", args=[execution.pk]),
    ]
    for url in urls:
        assert client.get(url).status_code == 200, url


def test_readers_see_no_buttons_that_write(client, runbook, incident, responder):
    from tests.factories import person

    execution = services.execution_start(
        version=runbook.current_version, purpose="incident", incident=incident, actor=responder
    )
    client.force_login(person("reader", "Auditor"))
    runner = client.get(reverse("admin:runbooks_runbookexecution_change", args=[execution.pk])).content.decode()
    assert "step-1-form" not in runner and "execution-complete-form" not in runner
    page = client.get(reverse("admin:runbooks_runbook_change", args=[runbook.pk])).content.decode()
    for tool in ("edit_content", "publish", "review", "retire", "rehearse"):
        assert f'data-tool-name="{tool}"' not in page
    response = client.post(
        reverse("admin:runbooks_runbookexecution_step", args=[execution.pk]), {"step": 1, "outcome": "done"}
    )
    assert response.status_code == 403


def test_a_retired_runbook_opens_read_only(client, runbook, approver):
    services.runbook_retire(runbook=runbook, reason="replaced", actor=approver)
    client.force_login(approver)
    page = client.get(reverse("admin:runbooks_runbook_change", args=[runbook.pk]))
    assert page.status_code == 200 and b'name="cadence"' not in page.content


def test_a_second_start_joins_the_run_in_progress(client, runbook, incident, responder):
    client.force_login(responder)
    start = reverse("admin:runbooks_runbookexecution_start") + f"?incident={incident.pk}"
    first = client.post(start, {"runbook": runbook.pk})
    second = client.post(start, {"runbook": runbook.pk})
    assert RunbookExecution.objects.count() == 1
    assert first["Location"] == second["Location"]
