"""Freeze windows, their exceptions, and the private calendar feeds."""

import secrets
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from governance.audit import audit_record, diff, snapshot
from governance.errors import Conflict, ValidationFailed

from .. import events
from ..choices import ExceptionStatus, FreezeRecurrence
from ..freeze import validate_window
from ..models import Change, ChangeCalendarFeed, FreezeException, FreezeWindow
from .changes import SelfApproval


@transaction.atomic
def freeze_window_create(
    *,
    name: str,
    reason: str,
    recurrence: str = FreezeRecurrence.ONCE,
    services=(),
    all_services: bool = False,
    environments: str = "",
    time_zone: str = "UTC",
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
    weekdays=None,
    start_time=None,
    end_time=None,
    cron: str = "",
    duration_minutes: int | None = None,
    created_by=None,
) -> FreezeWindow:
    window = FreezeWindow(
        name=(name or "").strip(),
        reason=(reason or "").strip(),
        recurrence=recurrence,
        all_services=all_services,
        environments=environments,
        time_zone=time_zone,
        starts_at=starts_at,
        ends_at=ends_at,
        weekdays=list(weekdays or []),
        start_time=start_time,
        end_time=end_time,
        cron=cron,
        duration_minutes=duration_minutes,
        created_by=created_by if getattr(created_by, "pk", None) else None,
    )
    errors = validate_window(window)
    if not window.name:
        errors["name"] = ["Required."]
    if not window.reason:
        errors["reason"] = ["Say why changes are frozen."]
    if not all_services and not services:
        errors["services"] = ["Choose services, or apply the window to all services."]
    if errors:
        raise ValidationFailed("The freeze window is not valid.", fields=errors)
    window.save()
    if services:
        window.services.set(services)
    audit_record(
        action="freeze_window.create",
        obj=window,
        changes={**diff({}, snapshot(window)), "services": [None, sorted(s.slug for s in services)]},
    )
    return window


@transaction.atomic
def freeze_exception_request(
    *,
    window: FreezeWindow,
    reason: str,
    valid_from: datetime,
    valid_until: datetime,
    change: Change | None = None,
    service=None,
    requested_by=None,
) -> FreezeException:
    fields = {}
    if not (reason or "").strip():
        fields["reason"] = ["Say why this change cannot wait."]
    if valid_until <= valid_from:
        fields["valid_until"] = ["Must be after valid_from."]
    if fields:
        raise ValidationFailed("The freeze exception is not valid.", fields=fields)
    exception = FreezeException.objects.create(
        window=window,
        change=change,
        service=service,
        reason=reason.strip(),
        valid_from=valid_from,
        valid_until=valid_until,
        requested_by=requested_by if getattr(requested_by, "pk", None) else None,
    )
    if change is not None:
        events.freeze_exception(change, requested_by, exception, "requested")
    audit_record(action="freeze_exception.request", obj=exception, changes=diff({}, snapshot(exception)))
    return exception


@transaction.atomic
def freeze_exception_decide(*, exception: FreezeException | int, approve: bool, actor) -> FreezeException:
    """A Change Manager or an Ops Admin approves or rejects; never the person who asked."""
    pk = getattr(exception, "pk", exception)
    exception = FreezeException.objects.select_for_update().get(pk=pk)
    if not getattr(actor, "pk", None):
        raise SelfApproval("A freeze exception is decided by a named person.", code="approver_required")
    if not actor.has_perm("changes.approve_freezeexception"):
        raise SelfApproval("Only a Change Manager or an Ops Admin decides freeze exceptions.", code="permission_denied")
    if exception.requested_by_id == actor.pk:
        raise SelfApproval("Nobody approves their own freeze exception.")
    if exception.status != ExceptionStatus.REQUESTED:
        raise Conflict(
            f"This exception is already {exception.get_status_display().lower()}.", code="invalid_transition"
        )
    fields = ["status", "decided_by", "decided_at"]
    before = snapshot(exception, fields)
    exception.status = ExceptionStatus.APPROVED if approve else ExceptionStatus.REJECTED
    exception.decided_by = actor
    exception.decided_at = timezone.now()
    exception.save(update_fields=[*fields, "updated_at"])
    if exception.change_id:
        events.freeze_exception(exception.change, actor, exception, exception.get_status_display().lower())
    audit_record(
        action=f"freeze_exception.{exception.status}", obj=exception, changes=diff(before, snapshot(exception, fields))
    )
    return exception


@transaction.atomic
def calendar_feed_create(*, name: str, services=(), created_by=None) -> ChangeCalendarFeed:
    if not (name or "").strip():
        raise ValidationFailed("A feed needs a name.", fields={"name": ["Required."]})
    feed = ChangeCalendarFeed.objects.create(
        name=name.strip(), created_by=created_by if getattr(created_by, "pk", None) else None
    )
    if services:
        feed.services.set(services)
    audit_record(action="create", obj=feed, changes={"name": [None, feed.name]})
    return feed


@transaction.atomic
def calendar_feed_rotate_token(*, feed: ChangeCalendarFeed) -> ChangeCalendarFeed:
    """A new private URL; the old one stops working at once."""
    feed.token = secrets.token_urlsafe(32)
    feed.save(update_fields=["token", "updated_at"])
    audit_record(action="rotate_token", obj=feed, changes={"token": ["(old)", "(new)"]})
    return feed
