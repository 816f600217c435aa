"""The maturity scorecard: every registered dimension with its facts, quarterly snapshots, the Auditor's view."""

import datetime as dt

import pytest
import time_machine
from django.contrib import admin
from django.core.management import call_command
from django.urls import reverse

from governance.choices import Role
from governance.models import AuditEvent, ScorecardSnapshot
from governance.registries import scorecard_dimensions
from governance.scorecard import previous_quarters, quarter_of, scorecard_now, scorecard_snapshot
from tests.factories import person

pytestmark = pytest.mark.django_db
PASSWORD = "correct-horse-battery-staple"
# Object actions that only show or download what the viewer may already read.
READ_ONLY_ACTIONS = {"compare", "download_evidence"}
READ_ACTIONS = {"evidence.export", "login", "logout"}


def test_the_demo_scorecard_shows_every_registered_dimension_with_its_facts():
    call_command("seed_demo")
    rows = scorecard_now()
    assert [row["name"] for row in rows] == sorted(name for name, _ in scorecard_dimensions.items())
    for row in rows:
        assert 0 <= row["score"] <= 100
        assert row["facts"], row["name"]
    assert {"observability", "alerting", "incident_response"} <= {row["name"] for row in rows}


def test_quarterly_snapshots_make_the_trend_and_past_quarters_stay_as_they_were():
    with time_machine.travel(dt.datetime(2026, 5, 2, tzinfo=dt.UTC), tick=False):
        scorecard_snapshot()
    with time_machine.travel(dt.datetime(2026, 11, 2, tzinfo=dt.UTC), tick=False):
        scorecard_snapshot()
        scorecard_snapshot()  # refreshed, not duplicated
        rows = scorecard_now()
    assert ScorecardSnapshot.objects.filter(quarter="2026Q4").count() == len(scorecard_dimensions)
    trend = dict(rows[0]["trend"])
    assert list(trend) == ["2026Q1", "2026Q2", "2026Q3", "2026Q4"]
    assert trend["2026Q1"] is None and trend["2026Q3"] is None
    assert trend["2026Q2"] is not None and trend["2026Q4"] is not None


def test_quarters():
    assert quarter_of(dt.date(2026, 3, 31)) == "2026Q1"
    assert previous_quarters("2026Q2", 4) == ["2025Q3", "2025Q4", "2026Q1", "2026Q2"]


def test_ops_status_carries_the_scorecard_headline_and_the_chain(capsys):
    import json

    with pytest.raises(SystemExit):
        call_command("ops_status", "--json")
    names = {check["name"]: check for check in json.loads(capsys.readouterr().out)["checks"]}
    assert names["scorecard"]["detail"].startswith("maturity ")
    assert "audit_chain" in names


def test_an_auditor_can_read_the_scorecard_and_export_but_change_nothing(client):
    """Every add URL and every change URL (POST) of every admin answers 403 to an Auditor."""
    call_command("seed_demo")
    auditor = person("ada.auditor", Role.AUDITOR)
    client.force_login(auditor)
    assert client.get(reverse("admin:scorecard")).status_code == 200
    assert client.get(reverse("admin:evidence")).status_code == 200
    checked = actions_checked = 0
    for model, model_admin in admin.site._registry.items():
        meta = model._meta
        add = reverse(f"admin:{meta.app_label}_{meta.model_name}_add")
        assert client.get(add).status_code == 403, add
        obj = model_admin.get_queryset(admin_request(auditor)).first()
        if obj is None:
            continue
        change = reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[obj.pk])
        response = client.post(change, {})
        assert response.status_code == 403, (change, response.status_code)
        delete = reverse(f"admin:{meta.app_label}_{meta.model_name}_delete", args=[obj.pk])
        assert client.get(delete).status_code == 403, delete
        assert client.post(delete, {"post": "yes"}).status_code == 403, delete
        # The buttons of the change page (object actions): a hand-typed URL is refused like the button is hidden.
        for tool in getattr(model_admin, "change_actions", []):
            if tool in READ_ONLY_ACTIONS:
                continue
            action = reverse(f"admin:{meta.app_label}_{meta.model_name}_actions", kwargs={"pk": obj.pk, "tool": tool})
            assert client.get(action).status_code in (403, 405), action  # 405: a POST-only action
            assert client.post(action, {}).status_code == 403, action
            actions_checked += 1
        checked += 1
    assert checked >= 10
    assert actions_checked >= 20
    # Nothing the Auditor did was a write: the trail holds only their own reads and exports.
    assert not AuditEvent.objects.filter(actor_user=auditor).exclude(action__in=READ_ACTIONS).exists()


def admin_request(user):
    from django.test import RequestFactory

    request = RequestFactory().get("/admin/")
    request.user = user
    return request


def test_people_without_the_permission_get_403(client):
    responder = person("rita.responder", Role.RESPONDER)
    client.force_login(responder)
    assert client.get(reverse("admin:scorecard")).status_code == 403
    assert client.get(reverse("admin:evidence")).status_code == 403


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_an_auditor_opens_the_scorecard_and_downloads_a_bundle_that_verifies(
    live_server, browser, monkeypatch, tmp_path
):
    from django.db import connections

    from governance.evidence import verify_bundle

    monkeypatch.setitem(connections.settings["default"], "CONN_MAX_AGE", 0)
    call_command("seed_demo")
    person("ada.auditor", Role.AUDITOR)
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    # The scorecard runs every health check and dimension (a worker ping among them): slow on a loaded CI.
    page.set_default_timeout(90_000)
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "ada.auditor")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#content")

    page.goto(f"{live_server.url}/admin/scorecard/")
    table = page.inner_text("#scorecard-table")
    for _name, dimension in scorecard_dimensions.items():
        assert dimension.title in table
    page.click("text=Export evidence")
    page.wait_for_selector("#evidence-form")
    with page.expect_download() as download:
        page.click("#evidence-form button[type=submit]")
    bundle = tmp_path / "bundle.zip"
    download.value.save_as(bundle)
    manifest = verify_bundle(bundle)
    assert manifest["files"]
    context.close()
