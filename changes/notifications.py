"""The one place changes talk to `alerting`: `change.suspect` and `change.approval_due`."""

from governance.links import admin_url

from .models import Change


def notify_change(change: Change, event_type: str, *, key: str, subject: str, body: str = "", recipients=(), data=None):
    from alerting.services import notify

    services = list(change.services.all()[:1])
    service = services[0] if services else None
    return notify(
        event_type,
        subject=subject,
        idempotency_key=f"change:{change.pk}:{key}",
        body=body,
        service=service,
        team=service.owner_team if service is not None else None,
        links=[{"label": f"{change.reference} in Vigil", "url": admin_url(change)}],
        data={"reference": change.reference, "title": change.title, "kind": change.kind, **(data or {})},
        dedup_key=change.reference,
        recipients=[r for r in recipients if r is not None],
    )
