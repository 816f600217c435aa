"""The release-gate check `error_budget_exhausted`, registered in the kernel's gate_checks."""

from django.db.models import Q

from governance.audit import audit_record
from governance.registries import GateCheck, GateReason, gate_checks

from ..choices import ExceptionStatus
from ..models import SLO, BudgetException


def check_error_budget(service, environment, version, now) -> list[GateReason]:
    """Refuse normal and standard deployments of a service with an exhausted budget, unless an approved
    exception covers now; an emergency change passes and the bypass is recorded."""
    exhausted = list(SLO.objects.filter(service=service, enabled=True, exhausted_since__isnull=False).order_by("slug"))
    if not exhausted:
        return []
    excepted = set(
        BudgetException.objects.filter(
            slo__in=exhausted, status=ExceptionStatus.APPROVED, valid_from__lte=now, valid_until__gt=now
        )
        .filter(Q(slo__service=service))
        .values_list("slo_id", flat=True)
    )
    blocking = [slo for slo in exhausted if slo.pk not in excepted]
    if not blocking:
        return []
    from changes.choices import ChangeKind
    from changes.selectors import change_for_release

    change = change_for_release(service=service, version=version)
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
    gate_checks.register("error_budget_exhausted", GateCheck("error_budget_exhausted", check_error_budget))
