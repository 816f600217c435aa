"""Pushed counts, evaluation, the budget policy, the release gate and suspect flagging (frozen time)."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db.models import Sum

from governance.choices import Role
from governance.errors import ValidationFailed
from governance.models import AuditEvent
from slos.models import BurnEpisode, HourlyCount, PushedInterval, SLOStatus
from slos.services import budget_exception_decide, budget_exception_request, slo_evaluate, slo_push_intervals
from slos.sources import pushed_counts
from tests.factories import person

from .conftest import hourly_history, minutes, push, sent

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
pytestmark = pytest.mark.django_db


def test_same_interval_twice_counts_once(pushed_slo):
    interval = {"start": NOW - timedelta(minutes=5), "end": NOW - timedelta(minutes=4), "good": 99, "total": 100}
    assert slo_push_intervals(slo=pushed_slo, intervals=[interval]) == {"created": 1, "updated": 0, "unchanged": 0}
    assert slo_push_intervals(slo=pushed_slo, intervals=[interval]) == {"created": 0, "updated": 0, "unchanged": 1}
    assert slo_push_intervals(slo=pushed_slo, intervals=[{**interval, "good": 97}]) == {
        "created": 0,
        "updated": 1,
        "unchanged": 0,
    }
    hour = HourlyCount.objects.get(slo=pushed_slo)
    assert (hour.good, hour.total) == (97, 100)
    assert PushedInterval.objects.filter(slo=pushed_slo).count() == 1


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"good": 101}, "intervals.0.good"),
        ({"good": -1}, "intervals.0.good"),
        ({"total": -5, "good": 0}, "intervals.0.total"),
        ({"end": NOW - timedelta(minutes=10)}, "intervals.0.end"),
        ({"end": NOW - timedelta(minutes=5)}, "intervals.0.end"),
    ],
)
def test_bad_intervals_are_refused_naming_the_field(pushed_slo, bad, field):
    interval = {"start": NOW - timedelta(minutes=5), "end": NOW - timedelta(minutes=4), "good": 99, "total": 100}
    with pytest.raises(ValidationFailed) as caught:
        slo_push_intervals(slo=pushed_slo, intervals=[{**interval, **bad}])
    assert field in caught.value.fields
    assert not PushedInterval.objects.exists()


def test_windows_from_rollups_equal_a_scan_of_the_raw_intervals(pushed_slo):
    """Irregular minute intervals across hour edges: every window equals the naive sum by start."""
    start = NOW - timedelta(days=4, minutes=17)
    intervals = []
    t, i = start, 0
    while t < NOW:
        step = timedelta(minutes=1 + (i % 7))
        intervals.append({"start": t, "end": t + step, "good": 1000 - (i % 13), "total": 1000 + (i % 5)})
        t += step
        i += 1
    push(pushed_slo, intervals)
    now = NOW - timedelta(minutes=23, seconds=30)
    counts = pushed_counts(pushed_slo, now)
    for name, seconds in {"5m": 300, "1h": 3600, "6h": 21600, "1d": 86400, "3d": 259200, "slo": 28 * 86400}.items():
        naive = PushedInterval.objects.filter(
            slo=pushed_slo, start__gte=now - timedelta(seconds=seconds), start__lt=now
        ).aggregate(g=Sum("good"), t=Sum("total"))
        assert counts[name] == (float(naive["g"]), float(naive["t"])), name


def test_window_reads_a_constant_number_of_queries(pushed_slo, django_assert_num_queries):
    push(pushed_slo, hourly_history(NOW, hours=24 * 28, total=1000, bad=0))
    with django_assert_num_queries(2):
        pushed_counts(pushed_slo, NOW + timedelta(minutes=7))


def test_steady_errors_give_the_expected_budget_and_no_alert(pushed_slo, sink_channel):
    push(pushed_slo, hourly_history(NOW, hours=24 * 28, total=100_000, bad=50))  # 0.05 % against 99.9 %
    with time_machine.travel(NOW, tick=False):
        result = slo_evaluate(slo=pushed_slo)
    assert result.error_budget_remaining == pytest.approx(0.5, abs=1e-9)
    assert result.budget_status == "ok"
    assert result.alert == ""
    assert result.burn_rates["1d"] == pytest.approx(0.5)
    assert not BurnEpisode.objects.exists()


def test_eighty_percent_consumed_warns_once(pushed_slo, sink_channel):
    push(pushed_slo, hourly_history(NOW, hours=24 * 28, total=100_000, bad=85))  # 85 % of the budget
    for minute in range(3):
        with time_machine.travel(NOW + timedelta(minutes=minute), tick=False):
            result = slo_evaluate(slo=pushed_slo)
    assert result.budget_status == "warning"
    assert sent("slo.budget_warning") == 1
    assert sent("slo.budget_exhausted") == 0
    assert SLOStatus.objects.filter(slo=pushed_slo).count() == 3
    assert AuditEvent.objects.filter(action="slo.budget_warning").count() == 1


def _exhaust(slo):
    push(slo, hourly_history(NOW, hours=24 * 28, total=100_000, bad=120))  # 120 % of the budget
    with time_machine.travel(NOW, tick=False):
        return slo_evaluate(slo=slo)


def _normal_change(service, version):
    from changes.services import change_approve, change_create, change_submit

    implementer = person("dev", Role.CHANGE_MANAGER)
    approver = person("approver", Role.CHANGE_MANAGER)
    change = change_create(
        title="Ship it", services=[service], kind="normal", release_tag=version, implementer=implementer
    )
    change_submit(change=change, actor=implementer)
    return change_approve(change=change, actor=approver)


def test_exhausted_budget_refuses_a_normal_deployment(pushed_slo, sink_channel, service):
    from changes.services import gate_evaluate

    result = _exhaust(pushed_slo)
    assert result.budget_status == "exhausted"
    assert sent("slo.budget_exhausted") == 1
    _normal_change(service, "v2")
    with time_machine.travel(NOW + timedelta(minutes=1), tick=False):
        gate = gate_evaluate(service=service, environment="production", version="v2")
    assert not gate.allowed
    (reason,) = [r for r in gate.reasons if r["code"] == "error_budget_exhausted"]
    assert reason["slo"] == "checkout-availability"
    assert reason["error_budget_remaining"] == pytest.approx(-0.2)


def test_standard_deployment_is_refused_too(pushed_slo, service):
    from changes.services import gate_evaluate

    _exhaust(pushed_slo)
    gate = gate_evaluate(service=service, environment="production", version="v9", now=NOW)
    assert [r["code"] for r in gate.reasons] == ["error_budget_exhausted"]


def test_approved_exception_lets_the_deployment_through(pushed_slo, service):
    from changes.services import gate_evaluate

    _exhaust(pushed_slo)
    _normal_change(service, "v2")
    requester = person("ops", Role.OPS_ADMIN)
    manager = person("cm", Role.CHANGE_MANAGER)
    exception = budget_exception_request(
        slo=pushed_slo, reason="Fix for the burn", valid_from=NOW, valid_until=NOW + timedelta(hours=2), actor=requester
    )
    assert not gate_evaluate(service=service, environment="production", version="v2", now=NOW).allowed
    with pytest.raises(Exception) as refused:
        budget_exception_decide(exception=exception, approve=True, actor=requester)
    assert getattr(refused.value, "code", "") == "permission_denied"
    budget_exception_decide(exception=exception, approve=True, actor=manager)
    assert gate_evaluate(
        service=service, environment="production", version="v2", now=NOW + timedelta(minutes=1)
    ).allowed
    assert not gate_evaluate(
        service=service, environment="production", version="v2", now=NOW + timedelta(hours=3)
    ).allowed


def test_emergency_change_passes_and_is_recorded(pushed_slo, service):
    from changes.services import change_create, change_submit, gate_evaluate

    _exhaust(pushed_slo)
    dev = person("dev", Role.CHANGE_MANAGER)
    change = change_create(title="Hotfix", services=[service], kind="emergency", release_tag="v3", implementer=dev)
    change_submit(change=change, actor=dev)
    gate = gate_evaluate(service=service, environment="production", version="v3", now=NOW)
    assert gate.allowed
    event = AuditEvent.objects.get(action="slo.budget_policy_bypassed")
    assert event.changes["change"] == [None, change.reference]


def test_budget_recovery_clears_the_policy(pushed_slo, service):
    from changes.services import gate_evaluate

    _exhaust(pushed_slo)
    PushedInterval.objects.all().delete()
    HourlyCount.objects.all().delete()
    push(pushed_slo, hourly_history(NOW, hours=24 * 28, total=100_000, bad=10))
    with time_machine.travel(NOW + timedelta(minutes=1), tick=False):
        result = slo_evaluate(slo=pushed_slo)
    assert result.budget_status == "ok"
    pushed_slo.refresh_from_db()
    assert pushed_slo.exhausted_since is None and pushed_slo.warning_since is None
    assert AuditEvent.objects.filter(action="slo.budget_recovered").count() == 1
    assert gate_evaluate(service=service, environment="production", version="v9", now=NOW).allowed


def test_burn_twenty_minutes_after_a_deployment_flags_it_suspect(pushed_slo, service, sink_channel, http_sink):
    from changes.models import ChangeEvent
    from changes.services import deployment_record

    deployed_at = NOW - timedelta(minutes=20)
    push(pushed_slo, hourly_history(NOW - timedelta(hours=1), hours=24 * 28, total=60_000, bad=6))
    push(pushed_slo, minutes(NOW - timedelta(hours=1), count=50, total=1000, bad=0))
    push(pushed_slo, minutes(NOW - timedelta(minutes=10), count=10, total=1000, bad=300))  # 30 % errors
    with time_machine.travel(deployed_at, tick=False):
        deployment = deployment_record(
            service=service, environment="production", version="v7", status="succeeded", started_at=deployed_at
        ).deployment
    for minute in range(3):
        with time_machine.travel(NOW + timedelta(seconds=minute * 20), tick=False):
            result = slo_evaluate(slo=pushed_slo)
    assert result.alert == "page"
    episode = BurnEpisode.objects.get(slo=pushed_slo, level="page")
    assert episode.suspect_deployment == deployment
    assert sent("slo.burn_rate") == 1  # one page episode across three evaluations
    assert sent("change.suspect") == 1
    event = ChangeEvent.objects.get(kind="suspect", change=deployment.change)
    assert event.data["slo"] == "checkout-availability"
    from alerting.models import Notification

    burn = Notification.objects.filter(event_type="slo.burn_rate").first()
    latest = burn.context["data"]["latest_deployment"]
    assert (latest["id"], latest["version"], latest["change"]) == (deployment.pk, "v7", deployment.change.reference)
    assert burn.context["data"]["suspect_deployment"] == deployment.pk


def test_page_opens_an_incident_once_and_links_later_episodes(pushed_slo, service):
    from incidents.models import Incident

    pushed_slo.incident_severity = "SEV2"
    pushed_slo.save()
    push(pushed_slo, hourly_history(NOW - timedelta(hours=1), hours=24, total=60_000, bad=0))
    push(pushed_slo, minutes(NOW - timedelta(hours=1), count=60, total=1000, bad=100))
    with time_machine.travel(NOW, tick=False):
        slo_evaluate(slo=pushed_slo)
    # the burn stops (an hour of clean minutes), then starts again
    push(pushed_slo, minutes(NOW, count=120, total=1000, bad=0))
    with time_machine.travel(NOW + timedelta(hours=2), tick=False):
        assert slo_evaluate(slo=pushed_slo).alert != "page"
    push(pushed_slo, minutes(NOW + timedelta(hours=2), count=60, total=1000, bad=200))
    with time_machine.travel(NOW + timedelta(hours=3), tick=False):
        assert slo_evaluate(slo=pushed_slo).alert == "page"
    pages = list(BurnEpisode.objects.filter(slo=pushed_slo, level="page").order_by("started_at"))
    assert len(pages) == 2
    assert pages[0].ended_at is not None
    assert Incident.objects.count() == 1
    assert pages[0].incident_id == pages[1].incident_id is not None
    from django.test import Client
    from django.urls import reverse

    client = Client()
    client.force_login(person("commander", Role.INCIDENT_COMMANDER))
    page = client.get(reverse("admin:incidents_incident_change", args=[pages[0].incident_id])).content.decode()
    assert "SLO burns" in page and page.count("checkout-availability") >= 2


def test_no_data_is_unknown_never_ok(pushed_slo):
    with time_machine.travel(NOW, tick=False):
        result = slo_evaluate(slo=pushed_slo)
    assert result.budget_status == "unknown"
    assert result.error_budget_remaining is None


def test_burn_outside_the_watch_window_flags_nothing(pushed_slo, service, sink_channel):
    from changes.services import deployment_record

    deployed_at = NOW - timedelta(minutes=90)  # the default watch window is 60 minutes
    push(pushed_slo, hourly_history(NOW - timedelta(hours=1), hours=24, total=60_000, bad=0))
    push(pushed_slo, minutes(NOW - timedelta(minutes=10), count=10, total=1000, bad=300))
    with time_machine.travel(deployed_at, tick=False):
        deployment_record(
            service=service, environment="production", version="v6", status="succeeded", started_at=deployed_at
        )
    with time_machine.travel(NOW, tick=False):
        assert slo_evaluate(slo=pushed_slo).alert == "page"
    assert BurnEpisode.objects.get(slo=pushed_slo, level="page").suspect_deployment is None
    assert sent("change.suspect") == 0


@pytest.mark.parametrize(
    ("rates", "alert"),
    [
        ({"1h": 14.4, "5m": 14.4}, "page"),
        ({"1h": 14.4, "5m": 14.3}, ""),
        ({"6h": 6.0, "30m": 7.0}, "page"),
        ({"1d": 3.0, "2h": 3.0}, "ticket"),
        ({"3d": 1.0, "6h": 1.0}, "ticket"),
        ({"3d": 0.99, "6h": 5.9, "30m": 100.0}, ""),
        ({"1h": 20.0, "5m": None}, ""),
    ],
)
def test_multiwindow_rules(pushed_slo, rates, alert):
    """Burn rate r over a window is an error ratio of r × budget: build the counts from the rates."""
    from slos.services import compute

    budget = pushed_slo.error_budget
    counts = dict.fromkeys(("5m", "30m", "1h", "2h", "6h", "1d", "3d"))
    for name, rate in rates.items():
        counts[name] = None if rate is None else (1_000_000 * (1 - rate * budget), 1_000_000.0)
    counts["slo"] = (999_900.0, 1_000_000.0)
    assert compute(pushed_slo, counts, NOW).alert == alert


def test_calendar_month_window_starts_on_the_first(pushed_slo):
    from slos.windows import window_start

    assert window_start("month", datetime(2026, 11, 20, 12, 0, tzinfo=UTC)) == datetime(2026, 11, 1, tzinfo=UTC)
    pushed_slo.window = "month"
    pushed_slo.save()
    push(pushed_slo, hourly_history(datetime(2026, 11, 1, 2, tzinfo=UTC), hours=24, total=1000, bad=500))  # October
    push(pushed_slo, hourly_history(NOW, hours=24, total=1000, bad=1))
    with time_machine.travel(NOW, tick=False):
        result = slo_evaluate(slo=pushed_slo)
    assert result.total == 24_000 + 2_000  # the 24 h before NOW, and 1 Nov 00:00-02:00; not October
    assert result.sli == pytest.approx((23_976 + 1_000) / 26_000)


def test_raw_intervals_past_the_retention_are_purged_rollups_kept_and_late_pushes_refused(pushed_slo):
    from slos.services.pushed import slos_purge_raw_intervals

    old = NOW - timedelta(days=45)
    push(pushed_slo, minutes(old, count=120, total=100, bad=1))
    push(pushed_slo, minutes(NOW - timedelta(hours=2), count=60, total=100, bad=0))
    hours_before = list(HourlyCount.objects.order_by("hour").values_list("hour", "good", "total"))
    assert slos_purge_raw_intervals(now=NOW) == 120
    assert PushedInterval.objects.count() == 60
    assert list(HourlyCount.objects.order_by("hour").values_list("hour", "good", "total")) == hours_before
    with pytest.raises(ValidationFailed) as refused:
        push(pushed_slo, minutes(old, count=1, total=100, bad=50))
    assert "intervals.0.start" in refused.value.fields
    assert slos_purge_raw_intervals(now=NOW) == 0
    assert AuditEvent.objects.filter(action="slo.purge_raw_intervals").count() == 1
