"""The operational-maturity scorecard: every registered dimension, live, with its trend by quarter."""

import logging
from datetime import date, datetime

from django.db import transaction
from django.utils import timezone

from .choices import CheckStatus
from .models import ScorecardSnapshot
from .registries import ScorecardDimension, StatusSource, scorecard_dimensions, status_sources

logger = logging.getLogger(__name__)
TREND_QUARTERS = 4


def quarter_of(day: date | datetime) -> str:
    return f"{day.year}Q{(day.month - 1) // 3 + 1}"


def previous_quarters(quarter: str, count: int) -> list[str]:
    year, q = int(quarter[:4]), int(quarter[-1])
    result = []
    for _ in range(count):
        result.append(f"{year}Q{q}")
        q -= 1
        if q == 0:
            year, q = year - 1, 4
    return list(reversed(result))


def _score(dimension: ScorecardDimension) -> dict:
    try:
        result = dimension.score()
    except Exception as exc:  # one broken dimension must not hide the others
        logger.exception("scorecard dimension %s failed", dimension.name)
        result = {"score": 0, "facts": [f"could not be computed: {type(exc).__name__}"], "next_steps": []}
    return {
        "name": dimension.name,
        "title": dimension.title,
        "score": max(0, min(100, int(result.get("score", 0)))),
        "facts": list(result.get("facts", [])),
        "next_steps": list(result.get("next_steps", [])),
    }


def scorecard_now(*, now: datetime | None = None) -> list[dict]:
    """Every dimension's live score, facts and next steps, with the last four quarters' snapshots."""
    now = now or timezone.now()
    quarters = previous_quarters(quarter_of(now), TREND_QUARTERS)
    snapshots = {(s.dimension, s.quarter): s.score for s in ScorecardSnapshot.objects.filter(quarter__in=quarters)}
    rows = []
    for _name, dimension in sorted(scorecard_dimensions.items()):
        row = _score(dimension)
        row["trend"] = [(q, snapshots.get((dimension.name, q))) for q in quarters]
        rows.append(row)
    return rows


@transaction.atomic
def scorecard_snapshot(*, now: datetime | None = None) -> int:
    """Write (or refresh) the current quarter's snapshot of every dimension. Returns how many."""
    now = now or timezone.now()
    quarter = quarter_of(now)
    count = 0
    for _name, dimension in sorted(scorecard_dimensions.items()):
        row = _score(dimension)
        ScorecardSnapshot.objects.update_or_create(
            quarter=quarter,
            dimension=row["name"],
            defaults={
                "title": row["title"],
                "score": row["score"],
                "facts": row["facts"],
                "next_steps": row["next_steps"],
                "taken_at": now,
            },
        )
        count += 1
    return count


def headline(rows: list[dict]) -> str:
    if not rows:
        return "no scorecard dimension is registered"
    average = round(sum(r["score"] for r in rows) / len(rows))
    lowest = min(rows, key=lambda r: r["score"])
    return f"maturity {average}/100 over {len(rows)} dimensions; lowest: {lowest['title']} {lowest['score']}"


def status_lines():
    from .health import CheckResult

    rows = scorecard_now()
    lowest = min((r["score"] for r in rows), default=100)
    status = CheckStatus.OK if lowest >= 50 else CheckStatus.WARNING
    yield CheckResult("scorecard", status, headline(rows), {r["name"]: r["score"] for r in rows})


def observability_score() -> dict:
    """The kernel's own dimension: health checks green, scheduled jobs fresh, metrics exposed."""
    from django.conf import settings

    from .health import check_jobs, run_checks

    facts, steps, score = [], [], 0
    checks = [c for c in run_checks() if c.name != "jobs" and not c.name.startswith("job:")]
    failing = [c.name for c in checks if c.status != CheckStatus.OK]
    if not failing:
        score += 40
        facts.append(f"all {len(checks)} health checks green")
    else:
        steps.append(f"Fix the failing health checks: {', '.join(failing)}.")
    jobs = check_jobs()
    stale = [j.name.removeprefix("job:") for j in jobs if j.status != CheckStatus.OK]
    if jobs and not stale:
        score += 40
        facts.append(f"all {len(jobs)} scheduled jobs ran on time")
    elif stale:
        score += round(40 * (len(jobs) - len(stale)) / len(jobs))
        steps.append(f"Get the stale jobs running: {', '.join(stale[:5])}.")
    score += 20
    facts.append(
        "Prometheus metrics at /metrics" + (" (public)" if settings.METRICS_PUBLIC else " (key with health:read)")
    )
    return {"score": score, "facts": facts, "next_steps": steps}


scorecard_dimensions.register(
    "observability", ScorecardDimension("observability", "Observability", observability_score)
)
# Not a breach: the maturity score is the scorecard page's, and costs every dimension to compute.
status_sources.register("scorecard", StatusSource("scorecard", status_lines, breaches=False))
