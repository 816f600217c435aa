"""Against a real Prometheus (Debian's package) over 28 days of backfilled counters."""

import os
import shutil
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from slos.models import BurnEpisode, PrometheusSource, SLOStatus
from slos.services import prometheus_source_save, slo_evaluate, slo_save

from .conftest import sent
from .prometheus import PROMETHEUS, PROMTOOL, PrometheusServer, backfill, write_openmetrics

MINUTE = 60
HISTORY_MINUTES = 28 * 24 * 60 + 120  # a little longer than the window: no extrapolation at its start


def _need_prometheus():
    if not (os.path.exists(PROMETHEUS) and os.path.exists(PROMTOOL)):
        if os.environ.get("CI") == "true":
            pytest.fail("prometheus and promtool are required in CI (apt-get install prometheus)")
        pytest.skip("prometheus/promtool are not installed")


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory):
    """Counters per minute for 28 days: `steady` at 0.05 % errors; `burn` the same but 5 % in the last hour."""
    _need_prometheus()
    workdir = tmp_path_factory.mktemp("prometheus")
    end = (int(datetime.now(UTC).timestamp()) // MINUTE - 2) * MINUTE
    start = end - HISTORY_MINUTES * MINUTE
    total = {"steady": [], "burn": []}
    good = {"steady": [], "burn": []}
    counts = {name: [0.0, 0.0] for name in total}
    for i in range(HISTORY_MINUTES + 1):
        ts = start + i * MINUTE
        for name in total:
            if i > 0:
                bad = 50.0 if (name == "burn" and ts > end - 3600) else 0.5
                counts[name][0] += 1000.0 - bad
                counts[name][1] += 1000.0
            good[name].append((ts, counts[name][0]))
            total[name].append((ts, counts[name][1]))
    source = workdir / "history.om"
    write_openmetrics(
        source,
        {
            "slo_requests": {f'scenario="{n}"': s for n, s in total.items()},
            "slo_requests_good": {f'scenario="{n}"': s for n, s in good.items()},
        },
    )
    backfill(source, workdir / "data")
    server = PrometheusServer(data_dir=workdir / "data", workdir=workdir)
    server.start()
    server.end = end
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def _slo(prometheus, scenario: str):
    source, _ = prometheus_source_save(name="local", url=prometheus.url, bearer_token="s3cret-token", timeout_seconds=2)
    from tests.factories import ServiceFactory

    slo, _ = slo_save(
        slug=f"api-{scenario}",
        name=f"API {scenario}",
        service=ServiceFactory(slug="api"),
        objective=Decimal("0.999"),
        window="28d",
        source_kind="prometheus",
        prometheus_source=source,
        good_query=f'slo_requests_good_total{{scenario="{scenario}"}}',
        total_query=f'slo_requests_total{{scenario="{scenario}"}}',
    )
    return slo


def _at(prometheus) -> datetime:
    return datetime.fromtimestamp(prometheus.end, UTC)


@pytest.mark.django_db
def test_steady_errors_leave_half_the_budget_and_no_alert(prometheus):
    slo = _slo(prometheus, "steady")
    result = slo_evaluate(slo=slo, now=_at(prometheus))
    assert result.succeeded, result.error
    assert result.error_budget_remaining == pytest.approx(0.5, abs=0.01)
    assert result.budget_status == "ok"
    assert result.alert == ""
    assert not BurnEpisode.objects.exists()
    direct = prometheus.query(
        'sum(increase(slo_requests_good_total{scenario="steady"}[28d])) / '
        'sum(increase(slo_requests_total{scenario="steady"}[28d]))',
        prometheus.end,
    )
    assert abs(result.sli - direct) <= 1e-9
    assert set(result.burn_rates) == {"5m", "30m", "1h", "2h", "6h", "1d", "3d"}


@pytest.mark.django_db
def test_fast_burn_in_the_last_hour_pages_once(prometheus, sink_channel):
    slo = _slo(prometheus, "burn")
    for _ in range(3):
        result = slo_evaluate(slo=slo, now=_at(prometheus))
    assert result.burn_rates["1h"] == pytest.approx(50, abs=1)
    assert result.alert == "page"
    assert BurnEpisode.objects.filter(slo=slo, level="page").count() == 1
    assert sent("slo.burn_rate") == BurnEpisode.objects.filter(slo=slo).count()


@pytest.mark.django_db
def test_bearer_token_is_encrypted_at_rest(prometheus):
    from django.db import connection

    source = _slo(prometheus, "steady").prometheus_source
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT bearer_token FROM {PrometheusSource._meta.db_table} WHERE id = %s", [source.pk])
        stored = cursor.fetchone()[0]
    assert stored.startswith("fernet:") and "s3cret" not in stored
    assert PrometheusSource.objects.get(pk=source.pk).bearer_token == "s3cret-token"


@pytest.mark.django_db
def test_stopped_prometheus_is_unknown_never_ok_and_notified_once(prometheus, sink_channel):
    slo = _slo(prometheus, "steady")
    assert slo_evaluate(slo=slo, now=_at(prometheus)).budget_status == "ok"
    prometheus.stop()
    try:
        first = slo_evaluate(slo=slo, now=_at(prometheus))
        second = slo_evaluate(slo=slo, now=_at(prometheus))
        slo.refresh_from_db()
        assert first.budget_status == second.budget_status == slo.budget_status == "unknown"
        assert not first.succeeded and "unreachable" in first.error
        assert slo.last_error and slo.failing_since is not None
        assert slo.sli is None and slo.error_budget_remaining is None and slo.alert == ""
        assert sent("slo.evaluation_failed") == 1
        failed = SLOStatus.objects.filter(slo=slo, succeeded=False)
        assert failed.count() == 2 and not failed.exclude(budget_status="unknown").exists()
    finally:
        prometheus.start()
    recovered = slo_evaluate(slo=slo, now=_at(prometheus))
    slo.refresh_from_db()
    assert recovered.budget_status == "ok" and slo.failing_since is None and slo.last_error == ""
    statuses = list(SLOStatus.objects.filter(slo=slo).order_by("id").values_list("budget_status", flat=True))
    assert statuses == ["ok", "unknown", "unknown", "ok"]


@pytest.mark.django_db
def test_query_error_is_a_failed_evaluation(prometheus):
    slo = _slo(prometheus, "steady")
    slo.good_query = "slo_requests_good_total{"  # a PromQL syntax error
    slo.save()
    result = slo_evaluate(slo=slo, now=_at(prometheus))
    assert not result.succeeded and "bad_data" in result.error
    assert result.budget_status == "unknown"
