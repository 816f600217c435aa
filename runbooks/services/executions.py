"""Executions: a published version run for an incident, a drill or a scheduled procedure.

Backups' restore drills follow a runbook version through these same three calls:

    execution = execution_start(version=v, purpose=ExecutionPurpose.DRILL, actor=user)
    execution_step_record(execution=execution, step=1, outcome="done", output="...", actor=user)
    execution_complete(execution=execution, actor=user)
"""

from django.db import transaction
from django.utils import timezone

from governance.audit import audit_record, diff, snapshot
from governance.errors import Conflict, ValidationFailed

from ..choices import ExecutionPurpose, ExecutionResult, ExecutionStatus, RunbookStatus, StepOutcome
from ..models import RunbookExecution, RunbookVersion, StepResult
from .runbooks import _user, actor_label


def _locked(execution: RunbookExecution | int) -> RunbookExecution:
    pk = execution.pk if isinstance(execution, RunbookExecution) else execution
    return (
        RunbookExecution.objects.select_for_update(of=("self",))
        .select_related("runbook", "version", "incident")
        .get(pk=pk)
    )


def _on_timeline(execution: RunbookExecution, actor, *, outcome: str, step=None, title="", output="") -> None:
    if execution.incident_id is None:
        return
    from incidents.services import incident_record_runbook_step

    incident_record_runbook_step(
        incident=execution.incident_id,
        runbook=execution.runbook.title,
        version=execution.version.number,
        execution_id=execution.pk,
        outcome=outcome,
        step=step,
        step_title=title,
        output=output,
        actor=actor,
    )


@transaction.atomic
def execution_start(
    *,
    version: RunbookVersion,
    purpose: str,
    incident=None,
    assignee=None,
    actor=None,
    scheduled_for=None,
    due_at=None,
    missed_slots: int = 0,
    notes: str = "",
) -> RunbookExecution:
    """Start running a published version. A person starting it makes it in progress at once; a
    scheduled procedure waits (pending) for its assignee."""
    if purpose not in ExecutionPurpose.values:
        raise ValidationFailed(
            f"Unknown purpose {purpose!r}.", fields={"purpose": [f"Choose from: {', '.join(ExecutionPurpose.values)}."]}
        )
    version = RunbookVersion.objects.select_related("runbook").get(pk=version.pk)
    if not version.is_published:
        raise Conflict(f"{version} is a draft; only published versions are run.", code="not_published")
    if version.runbook.status == RunbookStatus.RETIRED and purpose != ExecutionPurpose.DRILL:
        raise Conflict(f"{version.runbook} is retired.", code="retired")
    if purpose == ExecutionPurpose.INCIDENT:
        if incident is None:
            raise ValidationFailed("An incident execution needs its incident.", fields={"incident": ["Required."]})
        if incident.status == "closed":
            raise Conflict(f"{incident.reference} is closed.", code="invalid_transition")
    if purpose == ExecutionPurpose.PROCEDURE and scheduled_for is None:
        raise ValidationFailed("A procedure execution needs its slot.", fields={"scheduled_for": ["Required."]})
    now = timezone.now()
    by_person = _user(actor) is not None and purpose != ExecutionPurpose.PROCEDURE
    execution = RunbookExecution.objects.create(
        runbook=version.runbook,
        version=version,
        purpose=purpose,
        incident=incident,
        assignee=assignee or (_user(actor) if by_person else None),
        started_by=_user(actor),
        status=ExecutionStatus.IN_PROGRESS if by_person else ExecutionStatus.PENDING,
        started_at=now if by_person else None,
        scheduled_for=scheduled_for,
        due_at=due_at,
        missed_slots=missed_slots,
        notes=notes,
    )
    audit_record(action="runbook.execution_start", obj=execution, changes=diff({}, snapshot(execution)))
    _on_timeline(execution, actor, outcome="started")
    return execution


@transaction.atomic
def execution_step_record(
    *, execution: RunbookExecution | int, step: int, outcome: str, output: str = "", actor=None
) -> StepResult:
    """The operator's outcome of one step (done / skipped / failed), recorded once."""
    if outcome not in StepOutcome.values:
        raise ValidationFailed(
            f"Unknown outcome {outcome!r}.", fields={"outcome": [f"Choose from: {', '.join(StepOutcome.values)}."]}
        )
    execution = _locked(execution)
    steps = execution.version.steps
    try:
        step = int(step)
    except (TypeError, ValueError):
        raise ValidationFailed("The step is a number.", fields={"step": ["A whole number."]}) from None
    if not 1 <= step <= len(steps):
        raise ValidationFailed(f"There is no step {step}.", fields={"step": [f"Choose 1 to {len(steps)}."]})
    if not execution.is_open:
        raise Conflict(f"This execution is {execution.get_status_display().lower()}.", code="invalid_transition")
    if execution.step_results.filter(position=step).exists():
        raise Conflict(f"Step {step} already has an outcome.", code="step_recorded")
    now = timezone.now()
    result = StepResult.objects.create(
        execution=execution,
        position=step,
        outcome=outcome,
        output=output or "",
        operator=_user(actor),
        operator_label=actor_label(actor),
        recorded_at=now,
    )
    if execution.status == ExecutionStatus.PENDING:
        execution.status = ExecutionStatus.IN_PROGRESS
        execution.started_at = now
        execution.assignee = execution.assignee or _user(actor)
        execution.save(update_fields=["status", "started_at", "assignee", "updated_at"])
    audit_record(
        action="runbook.step_record",
        obj=execution,
        changes={f"step_{step}": [None, {"outcome": outcome, "output": output or ""}]},
    )
    _on_timeline(execution, actor, outcome=outcome, step=step, title=steps[step - 1].get("title", ""), output=output)
    return result


def missing_steps(execution: RunbookExecution) -> list[int]:
    recorded = set(execution.step_results.values_list("position", flat=True))
    return [n for n in range(1, len(execution.version.steps) + 1) if n not in recorded]


@transaction.atomic
def execution_complete(*, execution: RunbookExecution | int, actor=None, note: str = "") -> RunbookExecution:
    """Complete once every step has an outcome; a failed step makes the result failed."""
    execution = _locked(execution)
    if not execution.is_open:
        raise Conflict(f"This execution is {execution.get_status_display().lower()}.", code="invalid_transition")
    missing = missing_steps(execution)
    if missing:
        raise Conflict(f"Record an outcome for step(s) {', '.join(map(str, missing))} first.", code="steps_missing")
    failed = execution.step_results.filter(outcome=StepOutcome.FAILED).exists()
    before = snapshot(execution, ["status", "result", "completed_at", "completed_by", "notes"])
    execution.status = ExecutionStatus.COMPLETED
    execution.result = ExecutionResult.FAILED if failed else ExecutionResult.SUCCEEDED
    execution.completed_at = timezone.now()
    execution.completed_by = _user(actor)
    if note:
        execution.notes = f"{execution.notes}\n{note}".strip()
    execution.save(update_fields=["status", "result", "completed_at", "completed_by", "notes", "updated_at"])
    audit_record(
        action="runbook.execution_complete", obj=execution, changes=diff(before, snapshot(execution, list(before)))
    )
    _on_timeline(execution, actor, outcome=f"completed ({execution.get_result_display().lower()})", output=note)
    _stop_procedure_escalation(execution, reason="completed")
    return execution


@transaction.atomic
def execution_abandon(*, execution: RunbookExecution | int, reason: str, actor=None) -> RunbookExecution:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed("Say why the execution is abandoned.", fields={"reason": ["Required."]})
    execution = _locked(execution)
    if not execution.is_open:
        raise Conflict(f"This execution is {execution.get_status_display().lower()}.", code="invalid_transition")
    before = execution.status
    execution.status = ExecutionStatus.ABANDONED
    execution.notes = f"{execution.notes}\nAbandoned: {reason}".strip()
    execution.save(update_fields=["status", "notes", "updated_at"])
    audit_record(
        action="runbook.execution_abandon",
        obj=execution,
        changes={"status": [before, execution.status], "reason": [None, reason]},
    )
    _on_timeline(execution, actor, outcome="abandoned", output=reason)
    _stop_procedure_escalation(execution, reason="abandoned")
    return execution


def procedure_escalation_key(execution: RunbookExecution) -> str:
    return f"procedure:{execution.pk}"


def _stop_procedure_escalation(execution: RunbookExecution, *, reason: str) -> None:
    if execution.purpose != ExecutionPurpose.PROCEDURE or execution.overdue_at is None:
        return
    from alerting.services import escalation_stop

    escalation_stop(key=procedure_escalation_key(execution), reason=reason)
