"""Postmortems (draft → in review → published) and their action items."""

from datetime import date, datetime

from django.db import transaction
from django.utils import timezone

from governance.audit import audit_record, audit_update, diff, snapshot
from governance.errors import Conflict, ValidationFailed

from .. import events
from ..choices import ACTION_ITEM_OPEN_STATUSES, ActionItemKind, ActionItemStatus, PostmortemStatus
from ..models import ActionItem, Incident, Postmortem

POSTMORTEM_TEXT_FIELDS = ("summary", "impact", "root_cause", "contributing_factors", "lessons")
# What a postmortem must say before it can be published.
REQUIRED_TO_PUBLISH = ("summary", "impact", "root_cause")


def _locked_postmortem(postmortem: Postmortem | int) -> Postmortem:
    pk = postmortem.pk if isinstance(postmortem, Postmortem) else postmortem
    return Postmortem.objects.select_for_update(of=("self",)).select_related("incident").get(pk=pk)


@transaction.atomic
def postmortem_create(*, incident: Incident, actor=None, **fields) -> Postmortem:
    if Postmortem.objects.filter(incident=incident).exists():
        raise Conflict(f"{incident.reference} already has a postmortem.", code="postmortem_exists")
    unknown = set(fields) - set(POSTMORTEM_TEXT_FIELDS)
    if unknown:
        raise ValidationFailed(f"Unknown postmortem field(s): {', '.join(sorted(unknown))}.")
    postmortem = Postmortem.objects.create(
        incident=incident,
        author=actor if getattr(actor, "pk", None) else None,
        due_at=incident.postmortem_due_at,
        **fields,
    )
    events.postmortem(incident, actor, "Postmortem drafted", postmortem_id=postmortem.pk)
    audit_record(action="postmortem.create", obj=postmortem, changes=diff({}, snapshot(postmortem)))
    return postmortem


@transaction.atomic
def postmortem_update(*, postmortem: Postmortem | int, actor=None, **fields) -> Postmortem:
    postmortem = _locked_postmortem(postmortem)
    if postmortem.status == PostmortemStatus.PUBLISHED:
        raise Conflict("A published postmortem is final.", code="invalid_transition")
    audit_update(postmortem, action="postmortem.update", editable=POSTMORTEM_TEXT_FIELDS, fields=fields)
    return postmortem


@transaction.atomic
def postmortem_submit(*, postmortem: Postmortem | int, actor=None) -> Postmortem:
    postmortem = _locked_postmortem(postmortem)
    if postmortem.status != PostmortemStatus.DRAFT:
        raise Conflict("Only a draft can be submitted for review.", code="invalid_transition")
    postmortem.status = PostmortemStatus.IN_REVIEW
    postmortem.submitted_at = timezone.now()
    postmortem.save(update_fields=["status", "submitted_at", "updated_at"])
    events.postmortem(postmortem.incident, actor, "Postmortem submitted for review", postmortem_id=postmortem.pk)
    audit_record(action="postmortem.submit", obj=postmortem, changes={"status": ["draft", "in_review"]})
    return postmortem


@transaction.atomic
def postmortem_return_to_draft(*, postmortem: Postmortem | int, actor=None) -> Postmortem:
    postmortem = _locked_postmortem(postmortem)
    if postmortem.status != PostmortemStatus.IN_REVIEW:
        raise Conflict("Only a postmortem in review can go back to draft.", code="invalid_transition")
    postmortem.status = PostmortemStatus.DRAFT
    postmortem.save(update_fields=["status", "updated_at"])
    events.postmortem(postmortem.incident, actor, "Postmortem returned to draft", postmortem_id=postmortem.pk)
    audit_record(action="postmortem.return_to_draft", obj=postmortem, changes={"status": ["in_review", "draft"]})
    return postmortem


@transaction.atomic
def postmortem_publish(*, postmortem: Postmortem | int, actor=None) -> Postmortem:
    postmortem = _locked_postmortem(postmortem)
    if postmortem.status != PostmortemStatus.IN_REVIEW:
        raise Conflict("Only a postmortem in review can be published.", code="invalid_transition")
    missing = [name for name in REQUIRED_TO_PUBLISH if not getattr(postmortem, name).strip()]
    if missing:
        raise ValidationFailed(
            "A postmortem needs a summary, impact and root cause before it is published.",
            fields={name: ["Required to publish."] for name in missing},
        )
    postmortem.status = PostmortemStatus.PUBLISHED
    postmortem.published_at = timezone.now()
    postmortem.save(update_fields=["status", "published_at", "updated_at"])
    on_time = postmortem.due_at is None or postmortem.published_at <= postmortem.due_at
    events.postmortem(postmortem.incident, actor, "Postmortem published", postmortem_id=postmortem.pk, on_time=on_time)
    audit_record(
        action="postmortem.publish",
        obj=postmortem,
        changes={"status": ["in_review", "published"], "published_at": [None, postmortem.published_at]},
    )
    return postmortem


@transaction.atomic
def postmortem_remind_due(*, postmortem: Postmortem | int, now: datetime | None = None) -> bool:
    """`postmortem.due` to the author (or the commander) once a day while overdue."""
    from ..notifications import notify_incident

    now = now or timezone.now()
    postmortem = _locked_postmortem(postmortem)
    if postmortem.status == PostmortemStatus.PUBLISHED or postmortem.due_at is None or postmortem.due_at > now:
        return False
    if postmortem.reminded_at and (now - postmortem.reminded_at).total_seconds() < 23 * 3600:
        return False
    postmortem.reminded_at = now
    postmortem.save(update_fields=["reminded_at", "updated_at"])
    audit_record(action="postmortem.remind_due", obj=postmortem, changes={"reminded_at": [None, now]})
    incident = postmortem.incident
    person = postmortem.author or incident.commander
    notify_incident(
        incident,
        "postmortem.due",
        key=f"postmortem_due:{now.date().isoformat()}",
        body=f"The postmortem of {incident.reference} was due {postmortem.due_at:%Y-%m-%d %H:%M} UTC.",
        recipients=[person] if person else None,
    )
    return True


# --- action items -------------------------------------------------------------------------


@transaction.atomic
def action_item_create(
    *, incident: Incident, title: str, kind: str, due_date: date, owner=None, actor=None
) -> ActionItem:
    if kind not in ActionItemKind.values:
        raise ValidationFailed("Unknown action item kind.", fields={"kind": [f"Choose from: {ActionItemKind.values}."]})
    if not (title or "").strip():
        raise ValidationFailed("An action item needs a title.", fields={"title": ["Required."]})
    item = ActionItem.objects.create(incident=incident, title=title.strip(), kind=kind, due_date=due_date, owner=owner)
    events.postmortem(incident, actor, f"Action item: {item.title} ({item.get_kind_display()})", action_item_id=item.pk)
    audit_record(action="action_item.create", obj=item, changes=diff({}, snapshot(item)))
    return item


ACTION_ITEM_EDITABLE = ("title", "kind", "owner", "due_date")


@transaction.atomic
def action_item_update(*, item: ActionItem | int, actor=None, **fields) -> ActionItem:
    item = ActionItem.objects.select_for_update().get(pk=item.pk if isinstance(item, ActionItem) else item)
    audit_update(item, action="action_item.update", editable=ACTION_ITEM_EDITABLE, fields=fields)
    return item


@transaction.atomic
def action_item_set_status(*, item: ActionItem | int, status: str, actor=None) -> ActionItem:
    if status not in ActionItemStatus.values:
        raise ValidationFailed("Unknown status.", fields={"status": [f"Choose from: {ActionItemStatus.values}."]})
    item = ActionItem.objects.select_for_update().get(pk=item.pk if isinstance(item, ActionItem) else item)
    if item.status == status:
        return item
    if item.status not in ACTION_ITEM_OPEN_STATUSES:
        raise Conflict("A finished action item stays finished.", code="invalid_transition")
    before = item.status
    item.status = status
    item.completed_at = timezone.now() if status not in ACTION_ITEM_OPEN_STATUSES else None
    item.save(update_fields=["status", "completed_at", "updated_at"])
    audit_record(action="action_item.set_status", obj=item, changes={"status": [before, status]})
    return item


@transaction.atomic
def action_item_remind_overdue(*, item: ActionItem | int, now: datetime | None = None) -> bool:
    """`action_item.overdue` to the owner, at most once a day."""
    from ..notifications import notify_incident

    now = now or timezone.now()
    item = (
        ActionItem.objects.select_for_update(of=("self",))
        .select_related("incident", "incident__service", "owner")
        .get(pk=item.pk if isinstance(item, ActionItem) else item)
    )
    if item.status not in ACTION_ITEM_OPEN_STATUSES or item.due_date >= now.date():
        return False
    if item.reminded_at and (now - item.reminded_at).total_seconds() < 23 * 3600:
        return False
    item.reminded_at = now
    item.save(update_fields=["reminded_at", "updated_at"])
    audit_record(action="action_item.remind_overdue", obj=item, changes={"reminded_at": [None, now]})
    notify_incident(
        item.incident,
        "action_item.overdue",
        key=f"action_item:{item.pk}:overdue:{now.date().isoformat()}",
        body=f"Action item overdue since {item.due_date}: {item.title}",
        recipients=[item.owner] if item.owner else None,
    )
    return True
