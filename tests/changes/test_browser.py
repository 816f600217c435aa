"""An Ops Admin declares a freeze in the admin, sees it on the change calendar, and the pipeline's gate call
through the API is refused while it lasts."""

import datetime as dt
from pathlib import Path

import pytest
import requests
from django.utils import timezone

from changes.models import FreezeWindow
from governance.choices import Role
from governance.services import api_key_create
from tests.factories import ServiceFactory, person

SCREENSHOT = Path(__file__).resolve().parents[2] / "var" / "screenshots" / "change-calendar.png"
PASSWORD = "correct-horse-battery-staple"


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_ops_admin_freezes_sees_the_calendar_and_the_gate_refuses(live_server, browser, monkeypatch, settings):
    from django.db import connections

    monkeypatch.setitem(connections.settings["default"], "CONN_MAX_AGE", 0)
    settings.TIME_ZONE = "UTC"
    person("ops.admin", Role.OPS_ADMIN, first_name="Noor", last_name="Haddad")
    ServiceFactory(slug="checkout-api", name="Checkout API")
    key = api_key_create(name="deploy pipeline", scopes=["changes:gate", "changes:write"]).raw_key
    now = timezone.now()
    starts, ends = now - dt.timedelta(hours=1), now + dt.timedelta(hours=3)

    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "ops.admin")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#content")

    page.goto(f"{live_server.url}/admin/changes/freezewindow/add/")
    page.fill("#id_name", "Year-end freeze")
    page.fill("#id_reason", "Finance closes the books.")
    page.select_option("#id_recurrence", "once")
    page.fill("#id_starts_at_0", starts.strftime("%Y-%m-%d"))
    page.fill("#id_starts_at_1", starts.strftime("%H:%M:%S"))
    page.fill("#id_ends_at_0", ends.strftime("%Y-%m-%d"))
    page.fill("#id_ends_at_1", ends.strftime("%H:%M:%S"))
    page.check("#id_all_services")
    page.fill("#id_environments", "production")
    page.click("input[name=_save]")
    page.wait_for_selector(".messagelist .success")
    window = FreezeWindow.objects.get(name="Year-end freeze")

    page.goto(f"{live_server.url}/admin/changes/change/calendar/")
    page.wait_for_selector("#change-calendar")
    calendar = page.inner_text("#change-calendar")
    assert "All services" in calendar
    assert "Freeze: Year-end freeze" in calendar
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    context.close()

    gate = f"{live_server.url}/api/v1/changes/gate/"
    headers = {"Authorization": f"Bearer {key}"}
    body = {"service": "checkout-api", "environment": "production", "version": "2026.12.1"}
    refused = requests.post(gate, json=body, headers=headers, timeout=10)
    assert refused.status_code == 409
    reason = refused.json()["reasons"][0]
    assert reason["code"] == "freeze_window"
    assert dt.datetime.fromisoformat(reason["ends_at"]) == ends.replace(microsecond=0)
    staging = requests.post(gate, json={**body, "environment": "staging"}, headers=headers, timeout=10)
    assert staging.status_code == 200

    FreezeWindow.objects.filter(pk=window.pk).update(ends_at=timezone.now() - dt.timedelta(seconds=1))
    assert requests.post(gate, json=body, headers=headers, timeout=10).status_code == 200
