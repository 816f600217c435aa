"""OpenSLO v1 YAML: SLOs and Prometheus DataSources, imported whole or not at all, exported losslessly.

Vigil's own fields that OpenSLO has no place for (owner team, budget-policy warning threshold,
incident severity, latency threshold, enabled) travel as `metadata.annotations` under `vigil/`.
A DataSource's bearer token is a secret and is never exported (set it in the admin).
"""

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

import yaml
from django.db import transaction

from governance.errors import ValidationFailed
from governance.models import Service, Team

from .choices import SLIKind, SLOWindow, SourceKind
from .models import SLO, PrometheusSource
from .services import prometheus_source_save, slo_save

API_VERSION = "openslo/v1"
ANNOTATION = "vigil/"
WINDOWS = {"28d": SLOWindow.ROLLING_28D, "30d": SLOWindow.ROLLING_30D, "4w": SLOWindow.ROLLING_28D}
MONTH_CALENDAR = {"startTime": "2020-01-01 00:00:00", "timeZone": "UTC"}
DEFAULTS = {"warning-threshold": "0.8", "enabled": "true", "timeout-seconds": "5.0"}


# --- export -----------------------------------------------------------------------------------


def _annotations(values: dict[str, str]) -> dict:
    return {f"{ANNOTATION}{k}": v for k, v in values.items() if v not in ("", None) and DEFAULTS.get(k) != v}


def source_document(source: PrometheusSource) -> dict:
    metadata = {"name": source.name}
    annotations = _annotations({"timeout-seconds": str(float(source.timeout_seconds))})
    if annotations:
        metadata["annotations"] = annotations
    return {
        "apiVersion": API_VERSION,
        "kind": "DataSource",
        "metadata": metadata,
        "spec": {"type": "Prometheus", "connectionDetails": {"url": source.url}},
    }


def _metric_source(slo: SLO, query: str) -> dict:
    if slo.source_kind == SourceKind.PUSHED:
        return {"metricSource": {"type": "Vigil", "spec": {}}}
    return {
        "metricSource": {
            "metricSourceRef": slo.prometheus_source.name,
            "type": "Prometheus",
            "spec": {"query": query},
        }
    }


def _objective_text(value: Decimal) -> float:
    return float(value.normalize())


def slo_document(slo: SLO) -> dict:
    metadata = {"name": slo.slug, "displayName": slo.name}
    annotations = _annotations(
        {
            "owner-team": slo.owner_team.slug if slo.owner_team else "",
            "sli-kind": slo.sli_kind if slo.sli_kind != SLIKind.RATIO else "",
            "latency-threshold-ms": str(slo.latency_threshold_ms) if slo.latency_threshold_ms else "",
            "warning-threshold": str(float(slo.warning_threshold)),
            "incident-severity": slo.incident_severity,
            "enabled": "true" if slo.enabled else "false",
        }
    )
    if annotations:
        metadata["annotations"] = annotations
    if slo.window == SLOWindow.MONTH:
        window = {"duration": "1M", "isRolling": False, "calendar": dict(MONTH_CALENDAR)}
    else:
        window = {"duration": slo.window, "isRolling": True}
    spec = {
        "description": slo.description,
        "service": slo.service.slug,
        "indicator": {
            "metadata": {"name": f"{slo.slug}-sli"},
            "spec": {
                "ratioMetric": {
                    "counter": True,
                    "good": _metric_source(slo, slo.good_query),
                    "total": _metric_source(slo, slo.total_query),
                }
            },
        },
        "timeWindow": [window],
        "budgetingMethod": "Occurrences",
        "objectives": [{"displayName": slo.name, "target": _objective_text(slo.objective)}],
    }
    if not slo.description:
        del spec["description"]
    return {"apiVersion": API_VERSION, "kind": "SLO", "metadata": metadata, "spec": spec}


def export_documents(slos=None) -> list[dict]:
    slos = list(
        (slos if slos is not None else SLO.objects.all())
        .select_related("service", "owner_team", "prometheus_source")
        .order_by("slug")
    )
    sources = sorted({s.prometheus_source for s in slos if s.prometheus_source_id}, key=lambda s: s.name)
    return [*(source_document(s) for s in sources), *(slo_document(s) for s in slos)]


def export_yaml(slos=None) -> str:
    return yaml.safe_dump_all(export_documents(slos), sort_keys=False, allow_unicode=True, default_flow_style=False)


# --- import -----------------------------------------------------------------------------------


class DocumentError(Exception):
    def __init__(self, where: str, path: str, expected: str):
        super().__init__(f"{where}: {path}: expected {expected}")
        self.where, self.path, self.expected = where, path, expected


@dataclass
class Parsed:
    sources: list[dict]
    slos: list[dict]


def _get(doc, path: str, where: str, kind=None, expected: str = ""):
    value = doc
    for part in path.split("."):
        if part.endswith("]"):
            name, index = part[:-1].split("[")
            value = value.get(name) if isinstance(value, dict) else None
            if not isinstance(value, list) or len(value) <= int(index):
                raise DocumentError(where, path, expected or "a list with an item")
            value = value[int(index)]
        else:
            value = value.get(part) if isinstance(value, dict) else None
        if value is None:
            raise DocumentError(where, path, expected or "a value")
    if kind is not None and not isinstance(value, kind):
        raise DocumentError(where, path, expected or f"a {getattr(kind, '__name__', kind)}")
    return value


def _annotation(doc, key: str) -> str:
    annotations = (doc.get("metadata") or {}).get("annotations") or {}
    value = annotations.get(f"{ANNOTATION}{key}")
    return DEFAULTS.get(key, "") if value is None else str(value)


def _parse_source(doc: dict, where: str) -> dict:
    name = _get(doc, "metadata.name", where, str, "a slug naming the data source")
    if _get(doc, "spec.type", where, str) != "Prometheus":
        raise DocumentError(where, "spec.type", "Prometheus (the only DataSource type Vigil reads)")
    url = _get(doc, "spec.connectionDetails.url", where, str, "an http:// or https:// URL")
    if not url.lower().startswith(("http://", "https://")):
        raise DocumentError(where, "spec.connectionDetails.url", "an http:// or https:// URL")
    try:
        timeout = float(_annotation(doc, "timeout-seconds"))
    except ValueError:
        raise DocumentError(where, "metadata.annotations.vigil/timeout-seconds", "a number of seconds") from None
    return {"name": name, "url": url, "timeout_seconds": timeout}


def _parse_metric(doc, path: str, where: str, known_sources: set[str]) -> tuple[str, str | None, str]:
    source = _get(doc, f"{path}.metricSource", where, dict, "a metricSource")
    kind = source.get("type")
    if kind == "Vigil":
        return SourceKind.PUSHED, None, ""
    if kind != "Prometheus":
        raise DocumentError(where, f"{path}.metricSource.type", "Prometheus or Vigil")
    ref = _get(doc, f"{path}.metricSource.metricSourceRef", where, str, "the name of a DataSource")
    if ref not in known_sources:
        raise DocumentError(where, f"{path}.metricSource.metricSourceRef", f"a known DataSource, not {ref!r}")
    query = _get(doc, f"{path}.metricSource.spec.query", where, str, "a series selector of a counter").strip()
    if not query or "[" in query or "(" in query:
        raise DocumentError(
            where, f"{path}.metricSource.spec.query", 'a series selector of a counter, e.g. x_total{a="b"}'
        )
    return SourceKind.PROMETHEUS, ref, query


def _parse_slo(doc: dict, where: str, known_sources: set[str]) -> dict:
    slug = _get(doc, "metadata.name", where, str, "a slug naming the SLO")
    service_slug = _get(doc, "spec.service", where, str, "a Vigil service slug")
    service = Service.objects.filter(slug=service_slug).first()
    if service is None:
        raise DocumentError(where, "spec.service", f"a Vigil service slug; there is no service {service_slug!r}")
    ratio = _get(doc, "spec.indicator.spec.ratioMetric", where, dict, "a ratioMetric (good and total counters)")
    if ratio.get("counter") is not True:
        raise DocumentError(where, "spec.indicator.spec.ratioMetric.counter", "true (counters)")
    good_kind, good_ref, good = _parse_metric(doc, "spec.indicator.spec.ratioMetric.good", where, known_sources)
    total_kind, total_ref, total = _parse_metric(doc, "spec.indicator.spec.ratioMetric.total", where, known_sources)
    if good_kind != total_kind or good_ref != total_ref:
        raise DocumentError(where, "spec.indicator.spec.ratioMetric.total", "the same metricSource as good")
    window = _get(doc, "spec.timeWindow[0]", where, dict, "one timeWindow")
    duration, rolling = window.get("duration"), window.get("isRolling")
    if rolling is True and duration in WINDOWS:
        window_value = WINDOWS[duration]
    elif rolling is False and duration == "1M":
        window_value = SLOWindow.MONTH
    else:
        raise DocumentError(where, "spec.timeWindow[0]", "duration 28d or 30d rolling, or 1M with isRolling false")
    if _get(doc, "spec.budgetingMethod", where, str) != "Occurrences":
        raise DocumentError(where, "spec.budgetingMethod", "Occurrences")
    target = _get(doc, "spec.objectives[0].target", where, expected="a number between 0.5 and 0.9999999")
    try:
        objective = Decimal(str(target)).quantize(Decimal("0.0000001"))
    except (InvalidOperation, ValueError):
        raise DocumentError(where, "spec.objectives[0].target", "a number between 0.5 and 0.9999999") from None
    if isinstance(target, bool) or not Decimal("0.5") <= objective < 1:
        raise DocumentError(where, "spec.objectives[0].target", "a number between 0.5 and 0.9999999")
    values = {
        "name": str((doc.get("metadata") or {}).get("displayName") or slug)[:200],
        "description": str((doc.get("spec") or {}).get("description") or ""),
        "service": service,
        "objective": objective,
        "window": window_value,
        "source_kind": good_kind,
        "good_query": good,
        "total_query": total,
        "_source": good_ref,
    }
    team_slug = _annotation(doc, "owner-team")
    values["owner_team"] = Team.objects.filter(slug=team_slug).first() if team_slug else None
    if team_slug and values["owner_team"] is None:
        raise DocumentError(where, "metadata.annotations.vigil/owner-team", f"a Vigil team slug, not {team_slug!r}")
    sli_kind = _annotation(doc, "sli-kind") or SLIKind.RATIO
    if sli_kind not in SLIKind.values:
        raise DocumentError(where, "metadata.annotations.vigil/sli-kind", "ratio or latency")
    values["sli_kind"] = sli_kind
    threshold = _annotation(doc, "latency-threshold-ms")
    if threshold and not threshold.isdecimal():
        raise DocumentError(where, "metadata.annotations.vigil/latency-threshold-ms", "a whole number of milliseconds")
    values["latency_threshold_ms"] = int(threshold) if threshold else None
    try:
        values["warning_threshold"] = Decimal(_annotation(doc, "warning-threshold")).quantize(Decimal("0.001"))
    except InvalidOperation:
        raise DocumentError(where, "metadata.annotations.vigil/warning-threshold", "a fraction, e.g. 0.8") from None
    severity = _annotation(doc, "incident-severity")
    if severity not in ("", "SEV1", "SEV2", "SEV3"):
        raise DocumentError(where, "metadata.annotations.vigil/incident-severity", "SEV1, SEV2, SEV3 or nothing")
    values["incident_severity"] = severity
    enabled = _annotation(doc, "enabled")
    if enabled not in ("true", "false"):
        raise DocumentError(where, "metadata.annotations.vigil/enabled", "true or false")
    values["enabled"] = enabled == "true"
    return {"slug": slug, **values}


def parse(text: str, *, name: str = "the file") -> Parsed:
    try:
        documents = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        raise DocumentError(name, "(YAML)", f"valid YAML ({exc})".replace("\n", " ")) from None
    sources, slos = [], []
    for index, doc in enumerate(documents, start=1):
        where = f"{name} document {index}"
        if not isinstance(doc, dict):
            raise DocumentError(where, "(document)", "a mapping")
        if doc.get("apiVersion") != API_VERSION:
            raise DocumentError(where, "apiVersion", API_VERSION)
        kind = doc.get("kind")
        label = f"{where} ({kind} {(doc.get('metadata') or {}).get('name', '?')})"
        if kind == "DataSource":
            sources.append((label, doc))
        elif kind == "SLO":
            slos.append((label, doc))
        else:
            raise DocumentError(where, "kind", "SLO or DataSource")
    parsed_sources = [_parse_source(doc, where) for where, doc in sources]
    known = {s["name"] for s in parsed_sources} | set(PrometheusSource.objects.values_list("name", flat=True))
    parsed_slos = [_parse_slo(doc, where, known) for where, doc in slos]
    for kind_list, label in ((parsed_sources, "name"), (parsed_slos, "slug")):
        seen = set()
        for item in kind_list:
            if item[label] in seen:
                raise DocumentError(name, "metadata.name", f"unique names; {item[label]!r} appears twice")
            seen.add(item[label])
    return Parsed(sources=parsed_sources, slos=parsed_slos)


@transaction.atomic
def import_yaml(text: str, *, name: str = "the file") -> dict[str, int]:
    """Everything or nothing: any invalid document refuses the whole file (ValidationFailed naming it)."""
    try:
        parsed = parse(text, name=name)
    except DocumentError as exc:
        raise ValidationFailed(
            str(exc), code="invalid_openslo", fields={exc.path: [f"Expected {exc.expected}."]}
        ) from exc
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    for source in parsed.sources:
        existed = PrometheusSource.objects.filter(name=source["name"]).exists()
        _, changed = prometheus_source_save(**source)
        counts["unchanged" if not changed else "updated" if existed else "created"] += 1
    for item in parsed.slos:
        values = dict(item)
        slug = values.pop("slug")
        ref = values.pop("_source")
        values["prometheus_source"] = PrometheusSource.objects.get(name=ref) if ref else None
        existed = SLO.objects.filter(slug=slug).exists()
        _, changed = slo_save(slug=slug, **values)
        counts["unchanged" if not changed else "updated" if existed else "created"] += 1
    return counts
