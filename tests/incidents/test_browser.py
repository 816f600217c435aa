"""A commander's night, in a real browser: declare, acknowledge, update, resolve."""

import pytest

from governance.choices import Role
from incidents.models import Incident
from tests.conftest import screenshot_path
from tests.factories import ServiceFactory, person

PASSWORD = "correct-horse-battery-staple"


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_commander_declares_acknowledges_updates_and_resolves(live_server, browser, monkeypatch):
    from django.db import connections

    # The live server's request threads close their connection after each request, so none
    # outlives the test and blocks dropping the test database.
    monkeypatch.setitem(connections.settings["default"], "CONN_MAX_AGE", 0)
    person("night.commander", Role.INCIDENT_COMMANDER, first_name="Amara", last_name="Okafor")
    ServiceFactory(slug="checkout-api", name="Checkout API")
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(15_000)

    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "night.commander")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#content")

    page.goto(f"{live_server.url}/admin/incidents/incident/add/")
    page.fill("#id_title", "Checkout returns 502 for card payments")
    page.select_option("#id_severity", "SEV1")
    page.select_option("#id_service", label="Checkout API")
    page.fill("#id_summary", "Error rate above 10 % since 03:02.")
    page.click("input[name=_save]")
    page.wait_for_selector("#incident-timeline")
    assert "ack due in 5 min" in page.inner_text("body")
    incident = Incident.objects.get()

    page.click("li[data-tool-name=acknowledge] button")
    page.wait_for_selector("li[data-tool-name=resolve]")

    page.click("li[data-tool-name=post_update] a")
    page.fill("#id_message", "Rolling back the 02:55 deploy.")
    page.click("input[name=_submit]")
    page.wait_for_selector("#incident-timeline")

    page.click("li[data-tool-name=resolve] a")
    page.fill("#id_note", "Rollback complete; error rate back to normal.")
    page.click("input[name=_submit]")
    page.wait_for_selector("li[data-tool-name=close]")

    timeline = page.inner_text("#incident-timeline")
    for step in ("Declared", "Acknowledged", "Status update", "Rolling back the 02:55 deploy.", "Resolved"):
        assert step in timeline
    incident.refresh_from_db()
    assert incident.status == "resolved"
    page.screenshot(path=str(screenshot_path("incident.png")), full_page=True)
    context.close()
