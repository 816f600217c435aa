"""The one place access reviews talk to `alerting`."""

from governance.links import admin_url


def send(event_type: str, *, subject: str, key: str, obj, body: str = "", recipients=None, data=None) -> int:
    """Queue `event_type` (delivered on commit); the same `key` again sends nothing."""
    from alerting.services import notify

    rows = notify(
        event_type,
        subject=subject,
        idempotency_key=key,
        body=body,
        recipients=[r for r in (recipients or []) if r is not None],
        links=[{"label": f"{obj} in Vigil", "url": admin_url(obj)}],
        data=data or {},
        dedup_key=key,
    )
    return len(rows or [])
