"""A manager's quarterly review in a real browser: only their items, keep two, revoke one, progress moves."""

import pytest

from access_reviews import services
from access_reviews.choices import RemediationStatus
from access_reviews.models import Remediation, ReviewItem
from access_reviews.selectors import campaigns_with_progress
from governance.choices import Role
from tests.conftest import screenshot_path

from .conftest import identity_of, person
from .factories import SystemFactory, TemplateFactory
from .helpers import snapshot

PASSWORD = "correct-horse-battery-staple"


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_manager_keeps_two_revokes_one_and_the_campaign_moves(live_server, browser, monkeypatch):
    from django.db import connections

    monkeypatch.setitem(connections.settings["default"], "CONN_MAX_AGE", 0)
    compliance = person("compliance", Role.COMPLIANCE_MANAGER)
    manager = person("maria.manager", first_name="Maria", last_name="Manager")
    other = person("olaf.other")
    for name in ("carol", "dave", "ed"):
        person(name, role=None, manager=identity_of(manager))
    person("erin", role=None, manager=identity_of(other))
    system = SystemFactory(slug="billing-db", name="Billing DB", owner=person("owner", Role.OPS_ADMIN))
    template = TemplateFactory(
        name="Billing quarterly", systems=[system], fallback_reviewer=person("fallback"), owner=compliance
    )
    snapshot(system, ("carol", "read"), ("dave", "read"), ("ed", "admin"), ("erin", "read"))
    campaign = services.campaign_launch(template=template)

    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "maria.manager")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#content")

    page.goto(f"{live_server.url}/admin/access_reviews/reviewitem/?state=pending")
    assert "0 of 3 decided" in page.inner_text("#review-progress")
    rows = page.inner_text("#result_list")
    assert "carol" in rows and "dave" in rows and "ed" in rows
    assert "erin" not in rows  # olaf's item is not there

    # Keep two in bulk.
    for account in ("carol", "dave"):
        pk = ReviewItem.objects.get(campaign=campaign, account=account).pk
        page.check(f"input[name=_selected_action][value='{pk}']")
    page.select_option("select[name=action]", "keep_selected")
    page.click("button[name=index]")
    page.wait_for_selector(".messagelist")
    assert "2 item(s) marked keep" in page.inner_text(".messagelist")
    assert "2 of 3 decided" in page.inner_text("#review-progress")

    # Revoke one with a justification, from its page.
    page.click("#result_list a:text-is('ed')")
    page.wait_for_selector("#decide-form")
    page.select_option("#id_decision", "revoke")
    page.fill("#id_justification", "Ed moved to marketing; no billing access needed")
    page.click("input[name=_decide]")
    page.wait_for_selector(".messagelist")
    page.goto(f"{live_server.url}/admin/access_reviews/reviewitem/")
    assert "3 of 3 decided" in page.inner_text("#review-progress")
    page.screenshot(path=str(screenshot_path("access_review.png")), full_page=True)
    context.close()

    decisions = dict(ReviewItem.objects.filter(campaign=campaign).values_list("account", "decision"))
    assert decisions == {"carol": "keep", "dave": "keep", "ed": "revoke", "erin": "pending"}
    ed = ReviewItem.objects.get(campaign=campaign, account="ed")
    assert ed.justification.startswith("Ed moved") and ed.decided_by == manager
    assert Remediation.objects.get(item=ed).status == RemediationStatus.OPEN
    # The campaign's progress (what its admin page and the API show) moved from 0 of 4 to 3 of 4.
    row = campaigns_with_progress().get(pk=campaign.pk)
    assert (row.n_items, row.n_pending) == (4, 1)
