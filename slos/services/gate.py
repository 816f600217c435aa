"""The release-gate check `error_budget_exhausted`, registered in the kernel's gate_checks."""

from governance.audit import audit_record
from governance.registries import GATE_SERVICE_ID, GateCheck, GateReason, gate_checks

from ..choices import ExceptionStatus
from ..models import SLO, BudgetException


def error_budget_facts(at) -> tuple[str, list]:
    """The gate's read: the asked service's enabled SLOs with an exhausted budget and no approved
    exception covering `at` (GateCheck.facts)."""
    sql = (
        f"SELECT o.id, o.slug, o.name, o.error_budget_remaining FROM {SLO._meta.db_table} o "
        f"WHERE o.service_id = {GATE_SERVICE_ID} AND o.enabled AND o.exhausted_since IS NOT NULL "
        f"AND NOT EXISTS (SELECT 1 FROM {BudgetException._meta.db_table} x WHERE x.slo_id = o.id "
        "AND x.status = %s AND x.valid_from <= %s AND x.valid_until > %s) ORDER BY o.slug"
    )
    return sql, [ExceptionStatus.APPROVED.value, at, at]


def _blocking(service, now) -> list[SLO]:
    exhausted = list(SLO.objects.filter(service=service, enabled=True, exhausted_since__isnull=False).order_by("slug"))
    if not exhausted:
        return []
    excepted = set(
        BudgetException.objects.filter(
            slo__in=exhausted, status=ExceptionStatus.APPROVED, valid_from__lte=now, valid_until__gt=now
        ).values_list("slo_id", flat=True)
    )
    return [slo for slo in exhausted if slo.pk not in excepted]


def check_error_budget(service, environment, version, now, rows=None) -> list[GateReason]:
    """Refuse normal and standard deployments of a service with an exhausted budget, unless an approved
    exception covers now; an emergency change passes and the bypass is recorded."""
    if rows is None:
        blocking = _blocking(service, now)
    else:
        blocking = [SLO(service_id=service.pk, **row) for row in rows]
        for slo in blocking:
            slo._state.adding = False
    if not blocking:
        return []
    from changes.choices import ChangeKind
    from changes.services.gate import release_change

    change = release_change(service, version, now)
    if change is not None and change.kind == ChangeKind.EMERGENCY:
        for slo in blocking:
            audit_record(
                action="slo.budget_policy_bypassed",
                obj=slo,
                changes={
                    "change": [None, change.reference],
                    "kind": [None, change.kind],
                    "version": [None, version],
                    "environment": [None, environment],
                    "error_budget_remaining": [None, slo.error_budget_remaining],
                },
            )
        return []
    return [
        GateReason(
            "error_budget_exhausted",
            f"The error budget of SLO {slo.slug} ({slo.name}) is exhausted ({_remaining(slo)}); only emergency "
            "changes or an approved budget exception may deploy.",
            {"slo": slo.slug, "error_budget_remaining": slo.error_budget_remaining},
        )
        for slo in blocking
    ]


def _remaining(slo: SLO) -> str:
    if slo.error_budget_remaining is None:
        return "remaining budget unknown since the last evaluation failed"
    return f"{slo.error_budget_remaining * 100:.1f} % remaining"


def register_gate_checks() -> None:
    gate_checks.register(
        "error_budget_exhausted", GateCheck("error_budget_exhausted", check_error_budget, facts=error_budget_facts)
    )
