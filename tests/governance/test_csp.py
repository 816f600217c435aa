"""The Content-Security-Policy: the header every page carries, and no page the admin shows breaks it in Chromium."""

import os

import pytest
from django.core.management import call_command
from django.urls import reverse

from access_reviews.choices import Decision
from access_reviews.models import ReviewItem
from backups.models import BackupTarget
from incidents.models import Incident
from runbooks.models import Runbook
from slos.models import SLO
from tests.factories import UserFactory

PASSWORD = "correct-horse-battery-staple"
POLICY = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'"],
    "object-src": ["'none'"],
    "base-uri": ["'self'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
}
# Installed before any page script runs: every violation the page reports, kept where the test can read it.
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  const where = `${e.sourceFile}:${e.lineNumber}`;
  window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI || "inline"} at ${where}`);
});
"""


def directives(header: str) -> dict[str, list[str]]:
    parts = (part.split() for part in header.split(";") if part.strip())
    return {name: sources for name, *sources in parts}


@pytest.mark.django_db
def test_every_page_carries_the_strict_policy(client):
    assert directives(client.get("/admin/login/")["Content-Security-Policy"]) == POLICY
    client.force_login(UserFactory(username="root", is_superuser=True))
    for url in ("/admin/", reverse("admin:scorecard")):
        response = client.get(url)
        assert response.status_code == 200, url
        assert directives(response["Content-Security-Policy"]) == POLICY, url


@pytest.mark.django_db
def test_only_the_api_docs_page_may_show_data_images(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    assert directives(response["Content-Security-Policy"]) == {**POLICY, "img-src": ["'self'", "data:"]}
    assert b"<script>" not in response.content and b"<style>" not in response.content


@pytest.fixture
def quiet_live_server(live_server, monkeypatch):
    from django.db import connections

    # The live server's request threads close their connection after each request.
    monkeypatch.setitem(connections.settings["default"], "CONN_MAX_AGE", 0)
    return live_server


def violations_on(page, console: list[str]) -> list[str]:
    """What the page's listener caught, and what Chromium logged about the policy."""
    return page.evaluate("() => window.__cspViolations") + [
        text for text in console if "Content Security Policy" in text
    ]


def open_pages(browser, live_server, username: str, paths: list[str], *, ready: dict[str, str] | None = None):
    """Log in as `username`, visit each path; returns {path: [violations]} for the pages that had any."""
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    context.add_init_script(RECORD_VIOLATIONS)
    page = context.new_page()
    page.set_default_timeout(30_000)
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    page.goto(f"{live_server.url}/admin/login/")
    page.wait_for_load_state("networkidle")
    found = {}
    if login_violations := violations_on(page, console):
        found["/admin/login/"] = login_violations
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#content")
    for path in paths:
        console.clear()
        response = page.goto(f"{live_server.url}{path}")
        assert response.status == 200, path
        assert "Content-Security-Policy" in {name.title() for name in response.headers}, path
        page.wait_for_selector((ready or {}).get(path, "#content"))
        page.wait_for_load_state("networkidle")
        if violations := violations_on(page, console):
            found[path] = violations
    context.close()
    return found


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_no_admin_page_breaks_the_policy_in_chromium(quiet_live_server, browser, settings):
    settings.ALERT_ALLOW_PRIVATE_URLS = True
    call_command("seed_demo", stdout=open(os.devnull, "w"))  # noqa: SIM115
    UserFactory(username="root", is_superuser=True)
    item = ReviewItem.objects.filter(decision=Decision.PENDING).select_related("reviewer").first()
    slo = SLO.objects.first()
    paths = [
        "/admin/",
        reverse("admin:incidents_incident_change", args=[Incident.objects.first().pk]),
        reverse("admin:access_reviews_reviewitem_change", args=[item.pk]),
        reverse("admin:runbooks_runbook_change", args=[Runbook.objects.first().pk]),
        reverse("admin:changes_change_calendar"),
        reverse("admin:scorecard"),
        reverse("admin:slos_slo_changelist"),
        reverse("admin:slos_slo_change", args=[slo.pk]),
        reverse("admin:backups_backuptarget_change", args=[BackupTarget.objects.first().pk]),
        "/api/docs/",
    ]
    # The swagger page has no #content: it is ready when Swagger UI has drawn the operations.
    ready = {"/api/docs/": "#swagger-ui .opblock"}
    assert open_pages(browser, quiet_live_server, "root", paths, ready=ready) == {}

    # The reviewer's own view adds the progress bar and the decide / delegate forms.
    item.reviewer.set_password(PASSWORD)
    item.reviewer.save()
    mine = [
        reverse("admin:access_reviews_reviewitem_changelist"),
        reverse("admin:access_reviews_reviewitem_change", args=[item.pk]),
    ]
    ready = {mine[0]: "#review-progress", mine[1]: "#decide-form"}
    assert open_pages(browser, quiet_live_server, item.reviewer.username, mine, ready=ready) == {}
