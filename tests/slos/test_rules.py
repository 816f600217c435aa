"""Prometheus rules export: promtool check rules, and promtool test rules on a fast burn and a steady rate."""

import io
import os
import shutil
import subprocess
from decimal import Decimal

import pytest
import yaml
from django.core.management import call_command

from slos.services import prometheus_source_save, slo_save
from tests.factories import ServiceFactory

PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
pytestmark = pytest.mark.django_db


@pytest.fixture
def promtool():
    if not os.path.exists(PROMTOOL):
        if os.environ.get("CI") == "true":
            pytest.fail("promtool is required in CI (apt-get install prometheus)")
        pytest.skip("promtool is not installed")
    return PROMTOOL


@pytest.fixture
def rules_file(tmp_path):
    source, _ = prometheus_source_save(name="prom", url="http://127.0.0.1:9090")
    service = ServiceFactory(slug="api")
    for scenario in ("fast", "steady"):
        slo_save(
            slug=f"api-{scenario}",
            name=f"API {scenario}",
            service=service,
            objective=Decimal("0.999"),
            window="28d",
            source_kind="prometheus",
            prometheus_source=source,
            good_query=f'requests_good_total{{scenario="{scenario}"}}',
            total_query=f'requests_total{{scenario="{scenario}"}}',
        )
    slo_save(slug="pushed-one", name="Pushed", service=service, objective=Decimal("0.99"), source_kind="pushed")
    path = tmp_path / "slo-rules.yaml"
    call_command("slos_export", str(path), "--format", "prometheus-rules", stderr=io.StringIO())
    return path


def test_promtool_check_rules_accepts_the_export(promtool, rules_file):
    result = subprocess.run([promtool, "check", "rules", str(rules_file)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    groups = yaml.safe_load(rules_file.read_text())["groups"]
    assert [g["name"] for g in groups] == ["vigil-slo-api-fast", "vigil-slo-api-steady"]  # pushed SLOs have no rules
    records = [r["record"] for r in groups[0]["rules"] if "record" in r]
    assert records == [f"slo:sli_error:ratio_rate{w}" for w in ("5m", "30m", "1h", "2h", "6h", "1d", "3d")]


def _alert(groups, slug, name):
    group = next(g for g in groups if g["name"] == f"vigil-slo-{slug}")
    return next(r for r in group["rules"] if r.get("alert") == name)


def test_promtool_test_rules_page_fires_on_fast_burn_and_not_on_a_steady_rate(promtool, rules_file, tmp_path):
    groups = yaml.safe_load(rules_file.read_text())["groups"]
    page = _alert(groups, "api-fast", "SLOErrorBudgetBurnPage")
    tests = {
        "rule_files": [str(rules_file)],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    # 10 % errors: burn rate 100 against 99.9 %
                    {"series": 'requests_total{scenario="fast"}', "values": "0+1000x180"},
                    {"series": 'requests_good_total{scenario="fast"}', "values": "0+900x180"},
                    # a steady 0.1 % against 99.9 %: burn rate 1
                    {"series": 'requests_total{scenario="steady"}', "values": "0+1000x180"},
                    {"series": 'requests_good_total{scenario="steady"}', "values": "0+999x180"},
                ],
                "alert_rule_test": [
                    {
                        "eval_time": "90m",
                        "alertname": "SLOErrorBudgetBurnPage",
                        "exp_alerts": [
                            {
                                "exp_labels": {
                                    "slo": "api-fast",
                                    "service": "api",
                                    "severity": "critical",
                                    "vigil_alert": "page",
                                },
                                "exp_annotations": page["annotations"],
                            }
                        ],
                    },
                ],
            },
            {
                # the steady SLO alone: no page at any time
                "interval": "1m",
                "input_series": [
                    {"series": 'requests_total{scenario="steady"}', "values": "0+1000x180"},
                    {"series": 'requests_good_total{scenario="steady"}', "values": "0+999x180"},
                ],
                "alert_rule_test": [
                    {"eval_time": t, "alertname": "SLOErrorBudgetBurnPage", "exp_alerts": []}
                    for t in ("5m", "30m", "90m", "180m")
                ],
            },
        ],
    }
    test_file = tmp_path / "slo-rules.test.yaml"
    test_file.write_text(yaml.safe_dump(tests, sort_keys=False))
    result = subprocess.run([promtool, "test", "rules", str(test_file)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_test_rules_fails_when_the_steady_slo_is_expected_to_page(promtool, rules_file, tmp_path):
    """The test above could fail: expecting the steady SLO to page is refused by promtool."""
    tests = {
        "rule_files": [str(rules_file)],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    {"series": 'requests_total{scenario="steady"}', "values": "0+1000x180"},
                    {"series": 'requests_good_total{scenario="steady"}', "values": "0+999x180"},
                ],
                "alert_rule_test": [
                    {
                        "eval_time": "90m",
                        "alertname": "SLOErrorBudgetBurnPage",
                        "exp_alerts": [{"exp_labels": {"slo": "api-steady", "service": "api", "severity": "critical"}}],
                    }
                ],
            }
        ],
    }
    test_file = tmp_path / "wrong.test.yaml"
    test_file.write_text(yaml.safe_dump(tests, sort_keys=False))
    result = subprocess.run([promtool, "test", "rules", str(test_file)], capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
