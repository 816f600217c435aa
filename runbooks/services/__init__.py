"""Every write of the runbooks app. Import from here: `from runbooks.services import execution_start`."""

from .executions import (
    execution_abandon,
    execution_complete,
    execution_start,
    execution_step_record,
)
from .importing import runbooks_export, runbooks_import
from .procedures import (
    procedure_create_due,
    procedure_flag_overdue,
    procedures_create_due,
    procedures_flag_overdue,
    reviews_remind,
)
from .runbooks import (
    runbook_create,
    runbook_edit,
    runbook_retire,
    runbook_review,
    runbook_update,
    version_publish,
)

__all__ = [
    "execution_abandon",
    "execution_complete",
    "execution_start",
    "execution_step_record",
    "procedure_create_due",
    "procedure_flag_overdue",
    "procedures_create_due",
    "procedures_flag_overdue",
    "reviews_remind",
    "runbook_create",
    "runbook_edit",
    "runbook_retire",
    "runbook_review",
    "runbook_update",
    "runbooks_export",
    "runbooks_import",
    "version_publish",
]
