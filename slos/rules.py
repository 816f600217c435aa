"""Prometheus recording and multiwindow burn-rate alerting rules for the Prometheus-sourced SLOs
(the shape Sloth and Pyrra generate): one rule group per SLO."""

import yaml

from .choices import BURN_RULES, BURN_WINDOWS, AlertLevel, SourceKind
from .models import SLO

RECORD = "slo:sli_error:ratio_rate{window}"
SEVERITY = {AlertLevel.PAGE: "critical", AlertLevel.TICKET: "warning"}
ALERT_NAME = {AlertLevel.PAGE: "SLOErrorBudgetBurnPage", AlertLevel.TICKET: "SLOErrorBudgetBurnTicket"}


def _budget(slo: SLO) -> str:
    return f"{1 - float(slo.objective):.10g}"


def _selector(slo: SLO) -> str:
    return f'slo="{slo.slug}"'


def _condition(slo: SLO, long: str, short: str, factor: float) -> str:
    sel, budget = _selector(slo), _budget(slo)
    return (
        f"({RECORD.format(window=long)}{{{sel}}} > ({factor:g} * {budget}) "
        f"and {RECORD.format(window=short)}{{{sel}}} > ({factor:g} * {budget}))"
    )


def rule_group(slo: SLO) -> dict:
    labels = {"slo": slo.slug, "service": slo.service.slug}
    rules: list[dict] = []
    for window in BURN_WINDOWS:
        good = f"sum(rate({slo.good_query}[{window}]))"
        total = f"sum(rate({slo.total_query}[{window}]))"
        rules.append(
            {"record": RECORD.format(window=window), "expr": f"({total} - {good}) / {total}", "labels": dict(labels)}
        )
    for level in (AlertLevel.PAGE, AlertLevel.TICKET):
        conditions = [_condition(slo, long, short, factor) for lvl, long, short, factor in BURN_RULES if lvl == level]
        speed = "fast" if level == AlertLevel.PAGE else "steadily"
        rules.append(
            {
                "alert": ALERT_NAME[level],
                "expr": "\nor\n".join(conditions),
                "labels": {"severity": SEVERITY[level], "vigil_alert": str(level)},
                "annotations": {
                    "summary": f"SLO {slo.slug} is burning its error budget {speed}",
                    "description": f"{slo.name}: objective {float(slo.objective) * 100:g} % over {slo.window}.",
                },
            }
        )
    return {"name": f"vigil-slo-{slo.slug}", "rules": rules}


def export_rules(slos=None) -> str:
    qs = slos if slos is not None else SLO.objects.all()
    chosen = qs.filter(source_kind=SourceKind.PROMETHEUS, enabled=True).select_related("service").order_by("slug")
    return yaml.safe_dump({"groups": [rule_group(slo) for slo in chosen]}, sort_keys=False, width=1000)
