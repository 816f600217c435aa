"""Reads the admin, API, dashboard and metrics share."""

from datetime import datetime, timedelta

from django.db.models import Count, Q

from .choices import PRIVILEGED_UNUSED_DAYS, CampaignStatus, Decision, RemediationStatus
from .models import AccessGrant, Campaign, OrphanedGrantAlert, Remediation, ReviewItem

__all__ = ["PRIVILEGED_UNUSED_DAYS"]


def privileged_unused(*, system=None, now: datetime):
    cutoff = now - timedelta(days=PRIVILEGED_UNUSED_DAYS)
    grants = AccessGrant.objects.filter(privileged=True).filter(
        Q(last_login_at__lt=cutoff) | Q(last_login_at__isnull=True)
    )
    if system is not None:
        grants = grants.filter(system=system)
    return grants.order_by("system_id", "account", "entitlement", "pk")


def unmatched_grants(*, system=None):
    grants = AccessGrant.objects.filter(identity__isnull=True)
    if system is not None:
        grants = grants.filter(system=system)
    return grants.order_by("system_id", "account", "entitlement", "pk")


def campaigns_with_progress():
    return Campaign.objects.select_related("template", "owner").annotate(
        n_items=Count("items"), n_pending=Count("items", filter=Q(items__decision=Decision.PENDING))
    )


def pending_by_reviewer(*, campaign) -> list[tuple[str, int]]:
    return list(
        ReviewItem.objects.filter(campaign=campaign, decision=Decision.PENDING)
        .values("reviewer__username")
        .annotate(n=Count("pk"))
        .order_by("-n", "reviewer__username")
        .values_list("reviewer__username", "n")
    )


def overdue_reviewers(*, now: datetime) -> list[tuple[str, str, int]]:
    """(campaign, reviewer, pending) for active campaigns past their due date."""
    return list(
        ReviewItem.objects.filter(
            campaign__status=CampaignStatus.ACTIVE, campaign__due_at__lte=now, decision=Decision.PENDING
        )
        .values("campaign__name", "reviewer__username")
        .annotate(n=Count("pk"))
        .order_by("campaign__name", "-n")
        .values_list("campaign__name", "reviewer__username", "n")
    )


def unverified_remediations():
    return Remediation.objects.exclude(status=RemediationStatus.VERIFIED)


def orphaned_grants_today(*, now: datetime):
    from django.utils import timezone

    return OrphanedGrantAlert.objects.filter(seen_on=timezone.localdate(now))


def pending_items():
    return ReviewItem.objects.filter(decision=Decision.PENDING, campaign__status=CampaignStatus.ACTIVE)
