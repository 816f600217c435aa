"""Campaign evidence: items with decisions, justifications, reviewers, remediations and their verification.

Registered with the kernel's evidence registry (one record type each for campaigns, items and
remediations) and served as a CSV download from the campaign page.
"""

import csv
import io

from .models import Campaign, Remediation, ReviewItem

CONTROLS = ("SOC 2 CC6.2", "SOC 2 CC6.3", "ISO 27001 A.5.18")

CAMPAIGN_COLUMNS = [
    "campaign",
    "period",
    "template",
    "status",
    "launched_at",
    "launched_by",
    "due_at",
    "closed_at",
    "signed_off_at",
    "signed_off_by",
    "snapshot_sha256",
    "items",
    "controls",
]
ITEM_COLUMNS = [
    "campaign",
    "snapshot_sha256",
    "system",
    "account",
    "identity_email",
    "entitlement",
    "privileged",
    "last_login_at",
    "change",
    "reviewer",
    "delegated_from",
    "delegation_reason",
    "decision",
    "defaulted",
    "modified_entitlement",
    "justification",
    "decided_by",
    "decided_at",
    "remediation_id",
    "remediation_status",
    "remediation_ticket",
    "remediation_due_at",
    "remediation_verified_at",
    "verified_by_snapshot_sha256",
]
REMEDIATION_COLUMNS = [
    "remediation_id",
    "campaign",
    "system",
    "account",
    "entitlement",
    "target_entitlement",
    "status",
    "ticket_url",
    "assignee",
    "opened_at",
    "due_at",
    "done_at",
    "verified_at",
    "verified_by_snapshot_sha256",
    "flagged_at",
]


def _iso(value) -> str:
    return value.isoformat() if value else ""


def _user(user) -> str:
    return user.get_username() if user is not None else ""


def item_rows(items):
    items = items.select_related(
        "campaign",
        "system",
        "identity",
        "reviewer",
        "delegated_from",
        "decided_by",
        "remediation",
        "remediation__verified_by_import",
    ).order_by("campaign_id", "system__slug", "account", "entitlement", "pk")
    for item in items.iterator(chunk_size=2000):
        rem = getattr(item, "remediation", None)
        yield [
            item.campaign.name,
            item.campaign.snapshot_sha256,
            item.system.slug,
            item.account,
            item.identity.email if item.identity_id else "",
            item.entitlement,
            item.privileged,
            _iso(item.last_login_at),
            item.change,
            _user(item.reviewer),
            _user(item.delegated_from),
            item.delegation_reason,
            item.decision,
            item.defaulted,
            item.modified_entitlement,
            item.justification,
            _user(item.decided_by),
            _iso(item.decided_at),
            rem.pk if rem else "",
            rem.status if rem else "",
            rem.ticket_url if rem else "",
            _iso(rem.due_at) if rem else "",
            _iso(rem.verified_at) if rem else "",
            rem.verified_by_import.sha256 if rem and rem.verified_by_import_id else "",
        ]


def campaign_rows(campaigns):
    for c in campaigns.select_related("template", "signed_off_by").order_by("launched_at", "pk"):
        yield [
            c.name,
            c.period,
            c.template.name,
            c.status,
            _iso(c.launched_at),
            c.launched_by,
            _iso(c.due_at),
            _iso(c.closed_at),
            _iso(c.signed_off_at),
            _user(c.signed_off_by),
            c.snapshot_sha256,
            c.item_count,
            "; ".join(c.template.controls or []),
        ]


def remediation_rows(remediations):
    remediations = remediations.select_related("item__campaign", "system", "assignee", "verified_by_import")
    for r in remediations.order_by("created_at", "pk"):
        yield [
            r.pk,
            r.item.campaign.name,
            r.system.slug,
            r.account,
            r.entitlement,
            r.target_entitlement,
            r.status,
            r.ticket_url,
            _user(r.assignee),
            _iso(r.created_at),
            _iso(r.due_at),
            _iso(r.done_at),
            _iso(r.verified_at),
            r.verified_by_import.sha256 if r.verified_by_import_id else "",
            _iso(r.flagged_at),
        ]


def export_campaigns(start, end):
    return CAMPAIGN_COLUMNS, list(campaign_rows(Campaign.objects.filter(launched_at__gte=start, launched_at__lt=end)))


def export_items(start, end):
    campaigns = Campaign.objects.filter(launched_at__gte=start, launched_at__lt=end)
    return ITEM_COLUMNS, list(item_rows(ReviewItem.objects.filter(campaign__in=campaigns)))


def export_remediations(start, end):
    return REMEDIATION_COLUMNS, list(
        remediation_rows(Remediation.objects.filter(created_at__gte=start, created_at__lt=end))
    )


def campaign_csv(campaign: Campaign) -> str:
    """The campaign's evidence as one CSV: a header block on the campaign, then one line per item."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CAMPAIGN_COLUMNS)
    writer.writerows(campaign_rows(Campaign.objects.filter(pk=campaign.pk)))
    writer.writerow([])
    writer.writerow(ITEM_COLUMNS)
    writer.writerows(item_rows(ReviewItem.objects.filter(campaign=campaign)))
    return out.getvalue()
