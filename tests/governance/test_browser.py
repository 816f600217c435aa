"""The admin in a real browser: log in, see the dashboard. Its screenshot is the README's."""

import os

import pytest

from tests.conftest import screenshot_path
from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_admin_logs_in_and_sees_the_dashboard(live_server, browser, settings):
    from celery import current_app
    from django.core.management import call_command

    from governance.registries import scheduled_jobs

    settings.ALERT_ALLOW_PRIVATE_URLS = True
    call_command("seed_demo", stdout=open(os.devnull, "w"))  # noqa: SIM115
    for job in scheduled_jobs:  # one run each, as beat would: the platform panel shows them fresh
        current_app.tasks[job.task]()
    UserFactory(username="dana", is_superuser=True, password="correct-horse-battery-staple")
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{live_server.url}/admin/")
    assert "Log in" in page.title()
    page.fill("#id_username", "dana")
    page.fill("#id_password", "correct-horse-battery-staple")
    page.click("input[type=submit]")
    page.wait_for_selector("#vigil-dashboard")
    assert page.title().startswith("Dashboard")
    panel = page.locator("#panel-platform")
    assert panel.locator("h2").inner_text() == "Platform health"
    assert "governance.heartbeat" in panel.inner_text()
    assert "database: ok" in panel.inner_text()
    assert "Every scheduled job ran on time." in panel.inner_text()
    page.screenshot(path=str(screenshot_path("dashboard-full.png")), full_page=True)
    page.close()
