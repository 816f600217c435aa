"""Deployments reported by CI/CD, suspect flagging, and the "suspected cause" link."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from governance.audit import audit_record, current_context, diff, snapshot
from governance.errors import Conflict, ValidationFailed
from governance.links import admin_url
from governance.models import Service

from .. import events
from ..choices import SEVERE_SEVERITIES, ChangeKind, ChangeRisk, ChangeStatus, DeploymentStatus
from ..models import DEFAULT_WATCH_MINUTES, REFERENCE_PREFIX, Change, Deployment, SuspectedCause
from ..notifications import notify_change
from .changes import change_create

# How far back the suspect job looks at declared incidents: longer than any sane watch window.
SUSPECT_LOOKBACK = timedelta(hours=6)
SUSPECT_BATCH = 500


def watch_minutes_default() -> int:
    return int(getattr(settings, "CHANGES_WATCH_MINUTES", DEFAULT_WATCH_MINUTES))


@dataclass(frozen=True)
class RecordedDeployment:
    deployment: Deployment
    created: bool


def change_by_reference(reference: str, *, field: str = "change") -> Change:
    text = (reference or "").strip().upper()
    number = text[len(REFERENCE_PREFIX) :] if text.startswith(REFERENCE_PREFIX) else text
    if not number.isdecimal():
        raise ValidationFailed(f"{reference!r} is not a change reference.", fields={field: ["Use CHG-<number>."]})
    change = Change.objects.filter(pk=int(number)).first()
    if change is None:
        raise ValidationFailed(f"{reference} does not exist.", fields={field: [f"No change {reference}."]})
    return change


def _reporter_label(actor) -> str:
    if getattr(actor, "pk", None):
        return actor.get_username()
    ctx = current_context()
    if ctx.api_key is not None:
        return f"api-key:{ctx.api_key.name}"
    return ctx.label or "system"


def _advance_change(change: Change, deployment: Deployment) -> None:
    """Move the change along with its deployment where its lifecycle allows; never refuse the report."""
    from .changes import change_finish, change_start

    target = {
        DeploymentStatus.SUCCEEDED: ChangeStatus.COMPLETED,
        DeploymentStatus.FAILED: ChangeStatus.FAILED,
        DeploymentStatus.ROLLED_BACK: ChangeStatus.ROLLED_BACK,
    }.get(deployment.status)
    startable = change.status == ChangeStatus.APPROVED or (
        change.status == ChangeStatus.SUBMITTED and change.kind == ChangeKind.EMERGENCY
    )
    if startable:
        change = change_start(change=change, at=deployment.started_at)
    if target and change.status == ChangeStatus.IN_PROGRESS:
        change_finish(change=change, outcome=target, at=deployment.finished_at or timezone.now())


@transaction.atomic
def deployment_record(
    *,
    service: Service,
    environment: str,
    version: str,
    status: str,
    started_at: datetime,
    finished_at: datetime | None = None,
    pipeline_url: str = "",
    change: Change | None = None,
    implementer=None,
    watch_minutes: int | None = None,
    actor=None,
) -> RecordedDeployment:
    """Record a deployment (the same service, environment, version and start again updates it).

    Attached to the named change, else to the open normal/emergency change naming this release,
    else to a new standard change created for it."""
    from ..selectors import active_freezes, approved_exception, change_for_release

    fields = {}
    if status not in DeploymentStatus.values:
        fields["status"] = [f"Choose from: {', '.join(DeploymentStatus.values)}."]
    if finished_at is not None and finished_at < started_at:
        fields["finished_at"] = ["Must not be before started_at."]
    if not (environment or "").strip():
        fields["environment"] = ["Required."]
    if not (version or "").strip():
        fields["version"] = ["Required."]
    if watch_minutes is not None and watch_minutes < 1:
        fields["watch_minutes"] = ["Must be at least 1."]
    if change is not None and not change.services.filter(pk=service.pk).exists():
        fields["change"] = [f"{change.reference} does not cover the service {service.slug}."]
    if fields:
        raise ValidationFailed("The deployment is not valid.", fields=fields)
    environment, version = environment.strip(), version.strip()

    existing = (
        Deployment.objects.select_for_update()
        .filter(service=service, environment=environment, version=version, started_at=started_at)
        .first()
    )
    if existing is not None:
        return RecordedDeployment(
            _update(existing, status=status, finished_at=finished_at, pipeline_url=pipeline_url), False
        )

    change = change or change_for_release(service=service, version=version)
    if change is None:
        change = change_create(
            title=f"Deploy {service.slug} {version} to {environment}"[:200],
            services=[service],
            kind=ChangeKind.STANDARD,
            risk=ChangeRisk.LOW,
            implementer=implementer,
            release_tag=version,
            pipeline_url=pipeline_url,
            planned_start=started_at,
        )
        from .changes import change_submit

        change_submit(change=change, now=started_at)
        change.refresh_from_db()
    in_freeze = any(
        approved_exception(window=window, service=service, at=started_at, change=change) is None
        for window, _, _ in active_freezes(service=service, environment=environment, at=started_at)
    )
    deployment = Deployment(
        change=change,
        service=service,
        environment=environment,
        version=version,
        status=status,
        started_at=started_at,
        finished_at=finished_at,
        pipeline_url=pipeline_url,
        reported_by=_reporter_label(actor),
        watch_minutes=watch_minutes or watch_minutes_default(),
        in_freeze=in_freeze,
    )
    try:
        with transaction.atomic():
            deployment.save()
    except IntegrityError:
        # A concurrent report of the same run won: update that one.
        existing = Deployment.objects.select_for_update().get(
            service=service, environment=environment, version=version, started_at=started_at
        )
        return RecordedDeployment(
            _update(existing, status=status, finished_at=finished_at, pipeline_url=pipeline_url), False
        )
    events.deployment(change, deployment, created=True)
    audit_record(action="deployment.record", obj=deployment, changes=diff({}, snapshot(deployment)))
    _advance_change(change, deployment)
    flag_suspects_for_deployment(deployment)
    return RecordedDeployment(deployment, True)


def _update(deployment: Deployment, *, status: str, finished_at, pipeline_url: str) -> Deployment:
    fields = ["status", "finished_at", "pipeline_url"]
    before = snapshot(deployment, fields)
    deployment.status = status
    deployment.finished_at = finished_at or deployment.finished_at
    deployment.pipeline_url = pipeline_url or deployment.pipeline_url
    changes = diff(before, snapshot(deployment, fields))
    if changes:
        deployment.save(update_fields=[*changes, "updated_at"])
        events.deployment(deployment.change, deployment, created=False)
        audit_record(action="deployment.update", obj=deployment, changes=changes)
        _advance_change(Change.objects.get(pk=deployment.change_id), deployment)
    return deployment


# --- suspects ----------------------------------------------------------------------------------


def _flag(deployment: Deployment, incident) -> bool:
    """Flag one deployment suspect for `incident`; notify its implementer. False if already flagged."""
    updated = Deployment.objects.filter(pk=deployment.pk, suspect_incident__isnull=True).update(
        suspect_incident=incident, suspect_flagged_at=timezone.now()
    )
    if not updated:
        return False
    deployment.suspect_incident = incident
    change = deployment.change
    events.suspect(change, deployment, incident)
    audit_record(
        action="deployment.flag_suspect",
        obj=deployment,
        changes={"suspect_incident": [None, incident.pk]},
    )
    notify_change(
        change,
        "change.suspect",
        key=f"suspect:{deployment.pk}:{incident.pk}",
        subject=f"{incident.severity} {incident.reference} followed your deployment {deployment.version} "
        f"of {deployment.service.slug}",
        body=f"{incident.reference} “{incident.title}” was declared within {deployment.watch_minutes} min of "
        f"{change.reference}.",
        recipients=[change.implementer],
        data={"incident": incident.reference, "deployment_id": deployment.pk, "version": deployment.version},
    )
    return True


def _in_watch(deployment: Deployment, declared_at: datetime) -> bool:
    return deployment.watch_from <= declared_at <= deployment.watch_from + timedelta(minutes=deployment.watch_minutes)


def flag_suspects_for_incident(incident) -> int:
    """Deployments of the incident's service whose watch window contains its declaration."""
    if incident.severity not in SEVERE_SEVERITIES:
        return 0
    candidates = (
        Deployment.objects.filter(
            service_id=incident.service_id,
            suspect_incident__isnull=True,
            started_at__lte=incident.declared_at,
            started_at__gte=incident.declared_at - timedelta(days=1),
        )
        .select_related("change", "change__implementer", "service")
        .order_by("-started_at")
    )
    return sum(_flag(d, incident) for d in candidates if _in_watch(d, incident.declared_at))


def flag_suspects_for_deployment(deployment: Deployment) -> int:
    """A deployment reported late: an incident may already be open in its watch window."""
    from incidents.models import Incident

    end = deployment.watch_from + timedelta(minutes=deployment.watch_minutes)
    incident = (
        Incident.objects.filter(
            service_id=deployment.service_id,
            severity__in=SEVERE_SEVERITIES,
            declared_at__gte=deployment.watch_from,
            declared_at__lte=end,
        )
        .order_by("declared_at", "id")
        .first()
    )
    return int(incident is not None and _flag(deployment, incident))


@transaction.atomic
def deployments_flag_suspects(*, now: datetime | None = None) -> int:
    """The scheduled job: every SEV1/SEV2 declared recently against its service's deployments."""
    from incidents.models import Incident

    now = now or timezone.now()
    incidents = Incident.objects.filter(
        severity__in=SEVERE_SEVERITIES, declared_at__gte=now - SUSPECT_LOOKBACK, declared_at__lte=now
    ).order_by("declared_at", "id")[:SUSPECT_BATCH]
    return sum(flag_suspects_for_incident(incident) for incident in incidents)


# --- the suspected-cause link ----------------------------------------------------------------------


@transaction.atomic
def suspected_cause_link(
    *, incident, change: Change, deployment: Deployment | None = None, actor=None
) -> SuspectedCause:
    """Record `change` (or one of its deployments) as the incident's suspected cause, on both timelines."""
    from incidents.services.change_links import incident_record_change_link

    if deployment is not None and deployment.change_id != change.pk:
        raise ValidationFailed("That deployment belongs to another change.", fields={"deployment": ["Wrong change."]})
    if not change.services.filter(pk=incident.service_id).exists():
        raise Conflict(
            f"{change.reference} does not touch {incident.service}, the service of {incident.reference}.",
            code="unrelated_change",
        )
    lookup = {"incident": incident, "change": change, "deployment": deployment}
    existing = SuspectedCause.objects.filter(**lookup).first()
    if existing is not None:
        return existing
    link = SuspectedCause.objects.create(
        **lookup, linked_at=timezone.now(), linked_by=actor if getattr(actor, "pk", None) else None
    )
    events.incident_linked(change, actor, incident=incident, deployment=deployment)
    title = change.title if deployment is None else f"{change.title} (deployment {deployment.version})"
    incident_record_change_link(
        incident=incident,
        reference=change.reference,
        title=title,
        url=admin_url(change),
        actor=actor,
        change_id=change.pk,
        deployment_id=deployment.pk if deployment else None,
    )
    audit_record(
        action="change.link_incident",
        obj=change,
        changes={
            "suspected_cause_of": [None, incident.reference],
            "deployment": [None, getattr(deployment, "pk", None)],
        },
    )
    return link
