"""What access reviews ask of the person looking ("Needs you now") and the jump box's campaigns."""

import datetime as dt

from django.db.models import Count, Min
from django.urls import reverse

from governance.registries import JumpTarget, NeedsYouItem, NeedsYouSource, jump_targets, needs_you

from .choices import CampaignStatus, Decision, RemediationStatus
from .models import Campaign, Remediation, ReviewItem

SHOWN = 20


def reviews_needing(user, now: dt.datetime) -> list[NeedsYouItem]:
    """Their pending items per open campaign (delegations included), campaigns awaiting their
    sign-off, and the removals assigned to them. Three queries, whatever the number of items."""
    items = []
    pending = (
        ReviewItem.objects.filter(reviewer=user, decision=Decision.PENDING, campaign__status=CampaignStatus.ACTIVE)
        .values("campaign_id", "campaign__name", "campaign__due_at")
        .annotate(count=Count("pk"), delegated=Count("delegated_from"), first=Min("pk"))
        .order_by("campaign__due_at")
    )
    changelist = reverse("admin:access_reviews_reviewitem_changelist")
    for row in pending:
        count, delegated = row["count"], row["delegated"]
        what = "1 access review item" if count == 1 else f"{count} access review items"
        if delegated:
            what += f" ({delegated} delegated to you)"
        url = (
            reverse("admin:access_reviews_reviewitem_change", args=[row["first"]])
            if count == 1
            else f"{changelist}?state=mine"
        )
        items.append(
            NeedsYouItem(
                "review", f"{what} to decide in {row['campaign__name']}", url, row["campaign__due_at"], "decisions"
            )
        )
    if user.has_perm("access_reviews.sign_off_campaign"):
        for campaign in Campaign.objects.filter(owner=user, status=CampaignStatus.CLOSING).only("name", "closes_at")[
            :SHOWN
        ]:
            items.append(
                NeedsYouItem(
                    "campaign",
                    f"Sign off {campaign.name}",
                    reverse("admin:access_reviews_campaign_change", args=[campaign.pk]),
                )
            )
    removals = (
        Remediation.objects.filter(assignee=user, status=RemediationStatus.OPEN)
        .select_related("system")
        .only("account", "entitlement", "due_at", "system__name")
        .order_by("due_at")[:SHOWN]
    )
    for remediation in removals:
        items.append(
            NeedsYouItem(
                "remediation",
                f"Remove {remediation.entitlement} from {remediation.account} on {remediation.system.name}",
                reverse("admin:access_reviews_remediation_change", args=[remediation.pk]),
                remediation.due_at,
                "removal",
            )
        )
    return items


def campaigns_named(query: str, limit: int) -> list[tuple[str, str]]:
    found = Campaign.objects.filter(name__icontains=query).only("name").order_by("-launched_at")[:limit]
    return [(c.name, reverse("admin:access_reviews_campaign_change", args=[c.pk])) for c in found]


def campaign_exactly(query: str) -> str | None:
    pk = Campaign.objects.filter(name__iexact=query).order_by("-launched_at").values_list("pk", flat=True).first()
    return reverse("admin:access_reviews_campaign_change", args=[pk]) if pk else None


needs_you.register(
    "access_reviews",
    NeedsYouSource(
        "access_reviews",
        reviews_needing,
        watches=(
            "access_reviews.ReviewItem",
            "access_reviews.Campaign",
            "access_reviews.Remediation",
            "access_reviews.System",
        ),
    ),
)
jump_targets.register(
    "access_reviews",
    JumpTarget(
        "access_reviews", "Access review campaigns", "access_reviews.view_campaign", campaign_exactly, campaigns_named
    ),
)
