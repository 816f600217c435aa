"""History at scale: indexed search, bounded counts, skip-scan filters, the audit trail as object history.

The timings live in bench/history_scale.py; here: the plans PostgreSQL chooses and the query counts,
which do not depend on the machine.
"""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from governance import pagination
from governance.admin_base import distinct_values
from governance.audit import audit_record
from governance.models import AuditEvent
from incidents.models import Incident
from tests.factories import UserFactory
from tests.incidents.factories import IncidentFactory

pytestmark = pytest.mark.django_db


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("admin_url", "index"),
    # One index per admin is enough: a BitmapOr needs every searched column indexed, so one missing loses them all.
    [
        ("/admin/incidents/incident/", "incident_title_trgm"),
        ("/admin/incidents/actionitem/", "actionitem_title_trgm"),
        ("/admin/governance/auditevent/", "audit_actor_trgm"),
        ("/admin/alerting/notification/", "notification_subject_trgm"),
        ("/admin/runbooks/runbook/", "runbook_title_trgm"),
        ("/admin/runbooks/runbookexecution/", "runbook_title_trgm"),
        ("/admin/access_reviews/identity/", "identity_email_trgm"),
        ("/admin/access_reviews/system/", "system_name_trgm"),
        ("/admin/access_reviews/accessgrant/", "accessgrant_account_trgm"),
        ("/admin/access_reviews/reviewtemplate/", "reviewtemplate_name_trgm"),
        ("/admin/access_reviews/campaign/", "campaign_name_trgm"),
        ("/admin/access_reviews/remediation/", "remediation_account_trgm"),
        ("/admin/changes/change/", "change_title_trgm"),
        ("/admin/changes/deployment/", "deployment_version_trgm"),
        ("/admin/changes/gatedecision/", "gatedecision_version_trgm"),
        ("/admin/changes/freezewindow/", "freezewindow_name_trgm"),
        ("/admin/changes/changecalendarfeed/", "calendarfeed_name_trgm"),
        ("/admin/slos/prometheussource/", "prometheussource_name_trgm"),
        ("/admin/slos/slostatus/", "slo_slug_trgm"),
        ("/admin/slos/burnepisode/", "slo_slug_trgm"),
        # A local column ORed with one on a joined table: the related one is searched on its own table
        # (VigilModelAdmin.get_search_results), so the main query is the local table's trigram index.
        ("/admin/backups/backuprun/", "backuprun_external_id_trgm"),
        ("/admin/access_reviews/reviewitem/", "reviewitem_account_trgm"),
        ("/admin/runbooks/runbookversion/", "runbookversion_sha_trgm"),
        ("/admin/changes/freezeexception/", "freezeexception_reason_trgm"),
        ("/admin/backups/backuptarget/", "backuptarget_name_trgm"),
        ("/admin/backups/restoredrill/", "restoredrill_findings_trgm"),
        ("/admin/slos/slo/", "slo_name_trgm"),
    ],
)
def test_admin_search_uses_the_trigram_index(postgres_only, admin_client, admin_url, index):
    """EXPLAIN of the exact query the changelist runs for ?q=disk names the new index."""
    seen = []

    def record(execute, sql, params, many, context):
        if "LIKE" in sql and "disk" in str(params).lower():
            seen.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        assert admin_client.get(admin_url, {"q": "disk"}).status_code == 200
    assert seen, "the changelist ran no LIKE query"
    sql, params = seen[-1]
    with connection.cursor() as cursor:
        # A tiny test table: rule out the scans a big one would never choose and see which index serves the filter.
        cursor.execute("SET enable_seqscan = off; SET enable_indexscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("RESET enable_seqscan; RESET enable_indexscan")
    assert index in plan, plan


def _changelist_queries(client, path) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(path).status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.parametrize(
    "path",
    [
        "/admin/incidents/incident/?q=disk",
        "/admin/incidents/incident/?q=INC-7",
        "/admin/",
        "/admin/governance/auditevent/",
        "/admin/governance/auditevent/?object_type=incidents.incident&object_id=3",
        "/admin/governance/auditevent/?q=alice",
    ],
)
def test_pages_run_the_same_queries_for_a_few_and_for_many_rows(admin_client, path):
    user = UserFactory(username="alice")
    IncidentFactory.create_batch(3, commander=user)
    few = _changelist_queries(admin_client, path)
    IncidentFactory.create_batch(60, commander=user)
    for n in range(60):
        audit_record(action="update", object_type="incidents.incident", object_id=str(n), object_repr=f"#{n}")
    assert _changelist_queries(admin_client, path) == few


def test_api_list_runs_the_same_queries_below_and_above_the_exact_count_limit(api_client_for, monkeypatch):
    monkeypatch.setattr(pagination, "EXACT_COUNT_LIMIT", 5)
    api = api_client_for("incidents:read")
    IncidentFactory.create_batch(3, severity="SEV1")
    api.get("/api/v1/incidents/")  # the key's first use is recorded once; measure the steady state
    with CaptureQueriesContext(connection) as few:
        small = api.get("/api/v1/incidents/?severity=SEV1").json()
    IncidentFactory.create_batch(9, severity="SEV1")
    with CaptureQueriesContext(connection) as many:
        large = api.get("/api/v1/incidents/?severity=SEV1").json()
    assert (small["count"], small["count_is_estimate"]) == (3, False)
    assert len(few.captured_queries) == len(many.captured_queries)
    if connection.vendor == "postgresql":
        assert large["count_is_estimate"] is True
        assert large["count"] >= 6  # the planner's estimate, never below the exact limit + 1
    else:
        assert (large["count"], large["count_is_estimate"]) == (12, False)  # SQLite counts exactly


def test_count_is_estimate_is_in_the_openapi_schema(admin_client):
    schema = admin_client.get("/api/schema/", {"format": "json"}).json()
    page = schema["components"]["schemas"]["PaginatedIncidentList"]
    assert "count_is_estimate" in page["properties"]
    assert "estimate" in page["properties"]["count"]["description"]


def test_distinct_values_come_from_a_skip_scan_in_one_query():
    for action in ["b.update", "a.create", "b.update", "c.delete"]:
        audit_record(action=action, object_type="x", object_id="1")
    with CaptureQueriesContext(connection) as ctx:
        values = distinct_values(AuditEvent, "action")
    assert len(ctx.captured_queries) == 1
    assert values == sorted(set(AuditEvent.objects.values_list("action", flat=True)))
    assert {"a.create", "b.update", "c.delete"} <= set(values)


def test_the_history_button_opens_the_object_s_audit_trail(admin_client):
    incident = IncidentFactory()
    response = admin_client.get(f"/admin/incidents/incident/{incident.pk}/history/")
    assert response.status_code == 302
    assert response["Location"] == (
        f"/admin/governance/auditevent/?object_type=incidents.incident&object_id={incident.pk}"
    )
    audit_record(action="note", object_type="incidents.incident", object_id=str(incident.pk), object_repr="mine")
    audit_record(action="note", object_type="incidents.incident", object_id=str(incident.pk + 1), object_repr="other")
    page = admin_client.get(response["Location"]).content.decode()
    assert "mine" in page
    assert "other" not in page


def test_without_the_audit_permission_the_history_stays_django_s(client):
    from governance.choices import Role
    from tests.factories import person

    commander = person("commander", Role.INCIDENT_COMMANDER)
    client.force_login(commander)
    incident = IncidentFactory()
    response = client.get(f"/admin/incidents/incident/{incident.pk}/history/")
    assert response.status_code == 200
    assert Incident.objects.filter(pk=incident.pk).exists()


@pytest.mark.postgres
def test_trigram_indexes_keep_no_pending_list(postgres_only):
    """fastupdate off: a search reads the index, never a pending list that grows until the next VACUUM."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_am am ON am.oid = c.relam "
            "WHERE am.amname = 'gin' AND c.relname LIKE '%%\\_trgm' "
            "AND NOT COALESCE('fastupdate=off' = ANY(c.reloptions), false)"
        )
        assert cursor.fetchall() == []
        cursor.execute("SELECT COUNT(*) FROM pg_class WHERE relname = 'incident_title_trgm'")
        assert cursor.fetchone() == (1,)


def test_incident_metrics_read_a_closed_range_of_days():
    """`day BETWEEN since AND today`: estimated small and read through the roll-up's key even before the
    planner has statistics, where an open `day >= since` is taken for a third of the table."""
    import datetime as dt

    from incidents.selectors import incident_metrics

    since = dt.datetime.now(tz=dt.UTC) - dt.timedelta(days=90)
    with CaptureQueriesContext(connection) as ctx:
        incident_metrics(by="severity", since=since)
    (query,) = ctx.captured_queries
    assert "BETWEEN" in query["sql"]
