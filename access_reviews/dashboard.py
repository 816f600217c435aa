"""The access-review dashboard panel, gauges, ops_status lines and the "access governance" scorecard."""

from django.template.loader import render_to_string
from django.utils import timezone

from governance.choices import CheckStatus

from . import selectors
from .choices import CampaignStatus, Decision, RemediationStatus
from .models import AccessGrant, Campaign, Remediation


def render_access_panel(request) -> str:
    """Campaign progress, overdue reviewers, unverified removals and orphaned grants: the same for
    everyone who sees campaigns. A reviewer's own items are in "Needs you now" (access_reviews.console)."""
    if not request.user.has_perm("access_reviews.view_campaign"):
        return ""
    now = timezone.now()
    campaigns = []
    for c in selectors.campaigns_with_progress().filter(status__in=[CampaignStatus.ACTIVE, CampaignStatus.CLOSING])[
        :10
    ]:
        done = c.n_items - c.n_pending
        campaigns.append(
            {
                "campaign": c,
                "done": done,
                "total": c.n_items,
                "percent": round(100 * done / c.n_items) if c.n_items else 100,
                "late": c.status == CampaignStatus.ACTIVE and now >= c.due_at,
            }
        )
    context = {
        "campaigns": campaigns,
        "overdue_reviewers": selectors.overdue_reviewers(now=now)[:20],
        "unverified": selectors.unverified_remediations().count(),
        "flagged": Remediation.objects.filter(flagged_at__isnull=False)
        .exclude(status=RemediationStatus.VERIFIED)
        .count(),
        "orphaned": selectors.orphaned_grants_today(now=now).count(),
    }
    return render_to_string("access_reviews/panels/access.html", context, request=request)


# --- Prometheus ----------------------------------------------------------------------------


def pending_items_samples():
    yield {}, selectors.pending_items().count()


def overdue_reviewers_samples():
    yield {}, len({(c, r) for c, r, _ in selectors.overdue_reviewers(now=timezone.now())})


def remediation_samples():
    counts = dict.fromkeys(RemediationStatus.values, 0)
    for status, n in _count_by(Remediation.objects.all(), "status"):
        counts[status] = n
    for status, n in counts.items():
        yield {"status": status}, n
    yield (
        {"status": "flagged"},
        Remediation.objects.filter(flagged_at__isnull=False).exclude(status=RemediationStatus.VERIFIED).count(),
    )


def orphaned_samples():
    from .choices import EmploymentStatus

    yield {}, AccessGrant.objects.filter(identity__employment_status=EmploymentStatus.TERMINATED).count()


def _count_by(qs, field):
    from django.db.models import Count

    return qs.values_list(field).annotate(n=Count("pk")).values_list(field, "n").order_by()


GAUGES = [
    ("vigil_access_review_items_pending", "Review items pending in active campaigns.", pending_items_samples, ()),
    (
        "vigil_access_review_overdue_reviewers",
        "Reviewers with pending items past the due date.",
        overdue_reviewers_samples,
        (),
    ),
    (
        "vigil_access_remediations",
        "Access remediations by status (flagged: unverified past deadline).",
        remediation_samples,
        ("status",),
    ),
    (
        "vigil_access_orphaned_grants",
        "Grants held by terminated identities in the newest snapshots.",
        orphaned_samples,
        (),
    ),
]


# --- ops_status ------------------------------------------------------------------------------


def status_lines():
    from governance.health import CheckResult

    now = timezone.now()
    orphaned = AccessGrant.objects.filter(identity__employment_status="terminated").count()
    yield CheckResult(
        "access:orphaned_grants",
        CheckStatus.CRITICAL if orphaned else CheckStatus.OK,
        f"{orphaned} grant(s) held by terminated identities" if orphaned else "no terminated identity holds a grant",
    )
    overdue = selectors.overdue_reviewers(now=now)
    flagged = Remediation.objects.filter(flagged_at__isnull=False).exclude(status=RemediationStatus.VERIFIED).count()
    status = CheckStatus.WARNING if overdue or flagged else CheckStatus.OK
    yield CheckResult(
        "access:reviews",
        status,
        f"{len(overdue)} overdue reviewer(s), {flagged} remediation(s) unverified past deadline",
        {"overdue_reviewers": len(overdue), "remediations_flagged": flagged},
    )


# --- scorecard -------------------------------------------------------------------------------


def access_governance_score() -> dict:
    """100 = the last campaign finished on time and signed off, every revoke verified, no orphaned grant."""
    now = timezone.now()
    facts, next_steps = [], []
    score = 100
    last = Campaign.objects.exclude(status=CampaignStatus.DRAFT).order_by("-launched_at").first()
    if last is None:
        return {
            "score": 0,
            "facts": ["No access review campaign has run."],
            "next_steps": ["Create a review template with its systems; the quarterly job launches it."],
        }
    total = last.items.count()
    decided = last.items.exclude(decision=Decision.PENDING).count()
    defaulted = last.items.filter(defaulted=True).count()
    facts.append(f"{last.name}: {decided} of {total} decided, {defaulted} by default, status {last.status}.")
    if total:
        score -= round(30 * defaulted / total)
    if last.status == CampaignStatus.ACTIVE and now >= last.due_at:
        score -= 15
        next_steps.append(f"Chase overdue reviewers of {last.name}.")
    if last.status == CampaignStatus.CLOSING:
        score -= 10
        next_steps.append(f"Sign off {last.name}.")
    remediations = Remediation.objects.all()
    flagged = remediations.filter(flagged_at__isnull=False).exclude(status=RemediationStatus.VERIFIED).count()
    open_count = remediations.exclude(status=RemediationStatus.VERIFIED).count()
    facts.append(f"{open_count} remediation(s) not yet verified, {flagged} past their deadline.")
    if flagged:
        score -= min(25, 5 * flagged)
        next_steps.append("Remove the revoked access and pull a fresh snapshot to verify it.")
    orphaned = AccessGrant.objects.filter(identity__employment_status="terminated").count()
    facts.append(f"{orphaned} grant(s) held by terminated identities.")
    if orphaned:
        score -= min(30, 10 * orphaned)
        next_steps.append("Remove leavers' access (see orphaned grants).")
    return {"score": max(0, score), "facts": facts, "next_steps": next_steps}
