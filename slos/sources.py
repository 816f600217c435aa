"""Where the good and total counts of each window come from: pushed counts or Prometheus.

Both answer `counts(slo, now)` → {window name: (good, total) or None when there is no data}.
"""

from datetime import datetime

import requests
from django.db.models import Q, Sum

from .choices import SourceKind
from .models import SLO, HourlyCount, PrometheusSource, PushedInterval
from .windows import all_windows, ceil_hour, floor_hour, promql_duration

Counts = dict[str, tuple[float, float] | None]


class SourceError(Exception):
    """The source could not answer (unreachable, HTTP error, query error): the SLO is unknown."""


def pushed_counts(slo: SLO, now: datetime) -> Counts:
    """Two queries whatever the history's length (see `pushed_counts_many`)."""
    return pushed_counts_many([slo], now)[slo.pk]


def pushed_counts_many(slos: list[SLO], now: datetime) -> dict[int, Counts]:
    """Counts of many pushed SLOs: two grouped queries per window kind (28d, 30d, month), whatever
    the history's length or the number of SLOs. Full hours come from the hourly roll-ups, the partial
    hours at each window's edges from the raw intervals (by interval start)."""
    result: dict[int, Counts] = {}
    by_window: dict[str, list[int]] = {}
    for slo in slos:
        by_window.setdefault(slo.window, []).append(slo.pk)
    for window, ids in by_window.items():
        starts = all_windows(window, now)
        top = floor_hour(now)
        raw_aggs, hour_aggs = {}, {}
        raw_cover = Q()
        hour_low = None
        for name, start in starts.items():
            low = ceil_hour(start)
            if low >= top:  # shorter than the hour boundaries: the raw rows alone
                raw_q = Q(start__gte=start, start__lt=now)
            else:
                raw_q = Q(start__gte=start, start__lt=low) | Q(start__gte=top, start__lt=now)
                hour_q = Q(hour__gte=low, hour__lt=top)
                hour_aggs[f"g_{name}"] = Sum("good", filter=hour_q)
                hour_aggs[f"t_{name}"] = Sum("total", filter=hour_q)
                hour_low = low if hour_low is None else min(hour_low, low)
            raw_cover |= raw_q
            raw_aggs[f"g_{name}"] = Sum("good", filter=raw_q)
            raw_aggs[f"t_{name}"] = Sum("total", filter=raw_q)
        raw = {
            row["slo_id"]: row
            for row in PushedInterval.objects.filter(slo_id__in=ids)
            .filter(raw_cover)
            .values("slo_id")
            .annotate(**raw_aggs)
            .order_by()
        }
        hours = (
            {
                row["slo_id"]: row
                for row in HourlyCount.objects.filter(slo_id__in=ids, hour__gte=hour_low, hour__lt=top)
                .values("slo_id")
                .annotate(**hour_aggs)
                .order_by()
            }
            if hour_aggs
            else {}
        )
        for pk in ids:
            r, h = raw.get(pk, {}), hours.get(pk, {})
            counts: Counts = {}
            for name in starts:
                good = (r.get(f"g_{name}") or 0) + (h.get(f"g_{name}") or 0)
                total = (r.get(f"t_{name}") or 0) + (h.get(f"t_{name}") or 0)
                counts[name] = (float(good), float(total)) if total else None
            result[pk] = counts
    return result


def prometheus_query(source: PrometheusSource, query: str, at: datetime, *, session=None) -> float | None:
    """One instant query; the sum of the vector, None when it is empty."""
    headers = {"Accept": "application/json"}
    if source.bearer_token:
        headers["Authorization"] = f"Bearer {source.bearer_token}"
    url = source.url.rstrip("/") + "/api/v1/query"
    try:
        response = (session or requests).get(
            url,
            params={"query": query, "time": f"{at.timestamp():.3f}"},
            headers=headers,
            timeout=source.timeout_seconds,
        )
    except requests.RequestException as exc:
        raise SourceError(f"{source.name} is unreachable: {type(exc).__name__}: {exc}"[:500]) from exc
    try:
        body = response.json()
    except ValueError as exc:
        raise SourceError(f"{source.name} answered HTTP {response.status_code} without JSON") from exc
    if response.status_code != 200 or body.get("status") != "success":
        raise SourceError(
            f"{source.name} refused the query {query!r}: HTTP {response.status_code} "
            f"{body.get('errorType', '')} {body.get('error', '')}".strip()[:500]
        )
    data = body.get("data") or {}
    if data.get("resultType") != "vector":
        raise SourceError(f"{source.name} answered a {data.get('resultType')!r}, not a vector, to {query!r}")
    values = [float(item["value"][1]) for item in data.get("result", [])]
    return sum(values) if values else None


def increase_query(selector: str, seconds: float) -> str:
    return f"sum(increase({selector}[{promql_duration(seconds)}]))"


def prometheus_counts(slo: SLO, now: datetime) -> Counts:
    source = slo.prometheus_source
    result: Counts = {}
    with requests.Session() as session:
        for name, start in all_windows(slo.window, now).items():
            seconds = (now - start).total_seconds()
            good = prometheus_query(source, increase_query(slo.good_query, seconds), now, session=session)
            total = prometheus_query(source, increase_query(slo.total_query, seconds), now, session=session)
            result[name] = (good or 0.0, total) if total else None
    return result


def counts_for(slo: SLO, now: datetime) -> Counts:
    if slo.source_kind == SourceKind.PROMETHEUS:
        return prometheus_counts(slo, now)
    return pushed_counts(slo, now)
