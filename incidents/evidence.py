"""The incidents' part of the evidence bundle: incidents with their SLA outcomes, timelines, postmortems
and action items of the period (declared in it, for incidents and their records)."""

from .models import ActionItem, Incident, IncidentEvent, Postmortem

RESPONSE_CONTROLS = (
    "SOC 2 CC7.3",
    "SOC 2 CC7.4",
    "SOC 2 CC7.5",
    "ISO 27001 A.5.24",
    "ISO 27001 A.5.25",
    "ISO 27001 A.5.26",
)
LEARNING_CONTROLS = ("SOC 2 CC7.5", "ISO 27001 A.5.27", "ISO 27001 A.5.28")
CHUNK = 2000


def _iso(value):
    return value.isoformat() if value else None


def export_incidents(start, end):
    columns = [
        "reference",
        "title",
        "severity",
        "status",
        "service",
        "commander",
        "source",
        "declared_at",
        "ack_due_at",
        "acknowledged_at",
        "ack_met",
        "ack_breached",
        "mitigated_at",
        "resolved_at",
        "closed_at",
        "minutes_to_acknowledge",
        "minutes_to_resolve",
        "recurrence_of",
    ]

    def rows():
        incidents = (
            Incident.objects.filter(declared_at__gte=start, declared_at__lt=end)
            .select_related("service", "commander")
            .order_by("declared_at", "id")
        )
        for i in incidents.iterator(chunk_size=CHUNK):
            tta = (i.acknowledged_at - i.declared_at).total_seconds() / 60 if i.acknowledged_at else None
            ttr = (i.resolved_at - i.declared_at).total_seconds() / 60 if i.resolved_at else None
            yield [
                i.reference,
                i.title,
                i.severity,
                i.status,
                i.service.slug,
                i.commander.get_username() if i.commander else None,
                i.source,
                _iso(i.declared_at),
                _iso(i.ack_due_at),
                _iso(i.acknowledged_at),
                bool(i.acknowledged_at and not i.ack_breached and i.acknowledged_at <= i.ack_due_at),
                i.ack_breached,
                _iso(i.mitigated_at),
                _iso(i.resolved_at),
                _iso(i.closed_at),
                round(tta, 2) if tta is not None else None,
                round(ttr, 2) if ttr is not None else None,
                f"INC-{i.recurrence_of_id}" if i.recurrence_of_id else None,
            ]

    return columns, rows()


def export_timelines(start, end):
    columns = ["incident", "occurred_at", "kind", "actor", "message"]

    def rows():
        events = IncidentEvent.objects.filter(incident__declared_at__gte=start, incident__declared_at__lt=end).order_by(
            "incident_id", "occurred_at", "id"
        )
        for e in events.iterator(chunk_size=CHUNK):
            yield [f"INC-{e.incident_id}", _iso(e.occurred_at), e.kind, e.actor_label, e.message]

    return columns, rows()


def export_postmortems(start, end):
    columns = ["incident", "status", "due_at", "published_at", "on_time", "summary", "root_cause", "lessons"]

    def rows():
        postmortems = Postmortem.objects.filter(
            incident__declared_at__gte=start, incident__declared_at__lt=end
        ).order_by("incident_id")
        for p in postmortems.iterator(chunk_size=CHUNK):
            on_time = bool(p.published_at and p.due_at and p.published_at <= p.due_at)
            yield [
                f"INC-{p.incident_id}",
                p.status,
                _iso(p.due_at),
                _iso(p.published_at),
                on_time,
                p.summary,
                p.root_cause,
                p.lessons,
            ]

    return columns, rows()


def export_action_items(start, end):
    columns = ["incident", "title", "kind", "owner", "due_date", "status", "completed_at"]

    def rows():
        items = (
            ActionItem.objects.filter(incident__declared_at__gte=start, incident__declared_at__lt=end)
            .select_related("owner")
            .order_by("incident_id", "id")
        )
        for a in items.iterator(chunk_size=CHUNK):
            yield [
                f"INC-{a.incident_id}",
                a.title,
                a.kind,
                a.owner.get_username() if a.owner else None,
                a.due_date.isoformat(),
                a.status,
                _iso(a.completed_at),
            ]

    return columns, rows()


EXPORTERS = [
    ("incidents", export_incidents, RESPONSE_CONTROLS),
    ("incident_timelines", export_timelines, RESPONSE_CONTROLS),
    ("postmortems", export_postmortems, LEARNING_CONTROLS),
    ("action_items", export_action_items, LEARNING_CONTROLS),
]
