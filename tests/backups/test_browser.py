"""An Ops Admin's drill in a real browser: start, restore, check, verify; a second person signs off."""

import datetime as dt

import pytest

from backups.choices import RunStatus
from backups.models import RestoreDrill
from backups.services import backup_run_report
from governance.choices import Role
from tests.conftest import screenshot_path
from tests.factories import person

PASSWORD = "correct-horse-battery-staple"


def _login(page, url, username):
    page.goto(f"{url}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#content")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_ops_admin_runs_a_drill_and_a_second_person_signs_it_off(live_server, browser, monkeypatch, make_target):
    from django.db import connections

    monkeypatch.setitem(connections.settings["default"], "CONN_MAX_AGE", 0)
    person("drill.runner", Role.OPS_ADMIN)
    person("drill.signer", Role.COMPLIANCE_MANAGER)
    target = make_target(slug="orders-db", name="Orders DB", rpo_minutes=60, rto_minutes=30)
    finished = dt.datetime.now(tz=dt.UTC) - dt.timedelta(hours=3)
    backup_run_report(
        target=target,
        status=RunStatus.SUCCEEDED,
        started_at=finished - dt.timedelta(minutes=5),
        finished_at=finished,
        external_id="orders-1",
    )
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(15_000)
    _login(page, live_server.url, "drill.runner")

    page.goto(f"{live_server.url}/admin/backups/backuptarget/")
    assert "last good backup 3 h ago, RPO 1 h: BREACHED" in page.inner_text("#result_list")
    page.click("text=Orders DB")
    page.click("li[data-tool-name=start_drill] button")
    page.wait_for_selector("li[data-tool-name=mark_restored]")
    page.click("li[data-tool-name=mark_restored] button")
    page.wait_for_selector("li[data-tool-name=mark_verified]")

    page.click("#checks-group .add-row a")
    page.fill("#id_checks-0-name", "orders of yesterday")
    page.fill("#id_checks-0-expected", "1204")
    page.fill("#id_checks-0-actual", "1204")
    page.select_option("#id_checks-0-passed", "true")
    page.click("input[name=_continue]")
    page.wait_for_selector("li[data-tool-name=mark_verified]")
    page.click("li[data-tool-name=mark_verified] button")
    page.wait_for_selector("text=Drill verified.")
    body = page.inner_text("#content")
    # Restored in time, but from a backup 3 h old: the RPO objective fails the drill.
    assert "Failed" in body and "RPO missed" in body and "(target 30 min)" in body
    page.screenshot(path=screenshot_path("backups-drill-verified.png"))

    context.clear_cookies()
    _login(page, live_server.url, "drill.signer")
    drill = RestoreDrill.objects.get()
    page.goto(f"{live_server.url}/admin/backups/restoredrill/{drill.pk}/change/")
    page.click("li[data-tool-name=sign_off] a")
    page.fill("#id_findings", "Restore within target; runbook accurate.")
    page.click("input[type=submit][value='Sign off']")
    page.wait_for_selector("text=Drill signed off.")
    drill.refresh_from_db()
    assert drill.status == "failed" and drill.rto_met and drill.rpo_met is False
    assert drill.signed_off_by.username == "drill.signer"
    assert drill.checks.get().passed is True
    context.close()
