"""Server-rendered SVG: budget consumed over the SLO's window, with its burn episodes shaded."""

from datetime import datetime

from django.db.models import Min
from django.db.models.functions import TruncHour
from django.utils.html import escape
from django.utils.safestring import mark_safe

from .choices import AlertLevel
from .models import SLO, BurnEpisode, SLOStatus
from .windows import window_start

WIDTH, HEIGHT, PAD = 640, 180, 30


def budget_series(slo: SLO, start: datetime, end: datetime) -> list[tuple[datetime, float]]:
    """Hourly points (the lowest budget remaining of each hour) from the status history: ≤ 744 rows."""
    rows = (
        SLOStatus.objects.filter(
            slo=slo, evaluated_at__gte=start, evaluated_at__lte=end, error_budget_remaining__isnull=False
        )
        .annotate(h=TruncHour("evaluated_at"))
        .values("h")
        .annotate(r=Min("error_budget_remaining"))
        .order_by("h")
    )
    return [(row["h"], 1.0 - row["r"]) for row in rows]


def budget_chart(slo: SLO, *, now: datetime) -> str:
    start = window_start(slo.window, now)
    span = max((now - start).total_seconds(), 1)
    points = budget_series(slo, start, now)
    episodes = BurnEpisode.objects.filter(slo=slo, started_at__lte=now).exclude(ended_at__lt=start)
    top = max([1.0, *[c for _, c in points]])

    def x(t: datetime) -> float:
        return PAD + (max((t - start).total_seconds(), 0) / span) * (WIDTH - 2 * PAD)

    def y(consumed: float) -> float:
        return HEIGHT - PAD - (max(consumed, 0) / top) * (HEIGHT - 2 * PAD)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" '
        f'role="img" aria-label="Error budget consumed over the window of {escape(slo.slug)}" class="slo-chart">'
    ]
    for episode in episodes:
        x1, x2 = x(max(episode.started_at, start)), x(episode.ended_at or now)
        colour = "#ffd8d3" if episode.level == AlertLevel.PAGE else "#fff1c2"
        parts.append(
            f'<rect class="episode" x="{x1:.1f}" y="{PAD}" width="{max(x2 - x1, 2):.1f}" '
            f'height="{HEIGHT - 2 * PAD}" fill="{colour}"><title>{episode.get_level_display()} burn from '
            f"{episode.started_at:%Y-%m-%d %H:%M}</title></rect>"
        )
    for level, label in ((1.0, "100 %"), (float(slo.warning_threshold), f"{float(slo.warning_threshold) * 100:.0f} %")):
        parts.append(
            f'<line x1="{PAD}" x2="{WIDTH - PAD}" y1="{y(level):.1f}" y2="{y(level):.1f}" stroke="#cf222e" '
            f'stroke-dasharray="4 3" stroke-width="1"/><text x="2" y="{y(level) + 4:.1f}" font-size="10">{label}</text>'
        )
    parts.append(
        f'<line x1="{PAD}" x2="{WIDTH - PAD}" y1="{HEIGHT - PAD}" y2="{HEIGHT - PAD}" stroke="#8c959f"/>'
        f'<text x="{PAD}" y="{HEIGHT - 8}" font-size="10">{start:%Y-%m-%d}</text>'
        f'<text x="{WIDTH - PAD - 60}" y="{HEIGHT - 8}" font-size="10">{now:%Y-%m-%d %H:%M}</text>'
    )
    if points:
        path = " ".join(f"{'M' if i == 0 else 'L'}{x(t):.1f},{y(c):.1f}" for i, (t, c) in enumerate(points))
        parts.append(f'<path class="consumed" d="{path}" fill="none" stroke="#0969da" stroke-width="2"/>')
        if len(points) < 48:  # a young history: mark each hour so a single evaluation shows
            parts.extend(
                f'<circle cx="{x(t):.1f}" cy="{y(c):.1f}" r="3" fill="#0969da"><title>{t:%Y-%m-%d %H}h: '
                f"{c * 100:.1f} % consumed</title></circle>"
                for t, c in points
            )
    else:
        parts.append(f'<text x="{WIDTH / 2 - 60}" y="{HEIGHT / 2}" font-size="12">No evaluations yet</text>')
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308  every interpolated text above is escaped or numeric
