"""Admin pages, dashboard panel, gauges, ops_status lines, scorecard, evidence, demo seeder, self-feed."""

import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from governance.choices import Role
from governance.models import AuditEvent
from governance.registries import evidence_exporters, metrics, scorecard_dimensions, status_sources
from slos.models import SLO, PrometheusSource, PushedInterval
from slos.services import slo_evaluate, slo_save
from tests.factories import person

from .conftest import hourly_history, minutes, push

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
pytestmark = pytest.mark.django_db


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _evaluated(slo, bad_per_100k=50):
    push(slo, hourly_history(NOW, hours=24 * 28, total=100_000, bad=bad_per_100k))
    with time_machine.travel(NOW, tick=False):
        slo_evaluate(slo=slo)
    slo.refresh_from_db()
    return slo


def test_slo_list_shows_budget_bar_burn_rates_and_status(pushed_slo):
    _evaluated(pushed_slo)
    page = logged_in(person("auditor", Role.AUDITOR)).get(reverse("admin:slos_slo_changelist")).content.decode()
    assert "checkout-availability" in page
    assert "50.0 %" in page  # the budget bar's label
    assert "1h 0.5×" in page
    assert "OK" in page


def test_slo_page_has_the_budget_chart_and_episodes(pushed_slo):
    push(pushed_slo, hourly_history(NOW - timedelta(hours=1), hours=24, total=60_000, bad=0))
    push(pushed_slo, minutes(NOW - timedelta(hours=1), count=60, total=1000, bad=100))
    with time_machine.travel(NOW, tick=False):
        slo_evaluate(slo=pushed_slo)
    client = logged_in(person("ops", Role.OPS_ADMIN))
    with time_machine.travel(NOW + timedelta(minutes=1), tick=False):
        page = client.get(reverse("admin:slos_slo_change", args=[pushed_slo.pk])).content.decode()
    assert '<svg xmlns="http://www.w3.org/2000/svg"' in page
    assert 'class="episode"' in page and 'class="consumed"' in page
    assert "burning" in page  # the open episode


def test_changelist_query_count_is_constant(service):
    client = logged_in(person("auditor", Role.AUDITOR))
    slo_save(slug="one", name="One", service=service, objective=Decimal("0.99"))

    def count():
        with CaptureQueriesContext(connection) as captured:
            assert client.get(reverse("admin:slos_slo_changelist")).status_code == 200
        return len(captured)

    few = count()
    for n in range(15):
        slo_save(slug=f"slo-{n}", name=f"SLO {n}", service=service, objective=Decimal("0.999"))
    assert count() == few


def test_people_without_a_role_see_no_slos(pushed_slo):
    client = logged_in(person("nobody"))
    assert client.get(reverse("admin:slos_slo_changelist")).status_code == 403
    assert client.get(reverse("admin:slos_review")).status_code == 403


def test_auditor_cannot_change_an_slo_or_add_a_source(pushed_slo):
    client = logged_in(person("auditor", Role.AUDITOR))
    assert client.get(reverse("admin:slos_prometheussource_add")).status_code == 403
    response = client.post(reverse("admin:slos_slo_change", args=[pushed_slo.pk]), {"name": "x"})
    assert response.status_code == 403


def test_source_token_set_in_the_admin_is_encrypted_and_not_audited(db):
    client = logged_in(person("ops", Role.OPS_ADMIN))
    response = client.post(
        reverse("admin:slos_prometheussource_add"),
        {"name": "prod", "url": "http://10.0.0.5:9090", "bearer_token": "tok-123456", "timeout_seconds": "5"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    source = PrometheusSource.objects.get(name="prod")
    assert source.bearer_token == "tok-123456"
    assert not AuditEvent.objects.filter(changes__icontains="tok-123456").exists()
    response = client.post(
        reverse("admin:slos_prometheussource_change", args=[source.pk]),
        {"name": "prod", "url": "ftp://10.0.0.5", "bearer_token": "", "timeout_seconds": "5"},
    )
    assert response.status_code == 200 and "http:// or https://" in response.content.decode()


def test_weekly_review_page_and_csv(pushed_slo):
    _evaluated(pushed_slo)
    client = logged_in(person("auditor", Role.AUDITOR))
    with time_machine.travel(NOW + timedelta(minutes=1), tick=False):
        page = client.get(reverse("admin:slos_review")).content.decode()
        csv_text = client.get(reverse("admin:slos_review_csv")).content.decode()
    assert "Weekly SLO review" in page and "checkout-availability" in page
    header, row = csv_text.strip().splitlines()[:2]
    assert header.startswith("period_start,period_end,slo,name,service,objective")
    assert ",checkout-availability," in row and "0.999500" in row


def test_dashboard_panel_lists_burning_and_exhausted(pushed_slo):
    _evaluated(pushed_slo, bad_per_100k=120)
    page = logged_in(person("auditor", Role.AUDITOR)).get("/admin/").content.decode()
    assert "SLOs burning or exhausted" in page
    assert "checkout-availability" in page


def test_gauges_status_lines_scorecard_and_evidence(pushed_slo):
    _evaluated(pushed_slo, bad_per_100k=120)
    budgets = {tuple(sorted(k.items())): v for k, v in metrics.get("vigil_slo_error_budget_remaining").collect()}
    assert budgets[(("service", "checkout-api"), ("slo", "checkout-availability"))] == pytest.approx(-0.2)
    burn = {k["window"]: v for k, v in metrics.get("vigil_slo_burn_rate").collect()}
    assert burn["1d"] == pytest.approx(1.2)
    lines = {r.name: r for r in status_sources.get("slos").collect()}
    assert lines["slos:budgets"].status == "critical" and "checkout-availability" in lines["slos:budgets"].detail
    score = scorecard_dimensions.get("service_levels").score()
    assert 0 <= score["score"] <= 100 and score["facts"]
    columns, rows = evidence_exporters.get("slo_attainment").export(NOW - timedelta(days=7), NOW)
    (row,) = rows
    record = dict(zip(columns, row, strict=True))
    assert record["slo"] == "checkout-availability"
    assert float(record["achieved_sli"]) == pytest.approx(0.9988)
    assert record["met"] is False
    assert float(record["budget_consumed"]) == pytest.approx(1.2)


def test_metrics_endpoint_exposes_the_gauges(pushed_slo, settings):
    settings.METRICS_PUBLIC = True
    _evaluated(pushed_slo)
    body = Client().get("/metrics").content.decode()
    assert 'vigil_slo_error_budget_remaining{service="checkout-api",slo="checkout-availability"} 0.5' in body
    assert 'vigil_slo_burn_rate{service="checkout-api",slo="checkout-availability",window="1h"}' in body


def test_demo_seeder_is_idempotent_and_live(db):
    call_command("seed_demo", stdout=StringIO())
    slos = {s.slug: s for s in SLO.objects.all()}
    assert {"vigil-api-availability", "vigil-alert-receipt"} <= set(slos)
    assert slos["vigil-api-availability"].objective == Decimal("0.9995")
    assert slos["vigil-alert-receipt"].objective == Decimal("0.99999")
    assert slos["vigil-api-availability"].budget_status != "unknown"
    count = PushedInterval.objects.count()
    call_command("seed_demo", stdout=StringIO())
    assert PushedInterval.objects.count() == count


@pytest.fixture
def metrics_server():
    state = {"total": 100, "errors": 1}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            body = (
                "# TYPE django_http_responses_total_by_status_total counter\n"
                f'django_http_responses_total_by_status_total{{status="200"}} {state["total"] - state["errors"]}.0\n'
                f'django_http_responses_total_by_status_total{{status="503"}} {state["errors"]}.0\n'
            ).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/metrics", state
    server.shutdown()
    server.server_close()


def test_self_feed_pushes_vigils_own_request_counts(db, settings, metrics_server):
    from django.core.cache import cache

    from slos import demo

    url, state = metrics_server
    settings.SLOS_SELF_METRICS_URL = url
    cache.delete(demo.CURSOR_KEY)
    call_command("seed_demo", stdout=StringIO())
    now = timezone.now()
    assert demo.feed_api(now) == "first reading kept"
    state["total"], state["errors"] = 160, 4
    assert demo.feed_api(now + timedelta(minutes=1)) == "60 request(s), 3 5xx"
    slo = SLO.objects.get(slug=demo.API_SLO)
    interval = PushedInterval.objects.get(slo=slo, start=now)
    assert (interval.good, interval.total) == (57, 60)


def test_change_manager_approves_a_budget_exception_in_the_admin_not_the_requester(pushed_slo):
    from slos.models import BudgetException
    from slos.services import budget_exception_request

    ops = person("ops", Role.OPS_ADMIN)
    exception = budget_exception_request(
        slo=pushed_slo, reason="Ship the fix", valid_from=NOW, valid_until=NOW + timedelta(hours=4), actor=ops
    )
    url = reverse("admin:slos_budgetexception_actions", args=[exception.pk, "approve"])
    logged_in(ops).post(url)
    exception.refresh_from_db()
    assert exception.status == "requested"  # Ops Admins request; Change Managers decide
    manager = person("cm", Role.CHANGE_MANAGER)
    logged_in(manager).post(url)
    exception.refresh_from_db()
    assert exception.status == "approved" and exception.decided_by == manager
    assert AuditEvent.objects.filter(action="budget_exception.approve", object_id=str(exception.pk)).exists()
    assert BudgetException.objects.count() == 1
