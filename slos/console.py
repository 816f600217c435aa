"""What service levels ask of the person looking ("Needs you now"): budget exceptions to decide."""

import datetime as dt

from django.urls import reverse

from governance.registries import NeedsYouItem, NeedsYouSource, needs_you

from .choices import ExceptionStatus
from .models import BudgetException

SHOWN = 20


def exceptions_needing(user, now: dt.datetime) -> list[NeedsYouItem]:
    """Error-budget exceptions waiting for a Change Manager (never the requester)."""
    if not user.has_perm("slos.approve_budgetexception"):
        return []
    waiting = (
        BudgetException.objects.filter(status=ExceptionStatus.REQUESTED, valid_until__gt=now)
        .exclude(requested_by=user)
        .select_related("slo")
        .only("valid_from", "slo__name")
        .order_by("valid_from", "pk")[:SHOWN]
    )
    return [
        NeedsYouItem(
            "exception",
            f"Error-budget exception for {exception.slo.name}: approve or reject",
            reverse("admin:slos_budgetexception_change", args=[exception.pk]),
            exception.valid_from,
            "decision",
        )
        for exception in waiting
    ]


needs_you.register("slos", NeedsYouSource("slos", exceptions_needing, watches=("slos.BudgetException", "slos.SLO")))
