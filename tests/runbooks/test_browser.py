"""In Chromium: a responder runs the suggested runbook from a SEV1 incident; hostile Markdown stays inert."""

from pathlib import Path

import pytest

from governance.choices import Role
from incidents.services import incident_declare
from runbooks import services
from runbooks.starter import load_starter_runbooks
from tests.factories import ServiceFactory, person

from .test_markdown import HOSTILE

SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
PASSWORD = "correct-horse-battery-staple"


def _login(page, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#content")


@pytest.fixture
def short_lived_connections(monkeypatch):
    from django.db import connections

    # The live server's request threads close their connection after each request.
    monkeypatch.setitem(connections.settings["default"], "CONN_MAX_AGE", 0)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_responder_starts_the_suggested_runbook_and_sees_two_steps_on_the_timeline(
    live_server, browser, short_lived_connections
):
    responder = person("night.responder", Role.RESPONDER, first_name="Liam", last_name="Chen")
    commander = person("night.commander", Role.INCIDENT_COMMANDER)
    service = ServiceFactory(slug="checkout-api", name="Checkout API")
    report = load_starter_runbooks()
    assert report.rejected == 0
    incident = incident_declare(
        title="Card payments failing", severity="SEV1", service=service, commander=commander, declared_by=commander
    )

    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(15_000)
    _login(page, live_server.url, responder.username)

    page.goto(f"{live_server.url}/admin/incidents/incident/{incident.pk}/change/")
    suggestion = page.locator("#panel-runbooks tr[data-slug=sev1-incident-command]")
    assert suggestion.count() == 1
    assert page.locator("#panel-runbooks tr.runbook-suggestion").count() == 1  # only what applies to a SEV1
    suggestion.locator("button.runbook-start").click()

    page.wait_for_selector("#step-1-form")
    assert "SEV1 incident command" in page.inner_text("#execution-summary")
    page.fill("#step-1-output", "Acknowledged at 03:04; I have command.")
    page.click("#step-1-form button[value=done]")
    page.wait_for_selector("#step-1-outcome")
    page.fill("#step-2-output", "War room #inc-payments open; first update posted.")
    page.click("#step-2-form button[value=done]")
    page.wait_for_selector("#step-2-outcome")
    assert "Done by night.responder" in page.inner_text("#step-2-outcome")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "runbook-runner.png"), full_page=True)

    page.click("#back-to-incident")
    page.wait_for_selector("#incident-timeline")
    timeline = page.inner_text("#incident-timeline")
    assert "Runbook «SEV1 incident command» v1: started" in timeline
    assert "step 1 (Acknowledge and take command): done — Acknowledged at 03:04; I have command." in timeline
    assert "step 2 (Open the war room and post the first update): done — War room #inc-payments open" in timeline
    assert page.locator("#panel-runbooks a.runbook-execution-link").count() == 1
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "runbook-on-incident.png"), full_page=True)
    context.close()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_hostile_markdown_runs_no_script_in_chromium(live_server, browser, short_lived_connections):
    author = person("rb.author", Role.OPS_ADMIN)
    service = ServiceFactory(slug="checkout-api", name="Checkout API")
    body = (
        HOSTILE
        + "\n## Step 1: Click things\n[run](javascript:window.pwned=6)\n\n"
        + "```sh\necho '<script>window.pwned=7</script>'\n```\n"
    )
    runbook = services.runbook_create(slug="hostile", title="Hostile", service=service, body=body, actor=author)

    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(15_000)
    dialogs, errors = [], []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    _login(page, live_server.url, author.username)

    for url in (
        f"/admin/runbooks/runbook/{runbook.pk}/change/",
        f"/admin/runbooks/runbookversion/{runbook.versions.get().pk}/change/",
    ):
        page.goto(live_server.url + url)
        page.wait_for_selector(".runbook-content")
        content = page.locator(".runbook-content").first
        assert content.locator("script, iframe, img[onerror], [onclick], [onmouseover]").count() == 0
        for link in content.locator("a").all():
            href = (link.get_attribute("href") or "").lower()
            assert not href.startswith(("javascript", "data")), href
        # Hover and click everything the content offers; nothing may run.
        for element in content.locator("p, a, code").all():
            element.hover()
        for link in content.locator("a").all():
            link.click(modifiers=["Control"])  # never navigate away from the page under test
        assert page.evaluate("typeof window.pwned") == "undefined"
        assert "window.pwned = 1" in content.inner_text()  # shown as text
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"runbook-hostile-{url.split('/')[3]}.png"), full_page=True)
    assert dialogs == [] and errors == []
    context.close()
