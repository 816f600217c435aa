from datetime import UTC, datetime

import pytest
import time_machine

from access_reviews import services
from access_reviews.choices import CampaignStatus, Decision, ItemChange, RemediationStatus, ReviewerRule
from access_reviews.models import Campaign, Remediation, ReviewItem
from alerting.models import Notification
from governance.errors import Conflict, NotFound, ValidationFailed
from governance.models import AuditEvent

from .helpers import snapshot

pytestmark = pytest.mark.django_db


def launch_and_revoke(org, account, entitlement, *, due_in_days=14):
    template = org["template"]
    template.remediation_days = due_in_days
    template.save()
    campaign = services.campaign_launch(template=template, period=f"adhoc-{account}-{entitlement}")
    item = campaign.items.get(account=account, entitlement=entitlement)
    services.item_decide(item=item, reviewer=item.reviewer, decision=Decision.REVOKE, justification="Left the team")
    return Remediation.objects.get(item=item)


def test_launch_freezes_grants_assigns_managers_and_hashes_the_snapshot(org):
    snapshot(org["system"], ("carol", "read"), ("dave", "admin", True), ("erin", "read"), ("ghost", "read"))
    campaign = services.campaign_launch(template=org["template"])
    reviewers = dict(campaign.items.values_list("account", "reviewer__username"))
    assert reviewers == {"carol": "alice", "dave": "alice", "erin": "bob", "ghost": "fallback"}
    assert campaign.item_count == 4 and len(campaign.snapshot_sha256) == 64
    assert set(campaign.items.values_list("change", flat=True)) == {ItemChange.NEW}
    assert AuditEvent.objects.filter(action="campaign_launch", object_id=str(campaign.pk)).exists()
    launched = Notification.objects.filter(event_type="access_review.launched")
    assert {n.recipient.username for n in launched} == {"alice", "bob", "fallback"}


def test_second_campaign_marks_items_new_unchanged_or_changed(org):
    snapshot(org["system"], ("carol", "read"), ("dave", "read"), ("erin", "read"))
    services.campaign_launch(template=org["template"], period="2026-Q3")
    snapshot(org["system"], ("carol", "read"), ("dave", "read", True), ("erin", "write"), ("bob", "read"))
    second = services.campaign_launch(template=org["template"], period="2026-Q4")
    changes = {(i.account, i.entitlement): i.change for i in second.items.all()}
    assert changes == {
        ("carol", "read"): ItemChange.UNCHANGED,
        ("dave", "read"): ItemChange.CHANGED,
        ("erin", "write"): ItemChange.CHANGED,
        ("bob", "read"): ItemChange.NEW,
    }


def test_launch_twice_for_a_period_is_a_conflict(org):
    services.campaign_launch(template=org["template"], period="2026-Q4")
    with pytest.raises(Conflict):
        services.campaign_launch(template=org["template"], period="2026-Q4")


def test_nobody_reviews_their_own_access(org):
    # alice's own grant goes to her manager; boss's own grant has no manager → fallback;
    # the fallback's own grant → the campaign owner.
    snapshot(org["system"], ("alice", "read"), ("boss", "read"), ("fallback", "read"))
    campaign = services.campaign_launch(template=org["template"])
    reviewers = dict(campaign.items.values_list("account", "reviewer__username"))
    assert reviewers == {"alice": "boss", "boss": "fallback", "fallback": "compliance"}


def test_system_owner_rule_sends_owner_access_to_fallback(org):
    template = org["template"]
    template.reviewer_rule = ReviewerRule.SYSTEM_OWNER
    template.save()
    snapshot(org["system"], ("carol", "read"), ("owner", "admin", True))
    campaign = services.campaign_launch(template=template)
    assert dict(campaign.items.values_list("account", "reviewer__username")) == {
        "carol": "owner",
        "owner": "fallback",
    }


def test_revoke_and_modify_need_a_justification_and_privileged_keep_too(org):
    snapshot(org["system"], ("carol", "read"), ("dave", "admin", True))
    campaign = services.campaign_launch(template=org["template"])
    carol = campaign.items.get(account="carol")
    dave = campaign.items.get(account="dave")
    with pytest.raises(ValidationFailed) as err:
        services.item_decide(item=carol, reviewer=org["alice"], decision=Decision.REVOKE)
    assert "justification" in err.value.fields
    with pytest.raises(ValidationFailed):
        services.item_decide(item=dave, reviewer=org["alice"], decision=Decision.KEEP)
    with pytest.raises(ValidationFailed) as err:
        services.item_decide(item=carol, reviewer=org["alice"], decision=Decision.MODIFY, justification="x")
    assert "modified_entitlement" in err.value.fields
    services.item_decide(item=carol, reviewer=org["alice"], decision=Decision.KEEP)
    assert ReviewItem.objects.get(pk=carol.pk).decision == Decision.KEEP


def test_a_reviewer_cannot_decide_or_delegate_another_reviewers_item(org):
    snapshot(org["system"], ("carol", "read"), ("erin", "read"))
    campaign = services.campaign_launch(template=org["template"])
    erin = campaign.items.get(account="erin")  # bob's
    with pytest.raises(NotFound):
        services.item_decide(item=erin, reviewer=org["alice"], decision=Decision.KEEP)
    with pytest.raises(NotFound):
        services.item_delegate(item=erin, reviewer=org["alice"], to=org["fallback"], reason="not mine")
    assert ReviewItem.objects.get(pk=erin.pk).decision == Decision.PENDING


def test_delegation_needs_a_reason_and_never_goes_to_the_subject(org):
    snapshot(org["system"], ("carol", "read"))
    item = services.campaign_launch(template=org["template"]).items.get()
    with pytest.raises(ValidationFailed):
        services.item_delegate(item=item, reviewer=org["alice"], to=org["bob"], reason="")
    with pytest.raises(ValidationFailed):
        services.item_delegate(item=item, reviewer=org["alice"], to=org["carol"], reason="she knows best")
    services.item_delegate(item=item, reviewer=org["alice"], to=org["bob"], reason="Bob runs billing now")
    item.refresh_from_db()
    assert item.reviewer == org["bob"] and item.delegated_from == org["alice"]


def test_campaign_closes_when_every_item_is_decided_and_then_decisions_are_final(org):
    snapshot(org["system"], ("carol", "read"), ("dave", "read"))
    campaign = services.campaign_launch(template=org["template"])
    for item in campaign.items.all():
        services.item_decide(item=item, reviewer=org["alice"], decision=Decision.KEEP)
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.CLOSING
    with pytest.raises(Conflict):
        services.item_decide(item=campaign.items.first(), reviewer=org["alice"], decision=Decision.KEEP)
    services.campaign_sign_off(campaign=campaign, actor=org["compliance"], note="Reviewed")
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.SIGNED_OFF


def test_changing_a_revoke_to_keep_cancels_the_open_remediation(org):
    snapshot(org["system"], ("carol", "read"), ("dave", "read"))
    campaign = services.campaign_launch(template=org["template"])
    item = campaign.items.get(account="carol")
    services.item_decide(item=item, reviewer=org["alice"], decision=Decision.REVOKE, justification="gone")
    assert Remediation.objects.filter(item=item, status=RemediationStatus.OPEN).exists()
    services.item_decide(item=item, reviewer=org["alice"], decision=Decision.KEEP)
    assert not Remediation.objects.filter(item=item).exists()


def _reminders(user, offset):
    return Notification.objects.filter(
        event_type="access_review.reminder", recipient=user, idempotency_key__contains=f":reminder:{offset}:"
    ).count()


def test_quarter_boundary_one_campaign_reminders_escalation_and_default(org):
    """Frozen time from the end of Q3 through the close of the Q4 campaign."""
    template = org["template"]
    template.reminder_offsets = [7, 1]
    template.escalation_days = 5
    template.save()
    with time_machine.travel(datetime(2026, 9, 30, 23, 0, tzinfo=UTC), tick=False) as clock:
        template.created_at = datetime(2026, 9, 1, tzinfo=UTC)
        template.save()
        snapshot(org["system"], ("carol", "read"), ("erin", "admin", True))
        assert services.campaigns_sweep()["launched"] == 0  # still Q3, and the template is from Q3
        clock.move_to(datetime(2026, 10, 1, 0, 5, tzinfo=UTC))
        assert services.campaigns_sweep()["launched"] == 1
        clock.move_to(datetime(2026, 10, 1, 6, 0, tzinfo=UTC))
        assert services.campaigns_sweep()["launched"] == 0
        assert Campaign.objects.filter(template=template).count() == 1
        campaign = Campaign.objects.get(template=template)
        assert campaign.period == "2026-Q4"
        assert campaign.due_at == datetime(2026, 10, 22, 0, 5, tzinfo=UTC)
        alice, bob = org["alice"], org["bob"]
        # alice decides; bob does not.
        services.item_decide(item=campaign.items.get(account="carol"), reviewer=alice, decision=Decision.KEEP)

        # 7 days before due: not yet on Oct 14 23:00, yes on Oct 15 00:05.
        clock.move_to(datetime(2026, 10, 14, 23, 0, tzinfo=UTC))
        services.campaigns_sweep()
        assert _reminders(bob, 7) == 0
        clock.move_to(datetime(2026, 10, 15, 0, 6, tzinfo=UTC))
        services.campaigns_sweep()
        services.campaigns_sweep()
        assert _reminders(bob, 7) == 1 and _reminders(alice, 7) == 0
        clock.move_to(datetime(2026, 10, 21, 0, 6, tzinfo=UTC))
        services.campaigns_sweep()
        assert _reminders(bob, 1) == 1
        assert not Notification.objects.filter(event_type="access_review.overdue").exists()

        # After the due date: bob's manager (boss) and the campaign owner hear about it, once.
        clock.move_to(datetime(2026, 10, 22, 1, 0, tzinfo=UTC))
        services.campaigns_sweep()
        services.campaigns_sweep()
        overdue = Notification.objects.filter(event_type="access_review.overdue")
        assert {n.recipient.username for n in overdue} == {"boss", "compliance"}
        assert overdue.count() == 2

        # At close (due + 5 days) the no-response default (revoke) is applied and recorded as such.
        clock.move_to(datetime(2026, 10, 27, 0, 4, tzinfo=UTC))
        services.campaigns_sweep()
        assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.ACTIVE
        clock.move_to(datetime(2026, 10, 27, 0, 6, tzinfo=UTC))
        assert services.campaigns_sweep()["closed"] == 1
        campaign.refresh_from_db()
        assert campaign.status == CampaignStatus.CLOSING
        erin = campaign.items.get(account="erin")
        assert erin.decision == Decision.REVOKE and erin.defaulted and "default" in erin.justification
        assert Remediation.objects.filter(item=erin, status=RemediationStatus.OPEN).exists()
        assert not campaign.items.get(account="carol").defaulted

        # The next quarter launches the next one, still exactly one per quarter.
        clock.move_to(datetime(2027, 1, 1, 0, 5, tzinfo=UTC))
        services.campaigns_sweep()
        services.campaigns_sweep()
        assert list(Campaign.objects.filter(template=template).values_list("period", flat=True)) == [
            "2027-Q1",
            "2026-Q4",
        ]
