"""The console in a real browser, on a laptop (1440 × 900) and on a phone (390 × 844)."""

import os

import pytest
from django.core.management import call_command

from access_reviews.choices import Decision
from access_reviews.models import ReviewItem
from governance.choices import Role
from incidents.models import Incident
from tests.conftest import screenshot_path
from tests.factories import ServiceFactory, UserFactory, person
from tests.incidents.factories import IncidentFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "correct-horse-battery-staple"
LAPTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}

# Every word of every table header, measured: a word whose line boxes sit on two lines was broken inside.
WORDS_BROKEN_IN_HEADERS = """() => {
  const broken = []; let words = 0;
  for (const th of document.querySelectorAll('#content th')) {
    if (!th.offsetParent) continue;
    const walker = document.createTreeWalker(th, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      for (const match of node.data.matchAll(/\\S+/g)) {
        const range = document.createRange();
        range.setStart(node, match.index);
        range.setEnd(node, match.index + match[0].length);
        const lines = new Set([...range.getClientRects()].filter(r => r.width > 0).map(r => Math.round(r.top)));
        words += 1;
        if (lines.size > 1) broken.push(match[0]);
      }
    }
  }
  return {broken, words};
}"""
SCROLLS_SIDEWAYS = "() => document.documentElement.scrollWidth - window.innerWidth"
# What sticks out, when something does: the innermost elements whose right edge passes the screen's.
WIDEST = """() => [...document.querySelectorAll('body *')]
  .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1 && e.children.length === 0)
  .slice(0, 8).map(e => `${e.tagName}#${e.id}.${e.className} ${Math.round(e.getBoundingClientRect().right)}`)"""


@pytest.fixture
def quiet_live_server(live_server, monkeypatch):
    from django.db import connections

    # The live server's request threads close their connection after each request.
    monkeypatch.setitem(connections.settings["default"], "CONN_MAX_AGE", 0)
    return live_server


def log_in(browser, live_server, username, viewport):
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#content")
    return context, page


def test_a_commander_sees_their_sev1_first_and_no_header_breaks_inside_a_word(quiet_live_server, browser, settings):
    settings.ALERT_ALLOW_PRIVATE_URLS = True
    # As deployed: her list is kept in the cache, and the new incident below (committed) must still reach it.
    settings.NEEDS_YOU_CACHE_SECONDS = 30
    call_command("seed_demo", stdout=open(os.devnull, "w"))  # noqa: SIM115
    commander = person("night.commander", Role.INCIDENT_COMMANDER, first_name="Amara", last_name="Okafor")
    incident = IncidentFactory(
        title="Checkout returns 502", commander=commander, service=ServiceFactory(slug="checkout-api")
    )

    context, page = log_in(browser, quiet_live_server, "night.commander", LAPTOP)
    box = page.locator("#needs-you")
    first_line = box.locator("li.vigil-need").first
    assert first_line.locator("a").inner_text().endswith(f"{incident.reference} Checkout returns 502: acknowledge")
    assert first_line.locator("time.vigil-clock").inner_text().startswith("ack due in ")
    top = box.bounding_box()
    assert top["y"] + top["height"] < LAPTOP["height"], "'Needs you now' is on the first screen"
    # The clock moves on without a reload; the list refreshes from the server (what live.js does every 30 s).
    IncidentFactory(title="Payments page blank", commander=commander)
    page.evaluate("() => window.vigilConsole.refresh()")
    page.wait_for_function("() => document.querySelector('#needs-you').innerText.includes('Payments page blank')")
    page.screenshot(path=str(screenshot_path("dashboard.png")))
    context.close()

    UserFactory(username="dana", is_staff=True, is_superuser=True)  # every panel of every app
    context, page = log_in(browser, quiet_live_server, "dana", LAPTOP)
    page.wait_for_selector("#vigil-dashboard")
    measured = page.evaluate(WORDS_BROKEN_IN_HEADERS)
    assert measured["words"] >= 20, measured  # the dashboard's tables were measured, not skipped
    assert measured["broken"] == [], measured
    assert page.evaluate(SCROLLS_SIDEWAYS) <= 0
    context.close()


def test_on_a_phone_a_commander_acknowledges_in_two_taps_and_nothing_scrolls_sideways(
    quiet_live_server, browser, settings
):
    settings.ALERT_ALLOW_PRIVATE_URLS = True
    call_command("seed_demo", stdout=open(os.devnull, "w"))  # noqa: SIM115
    commander = person("night.commander", Role.INCIDENT_COMMANDER)
    incident = IncidentFactory(title="Checkout returns 502 for every card payment", commander=commander)
    context, page = log_in(browser, quiet_live_server, "night.commander", PHONE)
    assert page.evaluate(SCROLLS_SIDEWAYS) <= 0, "dashboard"
    page.screenshot(path=str(screenshot_path("phone-dashboard.png")))

    # Tap 1: the notification's link opens the incident. Tap 2: the primary button.
    page.goto(f"{quiet_live_server.url}/admin/incidents/incident/{incident.pk}/change/")
    assert page.evaluate(SCROLLS_SIDEWAYS) <= 0, "incident page"
    primary = page.locator("li.vigil-primary-action button")
    assert primary.text_content().strip() == "Acknowledge"
    size = primary.bounding_box()
    assert size["height"] >= 40 and size["width"] >= 44, size  # a thumb hits it
    page.screenshot(path=str(screenshot_path("phone-incident.png")))
    primary.click()
    page.wait_for_selector("li[data-tool-name=resolve]")
    incident.refresh_from_db()
    assert incident.status == "acknowledged"
    assert page.locator("li.vigil-primary-action").get_attribute("data-tool-name") in ("resolve", "post_update")
    context.close()


def test_a_reviewer_sees_their_pending_items_and_the_review_page_fits_a_phone(quiet_live_server, browser, settings):
    settings.ALERT_ALLOW_PRIVATE_URLS = True
    call_command("seed_demo", stdout=open(os.devnull, "w"))  # noqa: SIM115
    item = ReviewItem.objects.filter(decision=Decision.PENDING).select_related("reviewer").first()
    reviewer = item.reviewer
    reviewer.set_password(PASSWORD)
    reviewer.save()
    pending = ReviewItem.objects.filter(reviewer=reviewer, decision=Decision.PENDING).count()

    context, page = log_in(browser, quiet_live_server, reviewer.username, LAPTOP)
    needs = page.inner_text("#needs-you")
    expected = "1 access review item" if pending == 1 else f"{pending} access review items"
    assert f"{expected} to decide in " in needs
    context.close()

    context, page = log_in(browser, quiet_live_server, reviewer.username, PHONE)
    page.goto(f"{quiet_live_server.url}/admin/access_reviews/reviewitem/{item.pk}/change/")
    assert item.account in page.inner_text("#content")
    assert page.evaluate(SCROLLS_SIDEWAYS) <= 0, ("review item page", page.evaluate(WIDEST))
    context.close()


def test_the_incident_page_shows_a_band_one_primary_button_and_an_update_box(quiet_live_server, browser):
    commander = person("night.commander", Role.INCIDENT_COMMANDER)
    incident = IncidentFactory(title="Search is slow", commander=commander, severity="SEV2")
    Incident.objects.filter(pk=incident.pk).update(status="acknowledged", acknowledged_at=incident.declared_at)
    context, page = log_in(browser, quiet_live_server, "night.commander", LAPTOP)
    page.goto(f"{quiet_live_server.url}/admin/incidents/incident/{incident.pk}/change/")
    band = page.inner_text("#incident-band")
    assert "SEV2" in band and incident.reference in band and "Acknowledged" in band
    assert page.locator("li.vigil-primary-action").count() == 1
    page.fill("#id_update_message", "Index rebuilt; latency falling.")
    page.click("#incident-update-box button[type=submit]")
    page.wait_for_selector("#incident-timeline")
    assert "Index rebuilt; latency falling." in page.inner_text("#incident-timeline")
    # The timeline filters by kind in the page.
    page.select_option("#incident-timeline-filter", "status_update")
    visible = page.locator("#incident-timeline tbody tr:visible")
    assert visible.count() == 1 and "Index rebuilt" in visible.inner_text()
    page.screenshot(path=str(screenshot_path("incident-console.png")), full_page=True)
    context.close()
