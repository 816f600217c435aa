"""Demo incidents: one open SEV1 breaching its ack deadline, one resolved SEV2 with a postmortem, history."""

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.utils import timezone

from governance.audit import audit_context
from governance.choices import Severity
from governance.models import Service

from .choices import ActionItemKind
from .models import Incident

DEMO_KEY = "demo:"


def seed_incidents(stdout) -> None:
    from . import services

    if Incident.objects.filter(dedup_key__startswith=DEMO_KEY).exists() or not Service.objects.exists():
        stdout.write("  demo data: incidents (already there)")
        return
    User = get_user_model()
    commander = User.objects.filter(username="amara.okafor").first()
    responder = User.objects.filter(username="liam.chen").first()
    service = Service.objects.filter(slug="checkout-api").first() or Service.objects.first()
    ledger = Service.objects.filter(slug="payments-ledger").first() or service
    with audit_context(user=commander):
        now = timezone.now()
        history = [
            ("Card payments timing out", Severity.SEV2, service, 20, 4, 95),
            ("Search index lagging", Severity.SEV3, ledger, 40, 25, 300),
            ("Ledger writes failing", Severity.SEV1, ledger, 55, 3, 70),
        ]
        for title, severity, svc, days_ago, ack_minutes, resolve_minutes in history:
            declared = now - timedelta(days=days_ago)
            incident = services.incident_declare(
                title=title,
                severity=severity,
                service=svc,
                commander=commander,
                declared_by=commander,
                dedup_key=f"{DEMO_KEY}{title}",
                declared_at=declared,
            )
            Incident.objects.filter(pk=incident.pk).update(
                status="resolved",
                acknowledged_at=declared + timedelta(minutes=ack_minutes),
                ack_breached=ack_minutes > incident.ack_minutes,
                ack_breached_at=incident.ack_due_at if ack_minutes > incident.ack_minutes else None,
                resolved_at=declared + timedelta(minutes=resolve_minutes),
                next_update_due_at=None,
            )
        resolved = services.incident_declare(
            title="Checkout 5xx after deploy",
            severity=Severity.SEV2,
            service=service,
            summary="Error rate on checkout rose to 12 % after the 14:02 deploy.",
            commander=commander,
            declared_by=commander,
            dedup_key=f"{DEMO_KEY}checkout-5xx",
        )
        services.incident_acknowledge(incident=resolved, actor=responder)
        services.incident_post_update(incident=resolved, message="Rolling back the 14:02 deploy.", actor=commander)
        services.incident_mitigate(incident=resolved, actor=commander, note="Rollback complete; errors back to 0.1 %.")
        services.incident_resolve(incident=resolved, actor=commander, note="Root cause identified.")
        postmortem = resolved.postmortem if hasattr(resolved, "postmortem") else None
        if postmortem is not None:
            services.postmortem_update(
                postmortem=postmortem,
                summary="A config change disabled the connection pool.",
                impact="12 % of checkouts failed for 18 minutes.",
                root_cause="The deploy shipped a default pool size of 0.",
            )
        services.action_item_create(
            incident=resolved,
            title="Validate pool size at start-up",
            kind=ActionItemKind.PREVENTIVE,
            due_date=(now + timedelta(days=14)).date(),
            owner=commander,
        )
        services.incident_declare(
            title="Identity provider login errors",
            severity=Severity.SEV1,
            service=Service.objects.filter(slug="identity").first() or service,
            summary="SSO logins fail for some users.",
            commander=commander,
            declared_by=commander,
            dedup_key=f"{DEMO_KEY}sso",
        )
    stdout.write("  demo data: incidents (5 incidents, a postmortem, an action item)")
