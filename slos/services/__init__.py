"""Every write of the slos app. Import from here: `from slos.services import slo_evaluate`."""

from .config import prometheus_source_save, slo_save
from .evaluation import Evaluation, compute, record_evaluation, record_evaluations, slo_evaluate, slos_evaluate
from .exceptions import budget_exception_decide, budget_exception_request
from .pushed import rebuild_hourly, slo_push_intervals

__all__ = [
    "Evaluation",
    "budget_exception_decide",
    "budget_exception_request",
    "compute",
    "prometheus_source_save",
    "rebuild_hourly",
    "record_evaluation",
    "record_evaluations",
    "slo_evaluate",
    "slo_push_intervals",
    "slo_save",
    "slos_evaluate",
]
