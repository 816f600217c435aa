"""A team pushes counts through the API; an Ops Admin evaluates the SLO from its page and sees the budget
chart, then the SLO list shows the exhausted budget and the weekly review lists it."""

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
import requests
from django.utils import timezone

from governance.choices import Role
from governance.services import api_key_create
from slos.models import SLO
from slos.services import slo_save
from tests.factories import ServiceFactory, person

SCREENSHOT = Path(__file__).resolve().parents[2] / "var" / "screenshots" / "slo-page.png"
PASSWORD = "correct-horse-battery-staple"


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_ops_admin_evaluates_and_sees_the_budget_chart(live_server, browser, monkeypatch, settings):
    from django.db import connections

    monkeypatch.setitem(connections.settings["default"], "CONN_MAX_AGE", 0)
    settings.TIME_ZONE = "UTC"
    person("ops.admin", Role.OPS_ADMIN)
    service = ServiceFactory(slug="checkout-api", name="Checkout API")
    slo, _ = slo_save(
        slug="checkout-availability", name="Checkout availability", service=service, objective=Decimal("0.999")
    )
    key = api_key_create(name="checkout exporter", scopes=["slos:write"]).raw_key
    top = timezone.now().replace(minute=0, second=0, microsecond=0)
    intervals = [
        {
            "start": (top - dt.timedelta(hours=h + 1)).isoformat(),
            "end": (top - dt.timedelta(hours=h)).isoformat(),
            "good": 9_980,
            "total": 10_000,
        }
        for h in range(48)
    ]  # 0.2 % errors against 99.9 %: the budget is overspent
    response = requests.post(
        f"{live_server.url}/api/v1/slos/checkout-availability/events/",
        json={"intervals": intervals},
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )
    assert response.json() == {"created": 48, "updated": 0, "unchanged": 0}

    context = browser.new_context(viewport={"width": 1400, "height": 1100})
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "ops.admin")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#content")

    page.goto(f"{live_server.url}/admin/slos/slo/{slo.pk}/change/")
    page.click("text=Evaluate now")
    page.wait_for_selector(".messagelist .info")
    assert "checkout-availability: exhausted" in page.inner_text(".messagelist").lower()
    assert page.locator("svg.slo-chart path.consumed").count() == 1
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)

    page.goto(f"{live_server.url}/admin/slos/slo/")
    row = page.inner_text("#result_list")
    assert "Exhausted" in row and "-100.0 %" in row
    page.click("text=Weekly SLO review")
    assert "checkout-availability" in page.inner_text("#slo-review")
    assert SLO.objects.get(pk=slo.pk).budget_status == "exhausted"
    context.close()
