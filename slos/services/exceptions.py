"""Budget-policy exceptions: a Change Manager lets a service deploy while its budget is exhausted."""

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from governance.audit import audit_record
from governance.errors import Conflict, ValidationFailed, VigilError

from ..choices import ExceptionStatus
from ..models import SLO, BudgetException

APPROVE_PERMISSION = "slos.approve_budgetexception"


@transaction.atomic
def budget_exception_request(
    *, slo: SLO, reason: str, valid_from: datetime, valid_until: datetime, actor=None
) -> BudgetException:
    if not (reason or "").strip():
        raise ValidationFailed("Give a reason for the exception.", fields={"reason": ["Required."]})
    if valid_until <= valid_from:
        raise ValidationFailed("The exception must end after it starts.", fields={"valid_until": ["After valid_from."]})
    exception = BudgetException.objects.create(
        slo=slo,
        reason=reason.strip(),
        valid_from=valid_from,
        valid_until=valid_until,
        requested_by=actor if getattr(actor, "pk", None) else None,
    )
    audit_record(
        action="budget_exception.request",
        obj=exception,
        changes={"slo": [None, slo.slug], "valid_until": [None, valid_until]},
    )
    return exception


@transaction.atomic
def budget_exception_decide(*, exception: BudgetException, approve: bool, actor) -> BudgetException:
    """Approve or reject; only holders of approve_budgetexception (Change Managers), never one's own request."""
    exception = BudgetException.objects.select_for_update().get(pk=exception.pk)
    if actor is None or not actor.has_perm(APPROVE_PERMISSION):
        raise VigilError("Only a Change Manager may decide budget exceptions.", code="permission_denied", status=403)
    if exception.requested_by_id is not None and exception.requested_by_id == actor.pk:
        raise VigilError("Nobody decides their own exception.", code="self_approval", status=403)
    if exception.status != ExceptionStatus.REQUESTED:
        raise Conflict(f"This exception is already {exception.status}.", code="invalid_transition")
    exception.status = ExceptionStatus.APPROVED if approve else ExceptionStatus.REJECTED
    exception.decided_by = actor
    exception.decided_at = timezone.now()
    exception.save(update_fields=["status", "decided_by", "decided_at", "updated_at"])
    audit_record(
        action="budget_exception.approve" if approve else "budget_exception.reject",
        obj=exception,
        changes={"status": [ExceptionStatus.REQUESTED, exception.status]},
    )
    return exception
