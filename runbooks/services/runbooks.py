"""Runbooks and their versions: create, edit (a new draft), publish (approved), review, retire."""

import zoneinfo
from datetime import datetime

from croniter import croniter
from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from governance.audit import audit_record, audit_update, diff, snapshot
from governance.choices import Severity
from governance.errors import Conflict, ValidationFailed
from governance.models import Service, Team

from ..choices import (
    DEFAULT_PROCEDURE_DEADLINE_HOURS,
    DEFAULT_REVIEW_INTERVAL_DAYS,
    Cadence,
    ReviewOutcome,
    RunbookStatus,
)
from ..markdown import content_sha256, normalise, parse_steps
from ..models import Runbook, RunbookReview, RunbookVersion


def actor_label(actor, default: str = "system") -> str:
    if actor is not None and getattr(actor, "pk", None):
        return actor.get_username()
    from governance.audit import current_context

    ctx = current_context()
    if ctx.api_key is not None:
        return f"api-key:{ctx.api_key.name}"
    return default


def _user(actor):
    return actor if actor is not None and getattr(actor, "pk", None) else None


# --- validation -------------------------------------------------------------------------------


def validate_cadence(cadence: str, time_zone: str) -> tuple[str, str]:
    cadence = (cadence or "").strip()
    time_zone = (time_zone or "UTC").strip()
    fields = {}
    if cadence and cadence not in Cadence.values and not croniter.is_valid(cadence):
        fields["cadence"] = [f"Use {', '.join(Cadence.values)} or a cron expression (e.g. '0 9 * * 1')."]
    try:
        zoneinfo.ZoneInfo(time_zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):  # OSError: "Europe" is a folder of zones
        fields["cadence_timezone"] = [f"Unknown time zone {time_zone!r}."]
    if fields:
        raise ValidationFailed("The schedule is not valid.", fields=fields)
    return cadence, time_zone


def _validate_lists(severities, alert_names) -> tuple[list[str], list[str]]:
    fields = {}
    severities = list(severities or [])
    unknown = [s for s in severities if s not in Severity.values]
    if unknown:
        fields["severities"] = [f"Unknown severity {', '.join(map(str, unknown))}; use {', '.join(Severity.values)}."]
    alert_names = list(alert_names or [])
    if any(not isinstance(name, str) or not name.strip() for name in alert_names):
        fields["alert_names"] = ["Alert names are non-empty strings."]
    if fields:
        raise ValidationFailed("The runbook is not valid.", fields=fields)
    return sorted(set(severities)), sorted({name.strip() for name in alert_names})


def validate_body(body: str) -> tuple[str, list[dict]]:
    body = normalise(body or "")
    if not body.strip():
        raise ValidationFailed("A runbook needs a body.", fields={"body": ["Required."]})
    steps = parse_steps(body)
    if not steps:
        raise ValidationFailed(
            "A runbook needs at least one '## Step' section.", fields={"body": ["Add a '## Step 1: …' section."]}
        )
    return body, [step.as_dict() for step in steps]


# --- runbooks ---------------------------------------------------------------------------------


@transaction.atomic
def runbook_create(
    *,
    slug: str,
    title: str,
    service: Service | None,
    body: str,
    change_summary: str = "First version",
    severities=(),
    alert_names=(),
    owner_team: Team | None = None,
    review_interval_days: int = DEFAULT_REVIEW_INTERVAL_DAYS,
    cadence: str = "",
    cadence_timezone: str = "UTC",
    procedure_deadline_hours: int = DEFAULT_PROCEDURE_DEADLINE_HOURS,
    procedure_assignee=None,
    assign_on_call: bool = False,
    actor=None,
    source: str = "admin",
) -> Runbook:
    """A new runbook with its first (draft) version."""
    severities, alert_names = _validate_lists(severities, alert_names)
    cadence, cadence_timezone = validate_cadence(cadence, cadence_timezone)
    body, steps = validate_body(body)
    if Runbook.objects.filter(slug=slug).exists():
        raise ValidationFailed(f"A runbook with slug {slug!r} exists.", fields={"slug": ["Already taken."]})
    runbook = Runbook(
        slug=slug,
        title=(title or "").strip(),
        service=service,
        severities=severities,
        alert_names=alert_names,
        owner_team=owner_team or (service.owner_team if service else None),
        review_interval_days=review_interval_days,
        cadence=cadence,
        cadence_timezone=cadence_timezone,
        cadence_since=timezone.now() if cadence else None,
        procedure_deadline_hours=procedure_deadline_hours,
        procedure_assignee=procedure_assignee,
        assign_on_call=assign_on_call,
    )
    runbook.full_clean(exclude=["current_version", "owner_team", "procedure_assignee", "service"])
    runbook.save()
    audit_record(action="runbook.create", obj=runbook, changes=diff({}, snapshot(runbook)))
    _new_version(runbook, body=body, steps=steps, change_summary=change_summary, actor=actor, source=source)
    return runbook


RUNBOOK_EDITABLE = (
    "title",
    "service",
    "severities",
    "alert_names",
    "owner_team",
    "review_interval_days",
    "cadence",
    "cadence_timezone",
    "procedure_deadline_hours",
    "procedure_assignee",
    "assign_on_call",
)


@transaction.atomic
def runbook_update(*, runbook: Runbook, actor=None, **fields) -> dict:
    """What a runbook applies to and its schedule (its content changes only through versions)."""
    runbook = Runbook.objects.select_for_update().get(pk=runbook.pk)
    if "severities" in fields or "alert_names" in fields:
        severities, alert_names = _validate_lists(
            fields.get("severities", runbook.severities), fields.get("alert_names", runbook.alert_names)
        )
        fields.update(severities=severities, alert_names=alert_names)
    if "cadence" in fields or "cadence_timezone" in fields:
        cadence, tz = validate_cadence(
            fields.get("cadence", runbook.cadence), fields.get("cadence_timezone", runbook.cadence_timezone)
        )
        fields.update(cadence=cadence, cadence_timezone=tz)
    schedule_before = (runbook.cadence, runbook.cadence_timezone)
    changes = audit_update(
        runbook,
        action="runbook.update",
        editable=RUNBOOK_EDITABLE,
        fields=fields,
        clean_exclude=["current_version", "owner_team", "procedure_assignee", "service"],
    )
    if (runbook.cadence, runbook.cadence_timezone) != schedule_before:
        # A new schedule starts now: slots before it were never owed.
        runbook.cadence_since = timezone.now() if runbook.cadence else None
        runbook.save(update_fields=["cadence_since", "updated_at"])
    return changes


def _next_number(runbook: Runbook) -> int:
    return (runbook.versions.aggregate(n=Max("number"))["n"] or 0) + 1


def _new_version(runbook, *, body, steps, change_summary, actor, source) -> RunbookVersion:
    version = RunbookVersion.objects.create(
        runbook=runbook,
        number=_next_number(runbook),
        body=body,
        steps=steps,
        change_summary=(change_summary or "")[:300],
        content_sha256=content_sha256(body),
        source=source[:300],
        created_at=timezone.now(),
        author=_user(actor),
        author_label=actor_label(actor),
    )
    audit_record(
        action="runbook.new_version",
        obj=version,
        changes={"number": [None, version.number], "content_sha256": [None, version.content_sha256]},
    )
    return version


def latest_version(runbook: Runbook) -> RunbookVersion | None:
    return runbook.versions.order_by("-number").first()


@transaction.atomic
def runbook_edit(
    *, runbook: Runbook, body: str, change_summary: str = "", actor=None, source: str = "admin"
) -> RunbookVersion:
    """New content. A published runbook gets a new draft version (the published one stays as it
    was); an existing draft is revised in place; the same content again changes nothing."""
    runbook = Runbook.objects.select_for_update().get(pk=runbook.pk)
    body, steps = validate_body(body)
    latest = latest_version(runbook)
    if latest is not None and latest.content_sha256 == content_sha256(body):
        return latest
    if latest is not None and not latest.is_published:
        before = snapshot(latest, ["body", "content_sha256", "change_summary"])
        latest.body, latest.steps = body, steps
        latest.content_sha256 = content_sha256(body)
        latest.change_summary = (change_summary or latest.change_summary)[:300]
        latest.author, latest.author_label = _user(actor), actor_label(actor)
        latest.source = source[:300]
        latest.save()
        audit_record(action="runbook.revise_draft", obj=latest, changes=diff(before, snapshot(latest, list(before))))
        return latest
    return _new_version(runbook, body=body, steps=steps, change_summary=change_summary, actor=actor, source=source)


def self_approval_allowed() -> bool:
    return bool(getattr(settings, "RUNBOOK_SELF_APPROVAL", False))


@transaction.atomic
def version_publish(*, version: RunbookVersion, actor=None, approval_label: str = "") -> RunbookVersion:
    """Publish a draft: the approver needs `publish_runbook` and may not be its author (unless
    RUNBOOK_SELF_APPROVAL). Without a person (`runbooks_import`), `approval_label` names the source."""
    version = RunbookVersion.objects.select_for_update().select_related("runbook").get(pk=version.pk)
    runbook = Runbook.objects.select_for_update().get(pk=version.runbook_id)
    if version.is_published:
        raise Conflict(f"{version} is already published; edit the runbook to make a new version.", code="published")
    newer = runbook.versions.filter(number__gt=version.number).exists()
    if newer:
        raise Conflict(f"{version} is not the latest version; publish the latest.", code="not_latest")
    user = _user(actor)
    if user is not None:
        if not user.has_perm("runbooks.publish_runbook"):
            raise Conflict("Publishing a runbook needs the publish_runbook permission.", code="forbidden", status=403)
        if version.author_id == user.pk and not self_approval_allowed():
            raise Conflict("The author cannot approve their own version; ask another publisher.", code="self_approval")
        label = user.get_username()
    else:
        label = approval_label or actor_label(actor)
    now = timezone.now()
    version.published_at = now
    version.approved_by = user
    version.approved_by_label = label[:200]
    version.save(update_fields=["published_at", "approved_by", "approved_by_label"])
    before = snapshot(runbook, ["status", "current_version", "first_published_at"])
    runbook.current_version = version
    runbook.status = RunbookStatus.PUBLISHED
    runbook.first_published_at = runbook.first_published_at or now
    runbook.save(update_fields=["current_version", "status", "first_published_at", "updated_at"])
    audit_record(
        action="runbook.publish",
        obj=version,
        changes={"published_at": [None, now], "approved_by": [None, label]},
    )
    audit_record(action="runbook.update", obj=runbook, changes=diff(before, snapshot(runbook, list(before))))
    return version


@transaction.atomic
def runbook_retire(*, runbook: Runbook, actor=None, reason: str = "") -> Runbook:
    runbook = Runbook.objects.select_for_update().get(pk=runbook.pk)
    if runbook.status == RunbookStatus.RETIRED:
        return runbook
    before = runbook.status
    runbook.status = RunbookStatus.RETIRED
    runbook.save(update_fields=["status", "updated_at"])
    audit_record(
        action="runbook.retire", obj=runbook, changes={"status": [before, runbook.status], "reason": [None, reason]}
    )
    return runbook


@transaction.atomic
def runbook_review(
    *, runbook: Runbook, outcome: str, notes: str = "", actor=None, reviewed_at: datetime | None = None
) -> RunbookReview:
    """An explicit review: the review clock restarts from it (never from a reminder)."""
    if outcome not in ReviewOutcome.values:
        raise ValidationFailed(
            f"Unknown outcome {outcome!r}.", fields={"outcome": [f"Choose from: {', '.join(ReviewOutcome.values)}."]}
        )
    runbook = Runbook.objects.select_for_update().get(pk=runbook.pk)
    if runbook.status == RunbookStatus.RETIRED:
        raise Conflict(f"{runbook} is retired; there is nothing to review.", code="retired")
    if runbook.current_version_id is None:
        raise Conflict(f"{runbook} has no published version to review yet.", code="not_published")
    user = _user(actor)
    if user is not None and not user.has_perm("runbooks.review_runbook"):
        raise Conflict("Reviewing a runbook needs the review_runbook permission.", code="forbidden", status=403)
    now = reviewed_at or timezone.now()
    review = RunbookReview.objects.create(
        runbook=runbook,
        version_id=runbook.current_version_id,
        reviewer=user,
        reviewer_label=actor_label(actor),
        reviewed_at=now,
        outcome=outcome,
        notes=notes or "",
    )
    before = runbook.last_reviewed_at
    runbook.last_reviewed_at = now
    runbook.save(update_fields=["last_reviewed_at", "updated_at"])
    audit_record(
        action="runbook.review", obj=runbook, changes={"last_reviewed_at": [before, now], "outcome": [None, outcome]}
    )
    if outcome == ReviewOutcome.RETIRE:
        runbook_retire(runbook=runbook, actor=actor, reason=notes or "retired at review")
    return review
