"""OpenSLO v1 import and export: lossless round trip, whole-file refusal, idempotent import."""

import io
from pathlib import Path

import pytest
import yaml
from django.core.management import CommandError, call_command

from governance.models import AuditEvent
from slos.models import SLO, PrometheusSource
from tests.factories import ServiceFactory, TeamFactory

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "slos" / "examples").glob("*.yaml"))
pytestmark = pytest.mark.django_db


@pytest.fixture
def catalog(db):
    team = TeamFactory(slug="payments", name="Payments")
    ServiceFactory(slug="checkout-api", owner_team=team)
    ServiceFactory(slug="payouts", owner_team=team)


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_round_trip_is_lossless(catalog, tmp_path, example):
    call_command("slos_import", str(example), stdout=io.StringIO())
    out = tmp_path / "export.yaml"
    call_command("slos_export", str(out), "--format", "openslo", stderr=io.StringIO())
    assert list(yaml.safe_load_all(out.read_text())) == list(yaml.safe_load_all(example.read_text()))
    # and the export imports to the same state again
    call_command("slos_import", str(out), stdout=io.StringIO())
    again = tmp_path / "again.yaml"
    call_command("slos_export", str(again), stderr=io.StringIO())
    assert again.read_text() == out.read_text()


def test_examples_are_shipped():
    assert EXAMPLES, "slos/examples/*.yaml"


def test_importing_twice_changes_nothing(catalog, tmp_path, capsys):
    call_command("slos_import", str(EXAMPLES[0]))
    audits = AuditEvent.objects.count()
    before = list(SLO.objects.order_by("slug").values())
    call_command("slos_import", str(EXAMPLES[0]))
    assert AuditEvent.objects.count() == audits
    assert list(SLO.objects.order_by("slug").values()) == before
    assert "0 created, 0 updated, 4 unchanged" in capsys.readouterr().out


def _broken(text: str, tmp_path: Path) -> Path:
    path = tmp_path / "broken.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("target: 0.99\n", "target: 1.5\n", "document 3 (SLO checkout-latency): spec.objectives[0].target: expected"),
        ("service: payouts", "service: nowhere", "document 4 (SLO payouts-batch-success): spec.service: expected"),
        (
            "budgetingMethod: Occurrences\n  objectives:\n  - displayName: Checkout latency",
            "budgetingMethod: Timeslices\n  objectives:\n  - displayName: Checkout latency",
            "spec.budgetingMethod: expected Occurrences",
        ),
        (
            "url: http://prometheus.internal:9090",
            "url: file:///etc/passwd",
            "spec.connectionDetails.url: expected an http",
        ),
        ("  - duration: 30d", "  - duration: 7d", "spec.timeWindow[0]: expected duration 28d or 30d"),
    ],
)
def test_an_invalid_document_refuses_the_whole_file(catalog, tmp_path, old, new, expected):
    text = EXAMPLES[0].read_text()
    assert old in text
    path = _broken(text.replace(old, new, 1), tmp_path)
    with pytest.raises(CommandError) as refused:
        call_command("slos_import", str(path))
    assert expected in str(refused.value)
    assert not SLO.objects.exists() and not PrometheusSource.objects.exists()


def test_unknown_data_source_reference_is_named(catalog, tmp_path):
    text = EXAMPLES[0].read_text().replace("metricSourceRef: prometheus-prod", "metricSourceRef: elsewhere", 1)
    with pytest.raises(CommandError) as refused:
        call_command("slos_import", str(_broken(text, tmp_path)))
    assert "metricSource.metricSourceRef: expected a known DataSource, not 'elsewhere'" in str(refused.value)
