"""The incident side of "this change is the suspected cause": apps above incidents call this
(incidents never import them), so the relation is on the incident's timeline and in the audit trail."""

from django.db import transaction

from governance.audit import audit_record

from .. import events
from ..models import Incident
from .incidents import locked_incident


@transaction.atomic
def incident_record_change_link(
    *, incident: Incident | int, reference: str, title: str, url: str = "", actor=None, **data
):
    """Write the `change_linked` timeline event; returns it."""
    incident = locked_incident(incident)
    event = events.change_linked(incident, actor, reference=reference, title=title, url=url, **data)
    audit_record(action="incident.link_change", obj=incident, changes={"suspected_cause": [None, reference]})
    return event
