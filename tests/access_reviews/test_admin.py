import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from access_reviews import services
from access_reviews.choices import CampaignStatus, Decision
from access_reviews.models import AccessGrant, Campaign, ReviewItem
from governance.models import AuditEvent

from .conftest import identity_of, person
from .helpers import snapshot

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:access_reviews_reviewitem_changelist"


def change_url(item):
    return reverse("admin:access_reviews_reviewitem_change", args=[item.pk])


@pytest.fixture
def items(org):
    snapshot(org["system"], ("carol", "read"), ("dave", "admin", True), ("erin", "read"))
    campaign = services.campaign_launch(template=org["template"])
    return {
        "campaign": campaign,
        "carol": campaign.items.get(account="carol"),  # alice's
        "dave": campaign.items.get(account="dave"),  # alice's, privileged
        "erin": campaign.items.get(account="erin"),  # bob's
    }


def test_reviewer_changelist_shows_only_their_items_and_progress(org, items, client):
    client.force_login(org["alice"])
    response = client.get(reverse(CHANGELIST))
    assert response.status_code == 200
    shown = {item.pk for item in response.context["cl"].result_list}
    assert shown == {items["carol"].pk, items["dave"].pk}
    assert "0 of 2 decided" in response.content.decode()


def test_every_url_of_another_reviewers_item_answers_404(org, items, client):
    client.force_login(org["alice"])
    theirs = items["erin"]
    base = change_url(theirs)
    assert client.get(base).status_code == 404
    assert client.post(base, {"decision": "keep", "_decide": "1"}).status_code == 404
    assert client.post(base, {"to": org["alice"].pk, "reason": "x", "_delegate": "1"}).status_code == 404
    assert client.get(base + "history/").status_code == 404
    assert client.get(base.replace("/change/", "/delete/")).status_code in (403, 404)
    theirs.refresh_from_db()
    assert theirs.decision == Decision.PENDING and theirs.reviewer == org["bob"]


def test_bulk_action_cannot_touch_another_reviewers_item(org, items, client):
    client.force_login(org["alice"])
    response = client.post(
        reverse(CHANGELIST),
        {"action": "keep_selected", "_selected_action": [items["erin"].pk, items["carol"].pk], "justification": ""},
    )
    assert response.status_code == 302
    assert ReviewItem.objects.get(pk=items["erin"].pk).decision == Decision.PENDING
    assert ReviewItem.objects.get(pk=items["carol"].pk).decision == Decision.KEEP


def test_bulk_revoke_needs_justification_and_is_all_or_nothing(org, items, client):
    client.force_login(org["alice"])
    selected = [items["carol"].pk, items["dave"].pk]
    client.post(reverse(CHANGELIST), {"action": "revoke_selected", "_selected_action": selected, "justification": ""})
    assert set(ReviewItem.objects.filter(pk__in=selected).values_list("decision", flat=True)) == {Decision.PENDING}
    client.post(
        reverse(CHANGELIST), {"action": "revoke_selected", "_selected_action": selected, "justification": "Moved"}
    )
    assert set(ReviewItem.objects.filter(pk__in=selected).values_list("decision", flat=True)) == {Decision.REVOKE}
    assert AuditEvent.objects.filter(action="review_item_decide").count() == 2


def test_decide_from_the_item_page(org, items, client):
    client.force_login(org["alice"])
    url = change_url(items["dave"])
    page = client.get(url)
    assert page.status_code == 200 and b"Record decision" in page.content
    client.post(url, {"decision": "keep", "justification": "", "_decide": "1"})
    assert ReviewItem.objects.get(pk=items["dave"].pk).decision == Decision.PENDING  # privileged keep needs a reason
    client.post(url, {"decision": "keep", "justification": "On call DBA", "_decide": "1"})
    assert ReviewItem.objects.get(pk=items["dave"].pk).decision == Decision.KEEP


def test_delegate_from_the_item_page(org, items, client):
    client.force_login(org["alice"])
    client.post(change_url(items["carol"]), {"to": org["bob"].pk, "reason": "Bob owns billing", "_delegate": "1"})
    assert ReviewItem.objects.get(pk=items["carol"].pk).reviewer == org["bob"]


def test_compliance_manager_sees_all_items_but_decides_only_their_own(org, items, client):
    client.force_login(org["compliance"])
    response = client.get(reverse(CHANGELIST))
    assert len(response.context["cl"].result_list) == 3
    assert client.post(change_url(items["erin"]), {"decision": "keep", "_decide": "1"}).status_code == 403
    assert ReviewItem.objects.get(pk=items["erin"].pk).decision == Decision.PENDING


def test_reviewer_sees_no_campaign_template_or_system_pages(org, items, client):
    client.force_login(org["alice"])
    for name in ("campaign", "reviewtemplate", "system", "accessgrant", "remediation", "identity"):
        assert client.get(reverse(f"admin:access_reviews_{name}_changelist")).status_code == 403, name


def test_reviewer_changelist_runs_the_same_number_of_queries_for_10_and_1000_items(org, client):
    system = org["system"]
    counts = {}
    for n in (10, 1000):
        Campaign.objects.all().delete()
        AccessGrant.objects.all().delete()
        identity = identity_of(org["carol"])
        AccessGrant.objects.bulk_create(
            [AccessGrant(system=system, account=f"acct{i}", identity=identity, entitlement="read") for i in range(n)]
        )
        services.campaign_launch(template=org["template"], period=f"q{n}")
        client.force_login(org["alice"])
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(reverse(CHANGELIST) + "?state=pending")
        assert response.status_code == 200
        assert response.context["cl"].result_count == n
        counts[n] = len(ctx.captured_queries)
    assert counts[10] == counts[1000], counts


def test_campaign_page_downloads_evidence_csv(org, items, client):
    services.item_decide(item=items["carol"], reviewer=org["alice"], decision=Decision.REVOKE, justification="Gone")
    client.force_login(org["compliance"])
    url = reverse("admin:access_reviews_campaign_actions", args=[items["campaign"].pk, "download_evidence"])
    response = client.get(url)
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    body = response.content.decode()
    assert items["campaign"].snapshot_sha256 in body
    assert "carol,carol@example.com,read" in body and "Gone" in body and ",open," in body
    client.force_login(org["alice"])
    assert client.get(url).status_code == 403


def test_sign_off_from_the_campaign_page(org, items, client):
    for key in ("carol", "dave"):
        services.item_decide(item=items[key], reviewer=org["alice"], decision=Decision.REVOKE, justification="x")
    services.item_decide(item=items["erin"], reviewer=org["bob"], decision=Decision.KEEP)
    client.force_login(org["compliance"])
    url = reverse("admin:access_reviews_campaign_actions", args=[items["campaign"].pk, "sign_off"])
    client.post(url)
    assert Campaign.objects.get(pk=items["campaign"].pk).status == CampaignStatus.SIGNED_OFF


def test_launch_from_the_template_page(org, client):
    snapshot(org["system"], ("carol", "read"))
    client.force_login(org["compliance"])
    url = reverse("admin:access_reviews_reviewtemplate_actions", args=[org["template"].pk, "launch_now"])
    client.post(url)
    assert Campaign.objects.filter(template=org["template"]).count() == 1
    reviewer = person("rita")
    client.force_login(reviewer)
    assert client.post(url).status_code == 403


def test_system_form_keeps_the_secret_encrypted_and_masked(org, client):
    client.force_login(org["compliance"])
    system = org["system"]
    url = reverse("admin:access_reviews_system_change", args=[system.pk])
    data = {
        "slug": system.slug,
        "name": system.name,
        "owner": system.owner.pk,
        "connector": "postgresql",
        "connector_settings": '{"dsn": "postgresql://u@db/x"}',
        "connector_secret": "s3cr3t-password",
    }
    assert client.post(url, data).status_code == 302
    system.refresh_from_db()
    assert system.connector_secret == "s3cr3t-password"
    page = client.get(url).content.decode()
    assert "s3cr3t-password" not in page
    data["connector_secret"] = ""
    client.post(url, data)
    system.refresh_from_db()
    assert system.connector_secret == "s3cr3t-password"  # empty keeps the stored one
    event = AuditEvent.objects.filter(object_type="access_reviews.system", action="update").first()
    assert event is not None and "s3cr3t" not in str(event.changes)
