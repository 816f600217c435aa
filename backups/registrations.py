"""Registrations in the kernel registries: dashboard panel, gauges, ops_status lines, the "backup
verification" scorecard dimension, the release gate's rpo_breach check, evidence and demo data."""

from datetime import UTC, datetime

from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from governance.choices import CheckStatus
from governance.registries import (
    GATE_SERVICE_ID,
    DashboardPanel,
    EvidenceExporter,
    GateCheck,
    GateReason,
    MetricFamily,
    ObjectPanel,
    ScorecardDimension,
    StatusSource,
    dashboard_panels,
    demo_seeders,
    evidence_exporters,
    gate_checks,
    metrics,
    object_panels,
    scorecard_dimensions,
    status_sources,
)

from .selectors import open_breaches, overdue_drills, recent_drills, targets_with_freshness


def render_panel(request) -> str:
    if not request.user.has_perm("backups.view_backuptarget"):
        return ""
    from .admin import freshness_text

    now = timezone.now()
    rows = targets_with_freshness(now=now)
    if not rows:
        return ""
    targets = []
    for row in rows:
        text, breached = freshness_text(row["target"], now)
        targets.append({**row, "freshness": text, "breached": breached})
    context = {
        "targets": sorted(targets, key=lambda r: (not r["breached"], not r["drill_overdue"], r["target"].slug)),
        "breaches": sum(1 for r in targets if r["breached"]),
        "drills_overdue": sum(1 for r in targets if r["drill_overdue"]),
        "recent": list(recent_drills(5)),
        "targets_url": reverse("admin:backups_backuptarget_changelist"),
        "drills_url": reverse("admin:backups_restoredrill_changelist"),
    }
    return render_to_string("backups/panels/backups.html", context, request=request)


# --- Prometheus ----------------------------------------------------------------------------


def rpo_breach_samples():
    yield {}, open_breaches().count()


def overdue_drill_samples():
    rows = targets_with_freshness()
    yield {}, sum(1 for row in rows if row["drill_overdue"])


def last_success_age_samples():
    now = timezone.now()
    for row in targets_with_freshness(now=now):
        if row["last_success_at"] is not None:
            yield {"target": row["target"].slug}, (now - row["last_success_at"]).total_seconds()


# --- ops_status ----------------------------------------------------------------------------


def status_lines():
    from governance.health import CheckResult

    breaches = list(open_breaches()[:20])
    if breaches:
        names = ", ".join(b.target.slug for b in breaches)
        yield CheckResult("backups:rpo", CheckStatus.CRITICAL, f"{len(breaches)} target(s) past their RPO: {names}")
    else:
        yield CheckResult("backups:rpo", CheckStatus.OK, "every backup target within its RPO")
    rows = targets_with_freshness()
    late = [r["target"].slug for r in rows if r["drill_overdue"]]
    flagged = overdue_drills().count()
    if late or flagged:
        yield CheckResult(
            "backups:drills",
            CheckStatus.WARNING,
            f"{len(late)} target(s) due a restore drill: {', '.join(late[:20])}",
            {"targets_due": len(late), "overdue_drills": flagged},
        )
    else:
        yield CheckResult("backups:drills", CheckStatus.OK, "every target drilled within its interval")


# --- scorecard -----------------------------------------------------------------------------


def backup_verification_score() -> dict:
    """Half: share of targets within RPO; half: share with a passed drill within their interval."""
    rows = targets_with_freshness()
    if not rows:
        return {
            "score": 0,
            "facts": ["no backup targets declared"],
            "next_steps": ["Declare each protected system as a backup target with its RPO and RTO."],
        }
    fresh = [r for r in rows if not r["rpo_breached"]]
    drilled = [r for r in rows if r["drilled_within_interval"]]
    score = round(50 * len(fresh) / len(rows) + 50 * len(drilled) / len(rows))
    facts = [
        f"{len(fresh)}/{len(rows)} target(s) within their RPO",
        f"{len(drilled)}/{len(rows)} target(s) with a passed restore drill within their interval",
    ]
    steps = []
    stale = [r["target"].slug for r in rows if r["rpo_breached"]]
    if stale:
        steps.append(f"Get a fresh backup of {', '.join(stale[:5])} and wire its job to report runs.")
    undrilled = [r["target"] for r in rows if not r["drilled_within_interval"]]
    if undrilled:
        automatable = [t.slug for t in undrilled if t.kind in ("postgresql", "sqlite") and not t.automated_drills]
        steps.append(f"Run a restore drill for {', '.join(t.slug for t in undrilled[:5])}.")
        if automatable:
            steps.append(f"Turn on automated drills for {', '.join(automatable[:5])}.")
    if not any(r["target"].restore_runbook_id for r in rows):
        steps.append("Link each target to its restore runbook so manual drills follow it.")
    return {"score": score, "facts": facts, "next_steps": steps}


# --- release gate --------------------------------------------------------------------------


def rpo_gate_facts(at) -> tuple[str, list]:
    """The gate's read: open RPO breaches of the asked service's enabled targets (GateCheck.facts)."""
    from .models import BackupTarget, RpoBreach

    sql = (
        "SELECT t.slug AS target, t.name, t.rpo_minutes, t.last_success_at, b.detected_at "
        f"FROM {RpoBreach._meta.db_table} b JOIN {BackupTarget._meta.db_table} t ON t.id = b.target_id "
        f"WHERE b.cleared_at IS NULL AND t.enabled AND t.service_id = {GATE_SERVICE_ID} "
        "ORDER BY b.detected_at, b.id"
    )
    return sql, []


def rpo_gate_check(service, environment, version, now, rows=None) -> list[GateReason]:
    """Refuse a release of a service whose backups are past their RPO: no safe way back if it goes wrong."""
    if rows is None:
        rows = [
            {
                "target": breach.target.slug,
                "name": breach.target.name,
                "rpo_minutes": breach.target.rpo_minutes,
                "last_success_at": breach.target.last_success_at,
                "detected_at": breach.detected_at,
            }
            for breach in open_breaches().filter(target__service=service, target__enabled=True)
        ]
    reasons = []
    for row in rows:
        detected_at, last_success_at = _datetime(row["detected_at"]), _datetime(row["last_success_at"])
        reasons.append(
            GateReason(
                "rpo_breach",
                f"Backups of {row['name']} are past their RPO of {row['rpo_minutes']} min "
                f"(since {detected_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC).",
                {
                    "target": row["target"],
                    "rpo_minutes": row["rpo_minutes"],
                    "last_success_at": last_success_at.isoformat() if last_success_at else None,
                    "breached_since": detected_at.isoformat(),
                },
            )
        )
    return reasons


def _datetime(value):
    """A timestamp from the ORM, or as the gate's JSON rows give it (ISO 8601)."""
    return datetime.fromisoformat(value) if isinstance(value, str) else value


# --- evidence ------------------------------------------------------------------------------

# SOC 2 A1.2: backups and recovery infrastructure; A1.3: recovery is tested. ISO 27001 A.8.13: information backup.
RUN_CONTROLS = ("SOC 2 A1.2", "ISO 27001 A.8.13")
DRILL_CONTROLS = ("SOC 2 A1.2", "SOC 2 A1.3", "ISO 27001 A.8.13")


def export_runs(start, end):
    """Evidence: every backup run started in the period, as its tool reported it."""
    from .models import BackupRun

    columns = [
        "id",
        "target",
        "external_id",
        "kind",
        "status",
        "tool",
        "source",
        "started_at",
        "finished_at",
        "recovery_point_at",
        "recovery_point_detail",
        "size_bytes",
        "sha256",
        "location",
        "error",
    ]
    runs = (
        BackupRun.objects.filter(started_at__gte=start, started_at__lt=end)
        .select_related("target")
        .order_by("started_at", "pk")
    )
    rows = (
        [
            r.pk,
            r.target.slug,
            r.external_id,
            r.kind,
            r.status,
            r.tool,
            r.source,
            r.started_at.isoformat(),
            r.finished_at.isoformat() if r.finished_at else "",
            r.recovery_point_at.isoformat() if r.recovery_point_at else "",
            r.recovery_point_detail,
            r.size_bytes if r.size_bytes is not None else "",
            r.sha256,
            r.location,
            r.error,
        ]
        for r in runs.iterator(chunk_size=1000)
    )
    return columns, rows


def export_drills(start, end):
    from .models import RestoreDrill

    columns = [
        "id",
        "target",
        "mode",
        "status",
        "backup_run",
        "runbook_version",
        "started_at",
        "restored_at",
        "verified_at",
        "measured_rto_seconds",
        "rto_target_minutes",
        "rto_met",
        "achieved_rpo_seconds",
        "rpo_target_minutes",
        "rpo_met",
        "failure_reason",
        "signed_off_by",
        "signed_off_at",
    ]
    drills = (
        RestoreDrill.objects.filter(started_at__gte=start, started_at__lt=end)
        .select_related("target", "signed_off_by")
        .order_by("started_at", "pk")
    )
    rows = (
        [
            d.pk,
            d.target.slug,
            d.mode,
            d.status,
            d.backup_run_id or "",
            d.runbook_version_id or "",
            d.started_at.isoformat() if d.started_at else "",
            d.restored_at.isoformat() if d.restored_at else "",
            d.verified_at.isoformat() if d.verified_at else "",
            d.measured_rto_seconds if d.measured_rto_seconds is not None else "",
            d.rto_target_minutes or "",
            d.rto_met,
            d.achieved_rpo_seconds if d.achieved_rpo_seconds is not None else "",
            d.rpo_target_minutes or "",
            d.rpo_met,
            d.failure_reason,
            d.signed_off_by.get_username() if d.signed_off_by else "",
            d.signed_off_at.isoformat() if d.signed_off_at else "",
        ]
        for d in drills.iterator(chunk_size=1000)
    )
    return columns, rows


def seed(stdout) -> None:
    from .demo import seed_backups

    seed_backups(stdout)


dashboard_panels.register(
    "backups",
    DashboardPanel("backups", "Backups", render_panel, order=30, permission="backups.view_backuptarget", shared=True),
)
metrics.register(
    "vigil_backup_rpo_breaches",
    MetricFamily("vigil_backup_rpo_breaches", "Backup targets past their RPO (open breaches).", rpo_breach_samples),
)
metrics.register(
    "vigil_backup_drills_overdue",
    MetricFamily(
        "vigil_backup_drills_overdue", "Backup targets whose restore drill is due or overdue.", overdue_drill_samples
    ),
)
metrics.register(
    "vigil_backup_last_success_age_seconds",
    MetricFamily(
        "vigil_backup_last_success_age_seconds",
        "Age of each target's newest successful backup.",
        last_success_age_samples,
        labels=("target",),
    ),
)
status_sources.register("backups", StatusSource("backups", status_lines))
scorecard_dimensions.register(
    "backups", ScorecardDimension("backups", "Backup verification", backup_verification_score)
)
gate_checks.register("rpo_breach", GateCheck("rpo_breach", rpo_gate_check, facts=rpo_gate_facts))
evidence_exporters.register("backup_runs", EvidenceExporter("backup_runs", export_runs, controls=RUN_CONTROLS))
evidence_exporters.register(
    "backup_restore_drills", EvidenceExporter("backup_restore_drills", export_drills, controls=DRILL_CONTROLS)
)
demo_seeders.register("backups", seed)


# --- panels on other apps' pages ----------------------------------------------------------


def render_incident_panel(request, incident) -> str:
    """On an incident opened by the RPO monitor: the target, its freshness and the breach."""
    if not request.user.has_perm("backups.view_backuptarget"):
        return ""
    from django.utils.html import format_html, format_html_join

    from .admin import freshness_text
    from .models import RpoBreach

    breaches = list(RpoBreach.objects.filter(incident=incident).select_related("target").order_by("-detected_at"))
    if not breaches:
        return ""
    return format_html_join(
        "",
        '<p><a href="{}">{}</a>: {} — breach detected {} UTC{}.</p>',
        (
            (
                reverse("admin:backups_backuptarget_change", args=[b.target_id]),
                b.target.name,
                freshness_text(b.target)[0],
                b.detected_at.strftime("%Y-%m-%d %H:%M"),
                format_html(", cleared {} UTC", b.cleared_at.strftime("%Y-%m-%d %H:%M")) if b.cleared_at else "",
            )
            for b in breaches
        ),
    )


object_panels.register(
    "backups_incident_rpo",
    ObjectPanel("backups_incident_rpo", "incidents.incident", "Backup RPO breach", render_incident_panel, order=60),
)
