"""Demo access reviews: an HR org chart, Vigil's own system and a database, and a campaign under way."""

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from governance.audit import audit_context

from .choices import Connector, Decision, EmploymentStatus, ImportSource
from .models import Campaign, Identity, ReviewTemplate, System
from .parsing import GrantRow, IdentityRow

DEMO_TEMPLATE = "Quarterly access review (demo)"

# email local part, name, manager, department, status
PEOPLE = [
    ("priya.nair", "Priya Nair", None, "Compliance", EmploymentStatus.ACTIVE),
    ("elena.garcia", "Elena García", "priya.nair", "Payments", EmploymentStatus.ACTIVE),
    ("amara.okafor", "Amara Okafor", "elena.garcia", "Payments", EmploymentStatus.ACTIVE),
    ("liam.chen", "Liam Chen", "elena.garcia", "Platform", EmploymentStatus.ACTIVE),
    ("sofia.rossi", "Sofia Rossi", "elena.garcia", "Platform", EmploymentStatus.ACTIVE),
    ("noah.fischer", "Noah Fischer", "priya.nair", "Platform", EmploymentStatus.ACTIVE),
    ("jonas.berg", "Jonas Berg", "priya.nair", "Audit", EmploymentStatus.ACTIVE),
    ("max.leaver", "Max Leaver", "elena.garcia", "Payments", EmploymentStatus.TERMINATED),
]

LEDGER_GRANTS = [
    ("amara.okafor", "payments_rw", False),
    ("liam.chen", "payments_ro", False),
    ("sofia.rossi", "payments_ro", False),
    ("sofia.rossi", "superuser", True),
    ("max.leaver", "payments_rw", False),
    ("etl_service", "payments_ro", False),
]


def seed_access_reviews(stdout) -> None:
    from . import services

    if ReviewTemplate.objects.filter(name=DEMO_TEMPLATE).exists():
        stdout.write("  demo data: access reviews (already there)")
        return
    User = get_user_model()
    users = {u.username: u for u in User.objects.filter(username__in=[p[0] for p in PEOPLE])}
    compliance, reviewer, owner = users.get("priya.nair"), users.get("elena.garcia"), users.get("noah.fischer")
    if not (compliance and reviewer and owner):
        stdout.write("  demo data: access reviews (skipped: the kernel's demo people are missing)")
        return
    now = timezone.now()
    with audit_context(user=compliance), transaction.atomic():
        services.identities_import(
            rows=[
                IdentityRow(
                    email=f"{local}@example.com",
                    name=name,
                    manager_email=f"{manager}@example.com" if manager else "",
                    department=dept,
                    employment_status=status,
                )
                for local, name, manager, dept, status in PEOPLE
            ],
            source=ImportSource.COMMAND,
        )
        vigil = System.objects.get_or_create(
            slug="vigil", defaults={"name": "Vigil", "owner": owner, "connector": Connector.VIGIL, "pull_enabled": True}
        )[0]
        ledger = System.objects.get_or_create(
            slug="payments-ledger-db", defaults={"name": "Payments ledger database", "owner": owner}
        )[0]
        services.system_pull(system=vigil)
        services.snapshot_import(
            system=ledger,
            rows=[
                GrantRow(
                    account=a,
                    entitlement=e,
                    email=f"{a}@example.com" if "." in a else "",
                    privileged=p,
                    last_login_at=now - timedelta(days=120 if p else 3),
                )
                for a, e, p in LEDGER_GRANTS
            ],
            source=ImportSource.API,
        )
        template = ReviewTemplate.objects.create(
            name=DEMO_TEMPLATE, fallback_reviewer=reviewer, owner=compliance, due_days=21
        )
        template.systems.set([vigil, ledger])
        campaign = services.campaign_launch(template=template, now=now - timedelta(days=3), actor=compliance)
        for item in campaign.items.filter(reviewer=reviewer, privileged=False)[:3]:
            services.item_decide(item=item, reviewer=reviewer, decision=Decision.KEEP)
        leaver = campaign.items.filter(reviewer=reviewer, identity__email="max.leaver@example.com").first()
        if leaver is not None:
            services.item_decide(
                item=leaver, reviewer=reviewer, decision=Decision.REVOKE, justification="Left the company"
            )
    stdout.write(
        f"  demo data: access reviews ({Identity.objects.count()} identities, {campaign.item_count} items in "
        f"{Campaign.objects.filter(template=template).count()} campaign)"
    )
