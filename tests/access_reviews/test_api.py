import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from access_reviews import services
from access_reviews.choices import Decision
from access_reviews.models import AccessGrant, Identity, ReviewItem, SnapshotImport

from .helpers import snapshot

pytestmark = pytest.mark.django_db


def snapshot_url(slug="billing-db"):
    return f"/api/v1/access/systems/{slug}/snapshot/"


def test_snapshot_api_reports_counts_and_verifies_remediations(org, api_client_for):
    client = api_client_for("access:import")
    body = {"grants": [{"account": "carol", "email": "carol@example.com", "entitlement": "read"}]}
    response = client.post(snapshot_url(), body, format="json")
    assert response.status_code == 200, response.json()
    counts = {k: response.json()[k] for k in ("added", "removed", "changed", "unchanged", "remediations_verified")}
    assert counts == {"added": 1, "removed": 0, "changed": 0, "unchanged": 0, "remediations_verified": 0}
    campaign = services.campaign_launch(template=org["template"])
    item = campaign.items.get()
    services.item_decide(item=item, reviewer=item.reviewer, decision=Decision.REVOKE, justification="gone")
    response = client.post(snapshot_url(), {"grants": []}, format="json")
    assert response.json()["removed"] == 1 and response.json()["remediations_verified"] == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"grants": [{"account": "carol"}]}, "grants[0].entitlement"),
        ({"grants": [{"account": "a", "entitlement": "r"}, {"account": "a", "entitlement": "r"}]}, "grants[1].account"),
        ({"grants": [{"account": "a", "entitlement": "r", "privileged": "perhaps"}]}, "grants[0].privileged"),
        ({"grants": [{"account": "a", "entitlement": "r", "last_login": "soon"}]}, "grants[0].last_login"),
        ({"grants": [{"account": "a", "entitlement": "r", "colour": "red"}]}, "grants[0].colour"),
        ({"nothing": []}, "grants"),
        ({"grants": "all"}, "grants"),
    ],
)
def test_snapshot_api_bad_input_is_a_400_naming_the_field_and_changes_nothing(org, api_client_for, body, field):
    snapshot(org["system"], ("dave", "read"))
    client = api_client_for("access:import")
    response = client.post(snapshot_url(), body, format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"], response.json()
    assert list(AccessGrant.objects.values_list("account", flat=True)) == ["dave"]
    assert SnapshotImport.objects.count() == 1


def test_snapshot_api_unknown_system_is_404_and_needs_its_scope(org, api_client_for):
    assert api_client_for("access:import").post(snapshot_url("nope"), {"grants": []}, format="json").status_code == 404
    assert api_client_for("access:read").post(snapshot_url(), {"grants": []}, format="json").status_code == 403
    assert APIClient().post(snapshot_url(), {"grants": []}, format="json").status_code == 401


def test_identities_api_upserts_and_sets_managers(org, api_client_for):
    client = api_client_for("access:import")
    body = {
        "identities": [
            {"email": "new.boss@example.com", "name": "New Boss"},
            {"email": "carol@example.com", "name": "Carol", "manager_email": "new.boss@example.com"},
        ]
    }
    response = client.post("/api/v1/access/identities/", body, format="json")
    assert response.status_code == 200, response.json()
    assert Identity.objects.get(email="carol@example.com").manager.email == "new.boss@example.com"
    bad = client.post(
        "/api/v1/access/identities/", {"identities": [{"email": "x", "employment_status": "gone"}]}, format="json"
    )
    assert bad.status_code == 400
    assert set(bad.json()["error"]["fields"]) == {"row 0, column email", "row 0, column employment_status"}


def test_campaigns_api_lists_progress(org, api_client_for):
    snapshot(org["system"], ("carol", "read"), ("erin", "read"))
    campaign = services.campaign_launch(template=org["template"])
    services.item_decide(item=campaign.items.get(account="carol"), reviewer=org["alice"], decision=Decision.KEEP)
    response = api_client_for("access:read").get("/api/v1/access/campaigns/")
    assert response.status_code == 200
    [row] = response.json()["results"]
    assert row["progress"] == {"total": 2, "decided": 1, "pending": 1, "ratio": 0.5}
    assert row["snapshot_sha256"] == campaign.snapshot_sha256


# --- reviewer scoping through the API ------------------------------------------------------


@pytest.fixture
def two_reviewers(org):
    snapshot(org["system"], ("carol", "read"), ("erin", "read"))
    campaign = services.campaign_launch(template=org["template"])
    return campaign.items.get(account="carol"), campaign.items.get(account="erin")  # alice's, bob's


def _session(user):
    client = APIClient()
    client.force_login(user)
    return client


def test_reviewer_lists_only_their_own_items(org, two_reviewers):
    mine, _theirs = two_reviewers
    data = _session(org["alice"]).get("/api/v1/access/items/").json()
    assert [row["id"] for row in data["results"]] == [mine.pk]


def test_other_reviewers_item_answers_404_on_every_url(org, two_reviewers):
    _mine, theirs = two_reviewers
    client = _session(org["alice"])
    assert client.get(f"/api/v1/access/items/{theirs.pk}/").status_code == 404
    response = client.post(f"/api/v1/access/items/{theirs.pk}/decide/", {"decision": "keep"}, format="json")
    assert response.status_code == 404
    response = client.post(
        f"/api/v1/access/items/{theirs.pk}/delegate/", {"to": "alice", "reason": "mine now"}, format="json"
    )
    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.decision == Decision.PENDING and theirs.reviewer == org["bob"]


def test_reviewer_decides_own_item_and_revoke_needs_justification(org, two_reviewers):
    mine, _ = two_reviewers
    client = _session(org["alice"])
    response = client.post(f"/api/v1/access/items/{mine.pk}/decide/", {"decision": "revoke"}, format="json")
    assert response.status_code == 400 and "justification" in response.json()["error"]["fields"]
    response = client.post(
        f"/api/v1/access/items/{mine.pk}/decide/", {"decision": "revoke", "justification": "Moved"}, format="json"
    )
    assert response.status_code == 200 and response.json()["decision"] == "revoke"


def test_api_keys_cannot_decide(org, two_reviewers, api_client_for):
    mine, _ = two_reviewers
    response = api_client_for("access:read").post(
        f"/api/v1/access/items/{mine.pk}/decide/", {"decision": "keep"}, format="json"
    )
    assert response.status_code == 403
    assert ReviewItem.objects.get(pk=mine.pk).decision == Decision.PENDING


def test_reviewer_cannot_list_campaigns_or_import(org, two_reviewers):
    client = _session(org["alice"])
    assert client.get("/api/v1/access/campaigns/").status_code == 403
    assert client.post(snapshot_url(), {"grants": []}, format="json").status_code == 403


def test_schema_documents_the_access_api(client):
    response = client.get(reverse("api-schema"))
    assert b"/api/v1/access/systems/{slug}/snapshot/" in response.content
