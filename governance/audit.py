"""The audit recorder: every write through a service, the admin or the API lands here.

The request context (request id, IP, acting user or API key) is carried in a
contextvar set by middleware, so services record who did what without taking the
request as an argument. Outside a request (tasks, commands) the actor is "system"
unless a caller sets one with `audit_context`.
"""

import contextlib
import contextvars
import datetime as dt
import decimal
import uuid
from dataclasses import dataclass, replace
from typing import Any

from django.db import connection, models

from .models import AuditEvent


@dataclass(frozen=True)
class AuditContext:
    user: Any = None
    api_key: Any = None
    request_id: str = ""
    ip_address: str | None = None
    label: str = ""  # computed from user / api_key at record time when empty


_context: contextvars.ContextVar[AuditContext] = contextvars.ContextVar(
    "vigil_audit",
    default=AuditContext(),  # noqa: B039  (frozen dataclass: immutable)
)


def current_context() -> AuditContext:
    return _context.get()


@contextlib.contextmanager
def audit_context(**changes):
    """Set parts of the audit context for a block: `with audit_context(user=u): ...`."""
    new = replace(_context.get(), **changes)
    token = _context.set(new)
    try:
        yield new
    finally:
        _context.reset(token)


def set_context(ctx: AuditContext) -> contextvars.Token:
    return _context.set(ctx)


def reset_context(token: contextvars.Token) -> None:
    _context.reset(token)


def _label_for(ctx: AuditContext) -> str:
    if ctx.api_key is not None:
        return f"api-key:{ctx.api_key.name}"
    if ctx.user is not None and getattr(ctx.user, "is_authenticated", False):
        return ctx.user.get_username()
    return "system"


def jsonable(value: Any) -> Any:
    """A JSON-safe rendering of a field value for before/after records."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, models.Model):
        return value.pk
    if isinstance(value, list | tuple | set):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if hasattr(value, "name") and hasattr(value, "url"):  # a FieldFile
        return value.name or None
    return str(value)


def object_type_of(obj: models.Model) -> str:
    return obj._meta.label_lower


def snapshot(obj: models.Model, fields: list[str] | None = None) -> dict[str, Any]:
    """Concrete field values of `obj`, FKs as ids, for a later `diff`."""
    values = {}
    for field in obj._meta.concrete_fields:
        if (fields is not None and field.name not in fields) or field.name == "updated_at":
            continue
        values[field.name] = jsonable(getattr(obj, field.attname))
    return values


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list]:
    return {k: [before.get(k), after.get(k)] for k in after if before.get(k) != after.get(k)}


def audit_record(
    *,
    action: str,
    obj: models.Model | None = None,
    object_type: str = "",
    object_id: str | int = "",
    object_repr: str = "",
    changes: dict | None = None,
) -> AuditEvent:
    """Append one AuditEvent for the current actor. Call inside the write's transaction."""
    ctx = _context.get()
    if obj is not None:
        object_type = object_type or object_type_of(obj)
        object_id = object_id or obj.pk
        object_repr = object_repr or str(obj)
    user = ctx.user if ctx.user is not None and getattr(ctx.user, "is_authenticated", False) else None
    return AuditEvent.objects.create(
        actor_user=user,
        actor_api_key=ctx.api_key,
        actor_label=ctx.label or _label_for(ctx),
        action=action,
        object_type=object_type,
        object_id=str(object_id or ""),
        object_repr=str(object_repr)[:200],
        changes=jsonable(changes or {}),
        request_id=ctx.request_id,
        ip_address=ctx.ip_address,
    )


def audit_update(obj: models.Model, *, action: str, editable, fields: dict, clean_exclude=None) -> dict:
    """Set `fields` on `obj` (each must be in `editable`), validate, save and audit what changed.

    Returns the changes (field → [before, after]); nothing is written when nothing changed.
    Call inside the write's transaction, with the row locked where that matters.
    """
    from .errors import ValidationFailed

    unknown = sorted(set(fields) - set(editable))
    if unknown:
        raise ValidationFailed(
            f"Not editable here: {', '.join(unknown)}.", fields={name: ["Not editable here."] for name in unknown}
        )
    before = snapshot(obj, list(editable))
    for name, value in fields.items():
        setattr(obj, name, value)
    if clean_exclude is not None:
        obj.full_clean(exclude=clean_exclude)
    changes = diff(before, snapshot(obj, list(editable)))
    if changes:
        obj.save(update_fields=[*changes, "updated_at"])
        audit_record(action=action, obj=obj, changes=changes)
    return changes


@contextlib.contextmanager
def audit_maintenance():
    """Lift the append-only guard for this connection (test flushes, retention purges).

    PostgreSQL: a session setting the trigger reads. SQLite: a function the
    trigger calls, registered on Django's connections only, so any other client
    (sqlite3 CLI, a script) still cannot modify the table.
    """
    from . import db_guard

    connection.ensure_connection()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET vigil.audit_maintenance = 'on'")
        try:
            yield
        finally:
            with connection.cursor() as cursor:
                cursor.execute("RESET vigil.audit_maintenance")
    else:
        token = db_guard.MAINTENANCE.set(True)
        try:
            yield
        finally:
            db_guard.MAINTENANCE.reset(token)
