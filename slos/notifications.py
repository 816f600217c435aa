"""The one place SLOs talk to `alerting`: slo.burn_rate, slo.budget_warning, slo.budget_exhausted,
slo.evaluation_failed."""

from governance.links import admin_url

from .models import SLO


def slo_data(slo: SLO) -> dict:
    return {
        "slo": slo.slug,
        "name": slo.name,
        "service": slo.service.slug,
        "objective": float(slo.objective),
        "window": slo.window,
        "sli": slo.sli,
        "error_budget_remaining": slo.error_budget_remaining,
        "burn_rates": slo.burn_rates,
        "budget_status": slo.budget_status,
        "url": admin_url(slo),
    }


def notify_slo(slo: SLO, event_type: str, *, key: str, subject: str, body: str = "", severity: str = "SEV3", data=None):
    """Queue `event_type` through routing (delivered on commit); the same key again sends nothing."""
    from alerting.services import notify

    return notify(
        event_type,
        subject=subject,
        idempotency_key=f"slo:{slo.pk}:{key}",
        body=body,
        severity=severity,
        service=slo.service,
        team=slo.owner_team or slo.service.owner_team,
        links=[{"label": f"SLO {slo.slug} in Vigil", "url": admin_url(slo)}],
        data={**slo_data(slo), **(data or {})},
        dedup_key=f"slo:{slo.slug}",
    )
