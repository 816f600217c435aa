"""Evaluation: SLI, error budget and burn rates; episodes, budget-policy notices and their ends.

Routine evaluations are written to the status history (SLOStatus), not the audit trail (one a minute
per SLO); every state change they cause — an episode opened or ended, a warning or exhaustion set or
cleared, an outage of the source begun or over, a deployment flagged — is audited.
"""

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.db import transaction
from django.utils import timezone

from governance.audit import audit_record

from ..choices import BURN_RULES, AlertLevel, BudgetStatus, SourceKind
from ..models import SLO, BurnEpisode, SLOStatus
from ..notifications import notify_slo
from ..sources import SourceError, counts_for, pushed_counts_many

logger = logging.getLogger(__name__)
# Counts are integers but the ratios are floats: a rate exactly at a threshold must meet it.
RATE_TOLERANCE = 1e-9


@dataclass
class Evaluation:
    slo: SLO
    evaluated_at: datetime
    succeeded: bool
    error: str = ""
    good: float | None = None
    total: float | None = None
    sli: float | None = None
    error_budget_remaining: float | None = None
    burn_rates: dict = field(default_factory=dict)
    budget_status: str = BudgetStatus.UNKNOWN
    alert: str = ""
    levels: set = field(default_factory=set)

    def line(self) -> str:
        if not self.succeeded:
            return f"{self.slo.slug}: unknown ({self.error})"
        if self.sli is None:
            return f"{self.slo.slug}: unknown (no data in the window)"
        rates = " ".join(f"{k}={_fmt(v)}" for k, v in self.burn_rates.items())
        return (
            f"{self.slo.slug}: {self.budget_status} sli={self.sli:.6f} budget_remaining="
            f"{self.error_budget_remaining:.4f} alert={self.alert or '-'} burn {rates}"
        )


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.2f}"


def compute(slo: SLO, counts: dict, now: datetime) -> Evaluation:
    budget = slo.error_budget
    rates = {}
    for name, pair in counts.items():
        if name == "slo":
            continue
        rates[name] = None if pair is None else ((pair[1] - pair[0]) / pair[1]) / budget
    result = Evaluation(slo=slo, evaluated_at=now, succeeded=True, burn_rates=rates)
    window = counts.get("slo")
    if window is not None:
        result.good, result.total = window
        result.sli = window[0] / window[1]
        result.error_budget_remaining = 1.0 - (1.0 - result.sli) / budget
        consumed = 1.0 - result.error_budget_remaining
        if result.error_budget_remaining <= 0:
            result.budget_status = BudgetStatus.EXHAUSTED
        elif consumed >= float(slo.warning_threshold):
            result.budget_status = BudgetStatus.WARNING
        else:
            result.budget_status = BudgetStatus.OK
    for level, long, short, factor in BURN_RULES:
        a, b = rates.get(long), rates.get(short)
        threshold = factor * (1 - RATE_TOLERANCE)
        if a is not None and b is not None and a >= threshold and b >= threshold:
            result.levels.add(level)
    result.alert = AlertLevel.PAGE if AlertLevel.PAGE in result.levels else AlertLevel.TICKET if result.levels else ""
    return result


def slo_evaluate(*, slo: SLO | int, now: datetime | None = None) -> Evaluation:
    """Ask the source (outside any transaction: it may take a timeout), then record the answer."""
    now = now or timezone.now()
    slo = SLO.objects.select_related("service", "prometheus_source", "owner_team").get(pk=getattr(slo, "pk", slo))
    return record_evaluations([_ask(slo, lambda: counts_for(slo, now), now)])[0]


def _ask(slo: SLO, read, now: datetime) -> Evaluation:
    try:
        return compute(slo, read(), now)
    except SourceError as exc:
        return Evaluation(slo=slo, evaluated_at=now, succeeded=False, error=str(exc))


def slos_evaluate(*, slos: list[SLO], now: datetime | None = None, batch: int = 200) -> list[Evaluation]:
    """Evaluate many SLOs: pushed ones read in grouped queries and recorded in batches (a constant number
    of queries per batch while nothing changes state), Prometheus ones asked one by one."""
    now = now or timezone.now()
    results = []
    pushed = [s for s in slos if s.source_kind == SourceKind.PUSHED]
    for i in range(0, len(pushed), batch):
        chunk = pushed[i : i + batch]
        counts = pushed_counts_many(chunk, now)
        results.extend(record_evaluations([_ask(s, lambda s=s, counts=counts: counts[s.pk], now) for s in chunk]))
    for slo in slos:
        if slo.source_kind != SourceKind.PUSHED:
            results.extend(record_evaluations([_ask(slo, lambda slo=slo: counts_for(slo, now), now)]))
    return results


def record_evaluation(result: Evaluation) -> Evaluation:
    return record_evaluations([result])[0]


SLO_STATE_FIELDS = [
    "evaluated_at",
    "budget_status",
    "alert",
    "last_error",
    "failing_since",
    "sli",
    "error_budget_remaining",
    "burn_rates",
    "warning_since",
    "exhausted_since",
]


@transaction.atomic
def record_evaluations(results: list[Evaluation]) -> list[Evaluation]:
    """Status history rows in one insert, the SLOs in one update; state changes (episodes, notices,
    outages) one by one as they happen."""
    ids = [r.slo.pk for r in results]
    slos = {
        s.pk: s
        for s in SLO.objects.select_for_update(of=("self",))
        .select_related("service", "owner_team")
        .filter(pk__in=ids)
        .order_by("pk")
    }
    open_episodes: dict[int, dict] = {pk: {} for pk in ids}
    for episode in BurnEpisode.objects.select_for_update().filter(slo_id__in=ids, ended_at__isnull=True):
        open_episodes[episode.slo_id][episode.level] = episode
    statuses = []
    for result in results:
        slo = result.slo = slos[result.slo.pk]
        statuses.append(
            SLOStatus(
                slo=slo,
                evaluated_at=result.evaluated_at,
                succeeded=result.succeeded,
                error=result.error[:2000],
                good=result.good,
                total=result.total,
                sli=result.sli,
                error_budget_remaining=result.error_budget_remaining,
                burn_rates=result.burn_rates,
                budget_status=result.budget_status,
                alert=result.alert,
            )
        )
        _apply(slo, result, open_episodes[slo.pk])
    SLOStatus.objects.bulk_create(statuses)
    SLO.objects.bulk_update(list(slos.values()), [*SLO_STATE_FIELDS, "updated_at"])
    return results


def _apply(slo: SLO, result: Evaluation, open_episodes: dict) -> None:
    now = result.evaluated_at
    slo.evaluated_at = now
    slo.updated_at = timezone.now()
    slo.budget_status = result.budget_status
    if not result.succeeded:
        # Unknown is never ok: no figures and no alert verdict (the history keeps the last known ones);
        # episodes and the budget policy stay as they were until the source answers again.
        slo.alert = ""
        slo.sli = slo.error_budget_remaining = None
        slo.burn_rates = {}
        slo.last_error = result.error[:2000]
        if slo.failing_since is None:
            slo.failing_since = now
            audit_record(action="slo.evaluation_failed", obj=slo, changes={"last_error": [None, slo.last_error]})
            notify_slo(
                slo,
                "slo.evaluation_failed",
                key=f"failed:{now.astimezone(UTC).isoformat()}",
                subject=f"SLO {slo.slug} cannot be evaluated: {result.error}"[:250],
                body=f"{slo.name} is unknown until its source answers again. {result.error}",
                data={"error": result.error},
            )
        return
    if slo.failing_since is not None:
        audit_record(action="slo.evaluation_recovered", obj=slo, changes={"failing_since": [slo.failing_since, None]})
        slo.failing_since = None
    slo.last_error = ""
    slo.sli = result.sli
    slo.error_budget_remaining = result.error_budget_remaining
    slo.burn_rates = result.burn_rates
    slo.alert = result.alert
    _budget_policy(slo, result, now)
    _episodes(slo, result, now, open_episodes)


def _budget_policy(slo: SLO, result: Evaluation, now: datetime) -> None:
    remaining = result.error_budget_remaining
    if remaining is None:
        return
    consumed = 1.0 - remaining
    pct = f"{consumed * 100:.1f} %"
    if consumed >= float(slo.warning_threshold) and slo.warning_since is None:
        slo.warning_since = now
        audit_record(action="slo.budget_warning", obj=slo, changes={"budget_consumed": [None, consumed]})
        notify_slo(
            slo,
            "slo.budget_warning",
            key=f"warning:{now.astimezone(UTC).isoformat()}",
            subject=f"SLO {slo.slug}: {pct} of the error budget consumed",
            body=f"{slo.name} passed the policy's warning threshold of {float(slo.warning_threshold) * 100:.0f} %.",
            data={"budget_consumed": consumed},
        )
    elif consumed < float(slo.warning_threshold) and slo.warning_since is not None:
        audit_record(action="slo.budget_warning_cleared", obj=slo, changes={"warning_since": [slo.warning_since, None]})
        slo.warning_since = None
    if remaining <= 0 and slo.exhausted_since is None:
        slo.exhausted_since = now
        audit_record(action="slo.budget_exhausted", obj=slo, changes={"error_budget_remaining": [None, remaining]})
        notify_slo(
            slo,
            "slo.budget_exhausted",
            key=f"exhausted:{now.astimezone(UTC).isoformat()}",
            subject=f"SLO {slo.slug}: error budget exhausted ({pct} consumed)",
            body=f"The release gate now refuses normal and standard deployments of {slo.service.slug} "
            "unless a Change Manager approves an exception.",
            severity="SEV2",
            data={"budget_consumed": consumed},
        )
    elif remaining > 0 and slo.exhausted_since is not None:
        audit_record(action="slo.budget_recovered", obj=slo, changes={"exhausted_since": [slo.exhausted_since, None]})
        slo.exhausted_since = None


def latest_deployment(slo: SLO) -> dict | None:
    from changes.models import Deployment

    deployment = (
        Deployment.objects.filter(service_id=slo.service_id).select_related("change").order_by("-started_at", "-id")
    ).first()
    if deployment is None:
        return None
    return {
        "id": deployment.pk,
        "version": deployment.version,
        "environment": deployment.environment,
        "status": deployment.status,
        "started_at": deployment.started_at.astimezone(UTC).isoformat(),
        "finished_at": deployment.finished_at.astimezone(UTC).isoformat() if deployment.finished_at else None,
        "change": deployment.change.reference,
        "pipeline_url": deployment.pipeline_url,
    }


def _episodes(slo: SLO, result: Evaluation, now: datetime, open_episodes: dict) -> None:
    for level in (AlertLevel.PAGE, AlertLevel.TICKET):
        episode = open_episodes.get(level)
        if level in result.levels:
            if episode is None:
                _open_episode(slo, level, result, now)
            else:
                peak = dict(episode.peak_burn_rates)
                for name, rate in result.burn_rates.items():
                    if rate is not None and rate > (peak.get(name) or 0):
                        peak[name] = rate
                if peak != episode.peak_burn_rates:
                    episode.peak_burn_rates = peak
                    episode.save(update_fields=["peak_burn_rates"])
        elif episode is not None:
            episode.ended_at = now
            episode.save(update_fields=["ended_at"])
            audit_record(action="slo.burn_episode_end", obj=episode, changes={"ended_at": [None, now]})


def _open_episode(slo: SLO, level: str, result: Evaluation, now: datetime) -> BurnEpisode:
    episode = BurnEpisode.objects.create(
        slo=slo, level=level, started_at=now, peak_burn_rates={k: v for k, v in result.burn_rates.items() if v}
    )
    audit_record(action="slo.burn_episode_start", obj=episode, changes={"level": [None, level]})
    if level == AlertLevel.PAGE:
        episode.suspect_deployment = _flag_suspect(slo, episode)
        if slo.incident_severity:
            episode.incident = _incident_for(slo, episode, result)
        episode.save(update_fields=["suspect_deployment", "incident"])
    rates = ", ".join(f"{k} {v:.1f}×" for k, v in result.burn_rates.items() if v is not None)
    notify_slo(
        slo,
        "slo.burn_rate",
        key=f"burn:{episode.pk}",
        subject=f"SLO {slo.slug} is burning its error budget fast ({level})"
        if level == AlertLevel.PAGE
        else f"SLO {slo.slug} is burning its error budget ({level})",
        body=f"Burn rates: {rates}.",
        severity=(slo.incident_severity or "SEV2") if level == AlertLevel.PAGE else "SEV3",
        data={
            "alert": level,
            "episode_id": episode.pk,
            "started_at": now.astimezone(UTC).isoformat(),
            "latest_deployment": latest_deployment(slo),
            "suspect_deployment": episode.suspect_deployment_id,
            "incident": episode.incident.reference if episode.incident else None,
        },
    )
    return episode


def _flag_suspect(slo: SLO, episode: BurnEpisode):
    """A fast burn starting inside a deployment's watch window flags that deployment (the newest one)."""
    from datetime import timedelta

    from changes import events as change_events
    from changes.choices import ChangeEventKind
    from changes.models import Deployment
    from changes.notifications import notify_change

    candidates = (
        Deployment.objects.filter(
            service_id=slo.service_id,
            started_at__lte=episode.started_at,
            started_at__gte=episode.started_at - timedelta(days=1),
        )
        .select_related("change", "change__implementer", "service")
        .order_by("-started_at", "-id")
    )
    for deployment in candidates:
        end = deployment.watch_from + timedelta(minutes=deployment.watch_minutes)
        if not deployment.watch_from <= episode.started_at <= end:
            continue
        minutes = int((episode.started_at - deployment.watch_from).total_seconds() // 60)
        change = deployment.change
        change_events.write(
            change,
            ChangeEventKind.SUSPECT,
            None,
            f"Suspect: SLO {slo.slug} started a fast burn {minutes} min after deployment {deployment.version}",
            deployment_id=deployment.pk,
            slo=slo.slug,
            burn_episode_id=episode.pk,
        )
        audit_record(
            action="deployment.flag_suspect",
            obj=deployment,
            changes={"suspect_slo": [None, slo.slug], "burn_episode": [None, episode.pk]},
        )
        notify_change(
            change,
            "change.suspect",
            key=f"suspect:{deployment.pk}:slo:{episode.pk}",
            subject=f"SLO {slo.slug} started burning fast {minutes} min after your deployment "
            f"{deployment.version} of {deployment.service.slug}",
            body=f"The error budget of {slo.name} burns at page level within the watch window of "
            f"{change.reference}. Consider rolling back.",
            recipients=[change.implementer],
            data={"slo": slo.slug, "deployment_id": deployment.pk, "version": deployment.version},
        )
        return deployment
    return None


def _incident_for(slo: SLO, episode: BurnEpisode, result: Evaluation):
    """Link to the incident of an earlier episode while it is open, else declare one."""
    from incidents.choices import OPEN_STATUSES
    from incidents.services import incident_declare

    earlier = (
        BurnEpisode.objects.filter(slo=slo, incident__status__in=OPEN_STATUSES)
        .exclude(pk=episode.pk)
        .select_related("incident")
        .order_by("-started_at")
        .first()
    )
    if earlier is not None:
        return earlier.incident
    rates = ", ".join(f"{k} {v:.1f}×" for k, v in result.burn_rates.items() if v is not None)
    return incident_declare(
        title=f"SLO {slo.name} is burning its error budget fast"[:200],
        severity=slo.incident_severity,
        service=slo.service,
        summary=f"Page-level burn of SLO {slo.slug} (objective {float(slo.objective) * 100:g} %). Burn rates: {rates}.",
        declared_at=episode.started_at,
    )
