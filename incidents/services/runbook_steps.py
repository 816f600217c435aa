"""Runbook progress on an incident's timeline. Runbooks call this; incidents never import runbooks."""

from django.db import transaction

from governance.audit import audit_record
from governance.errors import ValidationFailed

from .. import events
from ..models import Incident, IncidentEvent

OUTPUT_ON_TIMELINE = 500  # characters of a step's output shown on the timeline; the execution keeps it all


@transaction.atomic
def incident_record_runbook_step(
    *,
    incident: Incident | int,
    runbook: str,
    version: int,
    execution_id: int,
    outcome: str,
    step: int | None = None,
    step_title: str = "",
    output: str = "",
    actor=None,
) -> IncidentEvent:
    """Put a runbook execution's start, step outcome or completion on the incident's timeline."""
    if not runbook or not outcome:
        raise ValidationFailed("A runbook step needs the runbook and an outcome.", fields={"outcome": ["Required."]})
    pk = incident.pk if isinstance(incident, Incident) else incident
    incident = Incident.objects.get(pk=pk)
    output = (output or "").strip()
    if len(output) > OUTPUT_ON_TIMELINE:
        output = output[: OUTPUT_ON_TIMELINE - 1] + "…"
    event = events.runbook_step(
        incident,
        actor,
        runbook=runbook,
        version=version,
        execution_id=execution_id,
        outcome=outcome,
        step=step,
        step_title=step_title,
        output=output,
    )
    audit_record(
        action="incident.runbook_step",
        obj=incident,
        changes={"runbook_step": [None, {"execution": execution_id, "step": step, "outcome": outcome}]},
    )
    return event
