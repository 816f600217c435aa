"""Every write of the changes app. Import from here: `from changes.services import change_approve`."""

from .changes import (
    SelfApproval,
    approver_for,
    change_approve,
    change_cancel,
    change_create,
    change_finish,
    change_remind_approval_due,
    change_return_to_draft,
    change_start,
    change_submit,
    change_update,
)
from .deployments import (
    RecordedDeployment,
    change_by_reference,
    deployment_record,
    deployments_flag_suspects,
    flag_suspects_for_incident,
    suspected_cause_link,
)
from .freezes import (
    calendar_feed_create,
    calendar_feed_rotate_token,
    freeze_exception_decide,
    freeze_exception_request,
    freeze_window_create,
)
from .gate import GateResult, gate_evaluate

__all__ = [
    "GateResult",
    "RecordedDeployment",
    "SelfApproval",
    "approver_for",
    "calendar_feed_create",
    "calendar_feed_rotate_token",
    "change_approve",
    "change_by_reference",
    "change_cancel",
    "change_create",
    "change_finish",
    "change_remind_approval_due",
    "change_return_to_draft",
    "change_start",
    "change_submit",
    "change_update",
    "deployment_record",
    "deployments_flag_suspects",
    "flag_suspects_for_incident",
    "freeze_exception_decide",
    "freeze_exception_request",
    "freeze_window_create",
    "gate_evaluate",
    "suspected_cause_link",
]
