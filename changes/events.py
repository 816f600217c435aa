"""Change timeline writers (one small function per kind). Call inside the service's transaction."""

from django.utils import timezone

from governance.audit import current_context

from .choices import ChangeEventKind
from .models import Change, ChangeEvent


def _actor(actor):
    if actor is not None and getattr(actor, "is_authenticated", False) and getattr(actor, "pk", None):
        return actor, actor.get_username()
    ctx = current_context()
    if ctx.api_key is not None:
        return None, f"api-key:{ctx.api_key.name}"
    if ctx.label:
        return None, ctx.label
    return None, "system"


def write(change: Change, kind: str, actor=None, message: str = "", occurred_at=None, **data) -> ChangeEvent:
    user, label = _actor(actor)
    return ChangeEvent.objects.create(
        change=change,
        kind=kind,
        occurred_at=occurred_at or timezone.now(),
        actor=user,
        actor_label=label,
        message=message,
        data=data,
    )


def created(change: Change, actor) -> ChangeEvent:
    return write(change, ChangeEventKind.CREATED, actor, f"{change.get_kind_display()} change created: {change.title}")


def transitioned(change: Change, actor, *, kind: str, before: str, note: str = "") -> ChangeEvent:
    label = ChangeEventKind(kind).label
    message = f"{label} ({before} → {change.status})" + (f": {note}" if note else "")
    return write(change, kind, actor, message, before=before, after=change.status)


def approved(change: Change, actor, *, after_the_fact: bool) -> ChangeEvent:
    message = "Approved after the fact" if after_the_fact else "Approved"
    return write(change, ChangeEventKind.APPROVED, actor, message, status=change.status)


def deployment(change: Change, deployment, *, created: bool) -> ChangeEvent:
    verb = "reported" if created else "updated"
    message = (
        f"Deployment {verb}: {deployment.service.slug} {deployment.version} → {deployment.environment} "
        f"({deployment.status})" + (" inside a freeze window without an exception" if deployment.in_freeze else "")
    )
    return write(
        change,
        ChangeEventKind.DEPLOYMENT,
        None,
        message,
        deployment_id=deployment.pk,
        status=deployment.status,
        in_freeze=deployment.in_freeze,
    )


def suspect(change: Change, deployment, incident) -> ChangeEvent:
    return write(
        change,
        ChangeEventKind.SUSPECT,
        None,
        f"Suspect: {incident.reference} ({incident.severity}) was declared within "
        f"{deployment.watch_minutes} min of deployment {deployment.version}",
        deployment_id=deployment.pk,
        incident_id=incident.pk,
    )


def incident_linked(change: Change, actor, *, incident, deployment=None) -> ChangeEvent:
    what = f"deployment {deployment.version}" if deployment else "this change"
    return write(
        change,
        ChangeEventKind.INCIDENT_LINKED,
        actor,
        f"Suspected cause of {incident.reference}: {what}",
        incident_id=incident.pk,
        deployment_id=deployment.pk if deployment else None,
    )


def approval_due(change: Change) -> ChangeEvent:
    return write(
        change,
        ChangeEventKind.APPROVAL_DUE,
        None,
        "Emergency change not approved by its deadline; the approvers were notified",
        due_at=change.approval_due_at.isoformat(),
    )


def freeze_exception(change: Change, actor, exception, verb: str) -> ChangeEvent:
    return write(
        change,
        ChangeEventKind.FREEZE_EXCEPTION,
        actor,
        f"Freeze exception to {exception.window} {verb}",
        exception_id=exception.pk,
        status=exception.status,
    )


def details_changed(change: Change, actor, *, fields: list[str]) -> ChangeEvent:
    return write(change, ChangeEventKind.DETAILS_CHANGED, actor, f"Changed {', '.join(fields)}", fields=fields)
