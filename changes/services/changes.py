"""The change lifecycle: every write to a change goes through these functions."""

from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from governance.audit import audit_record, audit_update, diff, snapshot
from governance.errors import Conflict, ValidationFailed, VigilError
from governance.models import Service

from .. import events
from ..choices import TRANSITIONS, ChangeEventKind, ChangeKind, ChangeRisk, ChangeStatus
from ..models import Change
from ..notifications import notify_change

EMERGENCY_APPROVAL_HOURS = 24


class SelfApproval(VigilError):
    status = 403
    code = "self_approval"


def emergency_approval_hours() -> float:
    return float(getattr(settings, "CHANGES_EMERGENCY_APPROVAL_HOURS", EMERGENCY_APPROVAL_HOURS))


def locked_change(change: Change | int) -> Change:
    pk = change.pk if isinstance(change, Change) else change
    return Change.objects.select_for_update(of=("self",)).select_related("implementer", "created_by").get(pk=pk)


def _person(user):
    return user if getattr(user, "pk", None) and getattr(user, "is_authenticated", True) else None


def _validate(*, title, kind, risk, services, planned_start, planned_end, implementer, approvers) -> None:
    fields = {}
    if not (title or "").strip():
        fields["title"] = ["Required."]
    if kind not in ChangeKind.values:
        fields["kind"] = [f"Choose from: {', '.join(ChangeKind.values)}."]
    if risk not in ChangeRisk.values:
        fields["risk"] = [f"Choose from: {', '.join(ChangeRisk.values)}."]
    if not services:
        fields["services"] = ["A change names at least one service."]
    if planned_start and planned_end and planned_end <= planned_start:
        fields["planned_end"] = ["Must be after the planned start."]
    if implementer is not None and any(a.pk == implementer.pk for a in approvers):
        fields["approvers"] = ["The implementer cannot approve their own change."]
    if fields:
        raise ValidationFailed("The change is not valid.", fields=fields)


@transaction.atomic
def change_create(
    *,
    title: str,
    services: list[Service],
    kind: str = ChangeKind.NORMAL,
    risk: str = ChangeRisk.MEDIUM,
    description: str = "",
    planned_start: datetime | None = None,
    planned_end: datetime | None = None,
    implementer=None,
    approvers=(),
    rollback_plan: str = "",
    pull_request_url: str = "",
    pipeline_url: str = "",
    release_tag: str = "",
    migration_hash: str = "",
    created_by=None,
) -> Change:
    approvers = [a for a in approvers if a is not None]
    _validate(
        title=title,
        kind=kind,
        risk=risk,
        services=services,
        planned_start=planned_start,
        planned_end=planned_end,
        implementer=implementer,
        approvers=approvers,
    )
    change = Change(
        title=title.strip()[:200],
        description=description,
        kind=kind,
        risk=risk,
        planned_start=planned_start,
        planned_end=planned_end,
        implementer=implementer,
        rollback_plan=rollback_plan,
        pull_request_url=pull_request_url,
        pipeline_url=pipeline_url,
        release_tag=release_tag,
        migration_hash=migration_hash,
        created_by=_person(created_by),
    )
    change.full_clean(exclude=["implementer", "created_by", "approved_by"])
    change.save()
    change.services.set(services)
    if approvers:
        change.approvers.set(approvers)
    events.created(change, created_by)
    audit_record(
        action="change.create",
        obj=change,
        changes={
            **diff({}, snapshot(change)),
            "services": [None, sorted(s.slug for s in services)],
            "approvers": [None, sorted(a.pk for a in approvers)],
        },
    )
    return change


EDITABLE = (
    "title",
    "description",
    "risk",
    "planned_start",
    "planned_end",
    "implementer",
    "rollback_plan",
    "pull_request_url",
    "pipeline_url",
    "release_tag",
    "migration_hash",
)


@transaction.atomic
def change_update(*, change: Change | int, actor=None, approvers=None, services=None, **fields) -> Change:
    """Descriptive fields; state changes have their own services. An approved change keeps its window."""
    change = locked_change(change)
    if change.status not in (ChangeStatus.DRAFT, ChangeStatus.SUBMITTED) and (
        {"planned_start", "planned_end", "implementer"} & set(fields) or services is not None
    ):
        raise Conflict(
            f"{change.reference} is {change.get_status_display().lower()}: its window, services and implementer "
            "are what was approved.",
            code="invalid_transition",
        )
    implementer = fields.get("implementer", change.implementer)
    wanted_approvers = list(approvers) if approvers is not None else list(change.approvers.all())
    _validate(
        title=fields.get("title", change.title),
        kind=change.kind,
        risk=fields.get("risk", change.risk),
        services=list(services) if services is not None else [True],
        planned_start=fields.get("planned_start", change.planned_start),
        planned_end=fields.get("planned_end", change.planned_end),
        implementer=implementer,
        approvers=wanted_approvers,
    )
    changed = audit_update(
        change, action="change.update", editable=EDITABLE, fields=fields, clean_exclude=["implementer", "created_by"]
    )
    names = sorted(changed)
    if approvers is not None:
        before = sorted(change.approvers.values_list("pk", flat=True))
        after = sorted(a.pk for a in wanted_approvers)
        if before != after:
            change.approvers.set(wanted_approvers)
            audit_record(action="change.update", obj=change, changes={"approvers": [before, after]})
            names.append("approvers")
    if services is not None:
        before = sorted(change.services.values_list("slug", flat=True))
        after = sorted(s.slug for s in services)
        if before != after:
            change.services.set(services)
            audit_record(action="change.update", obj=change, changes={"services": [before, after]})
            names.append("services")
    if names:
        events.details_changed(change, actor, fields=names)
    return change


def _refuse(change: Change, target: str) -> None:
    allowed = TRANSITIONS[change.status]
    emergency_start = (
        change.kind == ChangeKind.EMERGENCY
        and change.status == ChangeStatus.SUBMITTED
        and target == ChangeStatus.IN_PROGRESS
    )
    if target not in allowed and not emergency_start:
        raise Conflict(
            f"{change.reference} is {change.get_status_display().lower()}; it cannot become "
            f"{ChangeStatus(target).label.lower()}.",
            code="invalid_transition",
        )


def _move(change: Change, target: str, actor, *, kind: str, note: str = "", extra_fields=()) -> Change:
    fields = ["status", *extra_fields]
    before = snapshot(change, fields)
    previous = change.status
    change.status = target
    change.save(update_fields=[*fields, "updated_at"])
    events.transitioned(change, actor, kind=kind, before=previous, note=note)
    audit_record(action=f"change.{kind}", obj=change, changes=diff(before, snapshot(change, fields)))
    return change


@transaction.atomic
def change_submit(*, change: Change | int, actor=None, now: datetime | None = None) -> Change:
    """Submit for approval. A standard change is pre-approved; an emergency one gets its approval deadline."""
    change = locked_change(change)
    _refuse(change, ChangeStatus.SUBMITTED)
    now = now or timezone.now()
    change.submitted_at = now
    extra = ["submitted_at"]
    if change.kind == ChangeKind.EMERGENCY:
        change.approval_due_at = now + timedelta(hours=emergency_approval_hours())
        extra.append("approval_due_at")
    _move(change, ChangeStatus.SUBMITTED, actor, kind=ChangeEventKind.SUBMITTED, extra_fields=extra)
    if change.kind == ChangeKind.STANDARD:
        change.approved_at = now
        _move(
            change,
            ChangeStatus.APPROVED,
            None,
            kind=ChangeEventKind.APPROVED,
            note="standard change: pre-approved",
            extra_fields=["approved_at"],
        )
    return change


def approver_for(actor, api_key=None):
    """The person an approval is made by: the session user, or the person who created the API key."""
    person = _person(actor)
    if person is None and api_key is not None:
        person = api_key.created_by
    return person


@transaction.atomic
def change_approve(*, change: Change | int, actor, now: datetime | None = None) -> Change:
    """Approve. Never by the implementer or the requester; a planned window inside a freeze needs an exception."""
    from ..selectors import freeze_conflicts

    actor = _person(actor)
    if actor is None:
        raise SelfApproval("An approval is made by a named person.", code="approver_required")
    change = locked_change(change)
    if actor.pk in {change.implementer_id, change.created_by_id}:
        raise SelfApproval(
            f"Nobody approves their own change: you are the implementer or requester of {change.reference}."
        )
    if change.approved_at is not None:
        raise Conflict(f"{change.reference} is already approved.", code="invalid_transition")
    listed = list(change.approvers.values_list("pk", flat=True))
    if listed and actor.pk not in listed and not actor.has_perm("changes.approve_change"):
        raise SelfApproval(f"You are not an approver of {change.reference}.", code="not_an_approver")
    now = now or timezone.now()
    after_the_fact = change.kind == ChangeKind.EMERGENCY and change.status != ChangeStatus.SUBMITTED
    if not after_the_fact:
        _refuse(change, ChangeStatus.APPROVED)
        conflicts = freeze_conflicts(change=change)
        if conflicts and change.kind == ChangeKind.NORMAL:
            window, start, end = conflicts[0]
            raise Conflict(
                f"{change.reference} is planned inside the freeze window “{window}” "
                f"({start:%Y-%m-%d %H:%M} – {end:%Y-%m-%d %H:%M} {window.time_zone}): "
                "it needs an approved freeze exception first.",
                code="freeze_exception_required",
            )
    elif change.status == ChangeStatus.CANCELLED:
        raise Conflict(f"{change.reference} is cancelled.", code="invalid_transition")
    before = snapshot(change, ["status", "approved_at", "approved_by"])
    change.approved_at = now
    change.approved_by = actor
    if not after_the_fact:
        change.status = ChangeStatus.APPROVED
    change.save(update_fields=["status", "approved_at", "approved_by", "updated_at"])
    events.approved(change, actor, after_the_fact=after_the_fact)
    audit_record(
        action="change.approve",
        obj=change,
        changes=diff(before, snapshot(change, ["status", "approved_at", "approved_by"])),
    )
    return change


@transaction.atomic
def change_return_to_draft(*, change: Change | int, actor=None, note: str = "") -> Change:
    change = locked_change(change)
    _refuse(change, ChangeStatus.DRAFT)
    return _move(change, ChangeStatus.DRAFT, actor, kind=ChangeEventKind.RETURNED, note=note)


@transaction.atomic
def change_start(*, change: Change | int, actor=None, at: datetime | None = None) -> Change:
    change = locked_change(change)
    _refuse(change, ChangeStatus.IN_PROGRESS)
    change.actual_start = at or timezone.now()
    return _move(change, ChangeStatus.IN_PROGRESS, actor, kind=ChangeEventKind.STARTED, extra_fields=["actual_start"])


FINISH_KINDS = {
    ChangeStatus.COMPLETED: ChangeEventKind.COMPLETED,
    ChangeStatus.FAILED: ChangeEventKind.FAILED,
    ChangeStatus.ROLLED_BACK: ChangeEventKind.ROLLED_BACK,
}


@transaction.atomic
def change_finish(
    *, change: Change | int, outcome: str, actor=None, note: str = "", at: datetime | None = None
) -> Change:
    """In progress → completed, failed or rolled back."""
    if outcome not in FINISH_KINDS:
        raise ValidationFailed(
            "Unknown outcome.", fields={"outcome": [f"Choose from: {', '.join(str(k) for k in FINISH_KINDS)}."]}
        )
    change = locked_change(change)
    _refuse(change, outcome)
    change.actual_end = at or timezone.now()
    return _move(change, outcome, actor, kind=FINISH_KINDS[outcome], note=note, extra_fields=["actual_end"])


@transaction.atomic
def change_cancel(*, change: Change | int, actor=None, note: str = "") -> Change:
    change = locked_change(change)
    _refuse(change, ChangeStatus.CANCELLED)
    return _move(change, ChangeStatus.CANCELLED, actor, kind=ChangeEventKind.CANCELLED, note=note)


@transaction.atomic
def change_remind_approval_due(*, change: Change | int, now: datetime | None = None) -> bool:
    """`change.approval_due` to the approvers (and Change Managers when none are named), once."""
    now = now or timezone.now()
    change = Change.objects.select_for_update(skip_locked=True).filter(pk=getattr(change, "pk", change)).first()
    if (
        change is None
        or change.kind != ChangeKind.EMERGENCY
        or change.approved_at is not None
        or change.approval_reminded_at is not None
        or change.approval_due_at is None
        or change.approval_due_at > now
        or change.status == ChangeStatus.CANCELLED
    ):
        return False
    approvers = list(change.approvers.all())
    if not approvers:
        approvers = list(
            get_user_model().objects.filter(groups__name="Change Manager", is_active=True).order_by("pk")[:20]
        )
    change.approval_reminded_at = now
    change.save(update_fields=["approval_reminded_at", "updated_at"])
    events.approval_due(change)
    audit_record(action="change.approval_due", obj=change, changes={"approval_reminded_at": [None, now]})
    notify_change(
        change,
        "change.approval_due",
        key="approval_due",
        subject=f"[emergency] {change.reference} needs approval: {change.title}",
        body=f"Approval was due {change.approval_due_at:%Y-%m-%d %H:%M} UTC.",
        recipients=approvers,
        data={"approval_due_at": change.approval_due_at},
    )
    return True
