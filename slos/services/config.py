"""SLOs and Prometheus sources: create or update, validated and audited."""

from django.core.exceptions import ValidationError
from django.db import transaction

from governance.audit import audit_record, diff, snapshot
from governance.errors import ValidationFailed

from ..models import SLO, PrometheusSource

SLO_FIELDS = [
    "name",
    "description",
    "service",
    "owner_team",
    "sli_kind",
    "latency_threshold_ms",
    "objective",
    "window",
    "source_kind",
    "prometheus_source",
    "good_query",
    "total_query",
    "warning_threshold",
    "incident_severity",
    "enabled",
]
SOURCE_FIELDS = ["url", "bearer_token", "timeout_seconds"]


def _clean(obj, exclude=None) -> None:
    try:
        obj.full_clean(exclude=exclude)
    except ValidationError as exc:
        fields = {k: [str(m) for m in v] for k, v in exc.message_dict.items()}
        raise ValidationFailed(f"The {obj._meta.verbose_name} is not valid.", fields=fields) from exc


@transaction.atomic
def prometheus_source_save(*, name: str, url: str, bearer_token: str | None = None, timeout_seconds=None):
    """Create or update the source named `name`; returns (source, changed). A None token keeps the old one."""
    source = PrometheusSource.objects.select_for_update().filter(name=name).first()
    created = source is None
    source = source or PrometheusSource(name=name)
    before = {} if created else snapshot(source, SOURCE_FIELDS)
    source.url = url
    if bearer_token is not None:
        source.bearer_token = bearer_token
    if timeout_seconds is not None:
        source.timeout_seconds = timeout_seconds
    _clean(source)
    after = snapshot(source, SOURCE_FIELDS)
    changes = diff(before, after)
    if "bearer_token" in changes:
        changes["bearer_token"] = ["…", "… (changed)"]  # never a secret in the audit trail
    if changes:
        source.save()
        audit_record(action="slo_source.create" if created else "slo_source.update", obj=source, changes=changes)
    return source, bool(changes)


@transaction.atomic
def slo_save(*, slug: str, **values) -> tuple[SLO, bool]:
    """Create or update the SLO `slug` with `values` (SLO_FIELDS); returns (slo, changed)."""
    unknown = sorted(set(values) - set(SLO_FIELDS))
    if unknown:
        raise ValidationFailed(f"Unknown SLO fields: {', '.join(unknown)}.", fields={k: ["Unknown."] for k in unknown})
    slo = SLO.objects.select_for_update().filter(slug=slug).first()
    created = slo is None
    slo = slo or SLO(slug=slug)
    before = {} if created else snapshot(slo, SLO_FIELDS)
    for key, value in values.items():
        setattr(slo, key, value)
    _clean(slo)
    changes = diff(before, snapshot(slo, SLO_FIELDS))
    if changes:
        slo.save()
        audit_record(action="slo.create" if created else "slo.update", obj=slo, changes=changes)
    return slo, bool(changes)
