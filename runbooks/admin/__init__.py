"""The runbooks admin: runbooks and versions, the execution runner, the coverage report."""

from .execution import RunbookExecutionAdmin
from .runbook import RunbookAdmin, RunbookVersionAdmin

__all__ = ["RunbookAdmin", "RunbookExecutionAdmin", "RunbookVersionAdmin"]
