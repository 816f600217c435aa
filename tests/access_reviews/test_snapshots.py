from datetime import timedelta

import pytest
from django.utils import timezone

from access_reviews import services
from access_reviews.choices import EmploymentStatus, ImportStatus, RemediationStatus
from access_reviews.models import AccessGrant, OrphanedGrantAlert, Remediation, SnapshotImport
from alerting.models import Notification
from governance.models import AuditEvent

from .helpers import snapshot

pytestmark = pytest.mark.django_db


def test_snapshot_reports_added_removed_changed_and_records_itself(org):
    system = org["system"]
    first = snapshot(system, ("carol", "read"), ("dave", "read"), ("erin", "admin"))
    assert (first.added, first.removed, first.changed, first.unchanged) == (3, 0, 0, 0)
    second = snapshot(system, ("carol", "read"), ("erin", "admin", True), ("erin", "write"))
    assert (second.added, second.removed, second.changed, second.unchanged) == (1, 1, 1, 1)
    assert len(second.sha256) == 64 and second.sha256 != first.sha256
    assert set(AccessGrant.objects.filter(system=system).values_list("account", "entitlement")) == {
        ("carol", "read"),
        ("erin", "admin"),
        ("erin", "write"),
    }
    assert AuditEvent.objects.filter(action="access_snapshot_import", object_id=str(second.pk)).exists()


def test_grants_are_matched_to_identities_by_email(org):
    snapshot(org["system"], ("carol", "read"), ("stranger", "read"))
    carol = AccessGrant.objects.get(account="carol")
    stranger = AccessGrant.objects.get(account="stranger")
    assert carol.identity.user == org["carol"]
    assert stranger.identity is None


def _remediation_for(org, account, entitlement, *, due_in_days=14):
    from .test_campaigns import launch_and_revoke

    return launch_and_revoke(org, account, entitlement, due_in_days=due_in_days)


def test_revoke_then_snapshot_without_grant_verifies_remediation(org):
    snapshot(org["system"], ("carol", "read"), ("dave", "read"))
    remediation = _remediation_for(org, "carol", "read")
    record = snapshot(org["system"], ("dave", "read"))
    remediation.refresh_from_db()
    assert remediation.status == RemediationStatus.VERIFIED
    assert remediation.verified_by_import == record
    assert record.remediations_verified == 1


def test_snapshot_still_showing_grant_keeps_remediation_open_and_it_is_flagged_after_deadline(org):
    snapshot(org["system"], ("carol", "read"), ("dave", "read"))
    remediation = _remediation_for(org, "carol", "read")
    services.remediation_mark_done(remediation=remediation, ticket_url="https://tickets.example.com/T-1")
    snapshot(org["system"], ("carol", "read"), ("dave", "read"))
    remediation.refresh_from_db()
    assert remediation.status == RemediationStatus.DONE  # "done" is a claim; only a snapshot verifies
    assert services.remediations_flag_overdue(now=remediation.due_at - timedelta(minutes=1)) == 0
    assert services.remediations_flag_overdue(now=remediation.due_at + timedelta(minutes=1)) == 1
    assert services.remediations_flag_overdue(now=remediation.due_at + timedelta(days=1)) == 0  # once
    remediation.refresh_from_db()
    assert remediation.flagged_at is not None
    notes = Notification.objects.filter(event_type="access_review.overdue", idempotency_key__contains="remediation")
    assert {n.recipient for n in notes} >= {org["owner"], org["compliance"]}


def test_terminated_identity_with_grant_raises_orphaned_grant_once_a_day(org):
    carol = org["carol"].identity
    carol.employment_status = EmploymentStatus.TERMINATED
    carol.save()
    # Mid-morning of today: the hour later is the same day whenever the suite runs (23:30 was not).
    now = timezone.localtime().replace(hour=10, minute=0, second=0, microsecond=0)
    snapshot(org["system"], ("carol", "read"), now=now)
    snapshot(org["system"], ("carol", "read"), now=now + timedelta(hours=1))
    assert OrphanedGrantAlert.objects.count() == 1
    assert Notification.objects.filter(event_type="access.orphaned_grant", recipient=org["owner"]).count() == 1
    snapshot(org["system"], ("carol", "read"), now=now + timedelta(days=1))
    assert OrphanedGrantAlert.objects.count() == 2


def test_failed_pull_is_recorded_and_keeps_the_grants(org, settings):
    system = org["system"]
    snapshot(system, ("carol", "read"), ("dave", "read"))
    system.connector = "postgresql"
    system.connector_settings = {"dsn": "postgresql://nobody@127.0.0.1:1/none"}
    system.save()
    record = services.system_pull(system=system)
    assert record.status == ImportStatus.FAILED
    assert "connect" in record.error.lower()
    assert AccessGrant.objects.filter(system=system).count() == 2
    assert Notification.objects.filter(subject__startswith="Access pull failed for billing-db").exists()


def test_connector_secret_is_encrypted_at_rest(org):
    from django.db import connection

    system = org["system"]
    system.connector_secret = "hunter2-password"
    system.save()
    with connection.cursor() as cursor:
        cursor.execute("SELECT connector_secret FROM access_reviews_system WHERE id = %s", [system.pk])
        stored = cursor.fetchone()[0]
    assert stored.startswith("fernet:") and "hunter2" not in stored
    system.refresh_from_db()
    assert system.connector_secret == "hunter2-password"


def test_remediation_count_unchanged_by_unrelated_snapshots(org):
    snapshot(org["system"], ("carol", "read"))
    assert Remediation.objects.count() == 0
    assert SnapshotImport.objects.count() == 1


def test_modify_is_verified_only_when_the_snapshot_shows_the_new_entitlement(org):
    from access_reviews.choices import Decision

    snapshot(org["system"], ("carol", "admin", True))
    campaign = services.campaign_launch(template=org["template"], period="modify")
    item = campaign.items.get()
    services.item_decide(
        item=item,
        reviewer=org["alice"],
        decision=Decision.MODIFY,
        justification="Read is enough",
        modified_entitlement="read",
    )
    remediation = Remediation.objects.get(item=item)
    assert remediation.target_entitlement == "read"
    snapshot(org["system"], ("carol", "admin", True), ("carol", "read"))  # old one still there
    snapshot(org["system"])  # everything gone: not the modification asked for
    remediation.refresh_from_db()
    assert remediation.status == RemediationStatus.OPEN
    snapshot(org["system"], ("carol", "read"))
    remediation.refresh_from_db()
    assert remediation.status == RemediationStatus.VERIFIED
