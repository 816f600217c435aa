"""The backups API: runs, tool reports and targets, with the kernel's error format."""

import datetime as dt
import json
from pathlib import Path

import pytest

from backups.models import BackupRun

SAMPLES = Path(__file__).parent / "samples"
RUNS = "/api/v1/backups/runs/"


def _body(**fields):
    body = {
        "target": "payments-db",
        "status": "succeeded",
        "kind": "full",
        "started_at": "2026-11-23T09:00:00+01:00",
        "finished_at": "2026-11-23T09:05:00+01:00",
        "size_bytes": 1024,
        "sha256": "a" * 64,
        "external_id": "nightly-1",
    }
    body.update(fields)
    return body


@pytest.fixture
def reporter(api_client_for):
    return api_client_for("backups:report")


def test_a_run_is_created_then_the_same_external_id_updates_it(reporter, target):
    response = reporter.post(RUNS, _body(status="running", finished_at=None), format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["started_at"] == "2026-11-23T08:00:00Z"
    response = reporter.post(RUNS, _body(), format="json")
    assert response.status_code == 200
    run = BackupRun.objects.get()
    assert run.status == "succeeded" and run.size_bytes == 1024
    target.refresh_from_db()
    assert target.last_success_at == dt.datetime(2026, 11, 23, 8, 5, tzinfo=dt.UTC)


def test_an_unknown_target_is_404(reporter, target):
    response = reporter.post(RUNS, _body(target="nope"), format="json")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_finished_before_started_is_400_naming_the_field(reporter, target):
    response = reporter.post(RUNS, _body(finished_at="2026-11-23T08:59:00+01:00"), format="json")
    assert response.status_code == 400
    assert "finished_at" in response.json()["error"]["fields"]


@pytest.mark.parametrize("sha", ["abc", "g" * 64, "a" * 63, "a" * 65])
def test_a_malformed_sha256_is_400(reporter, target, sha):
    response = reporter.post(RUNS, _body(sha256=sha), format="json")
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["sha256"]
    assert not BackupRun.objects.exists()


def test_a_missing_status_and_a_naive_time_are_400(reporter, target):
    body = _body(started_at="2026-11-23T09:00:00")
    del body["status"]
    response = reporter.post(RUNS, body, format="json")
    assert response.status_code == 400
    assert "status" in response.json()["error"]["fields"]


def test_reporting_needs_the_report_scope(api_client_for, target):
    response = api_client_for("backups:read").post(RUNS, _body(), format="json")
    assert response.status_code == 403


def test_tool_report_counts_and_is_idempotent(reporter, target):
    url = f"/api/v1/backups/targets/{target.slug}/report/?format=pgbackrest"
    data = (SAMPLES / "pgbackrest_info.json").read_text()
    first = reporter.post(url, data, content_type="application/json")
    assert first.status_code == 200, first.json()
    assert first.json() == {"created": 2, "updated": 0, "unchanged": 0}
    second = reporter.post(url, data, content_type="application/json")
    assert second.json() == {"created": 0, "updated": 0, "unchanged": 2}


def test_tool_report_in_the_wrong_format_is_400_naming_what_was_expected(reporter, target):
    url = f"/api/v1/backups/targets/{target.slug}/report/?format=walg"
    response = reporter.post(url, (SAMPLES / "pgbackrest_info.json").read_text(), content_type="application/json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "wrong_format"
    assert "wal-g backup-list --json --detail" in error["message"]
    bad = reporter.post(
        f"/api/v1/backups/targets/{target.slug}/report/?format=tar", "{}", content_type="application/json"
    )
    assert bad.status_code == 400 and "format" in bad.json()["error"]["fields"]


def test_tool_report_for_an_unknown_target_is_404(reporter, db):
    response = reporter.post(
        "/api/v1/backups/targets/nope/report/?format=restic", "[]", content_type="application/json"
    )
    assert response.status_code == 404
    assert "nope" in response.json()["error"]["message"]


def test_targets_list_freshness_breach_and_next_drill(api_client_for, target, django_assert_max_num_queries):
    from backups.services import rpo_monitor

    rpo_monitor(now=dt.datetime.now(tz=dt.UTC) + dt.timedelta(hours=2))
    client = api_client_for("backups:read")
    with django_assert_max_num_queries(8):
        response = client.get("/api/v1/backups/targets/")
    assert response.status_code == 200
    row = response.json()["results"][0] if "results" in response.json() else response.json()[0]
    assert row["slug"] == target.slug
    assert row["rpo_breached"] is True
    assert row["last_success_at"] is None
    assert row["next_drill_due"]
    json.dumps(row)


@pytest.mark.parametrize(
    ("tool", "body"),
    [
        ("restic", '[{"id": "abc", "time": "2026-11-23T09:00:00Z", "paths": [1, 2]}]'),
        ("restic", '[{"id": "abc", "time": 12}]'),
        ("pgbackrest", '[{"name": "x", "backup": [{"label": "L", "timestamp": {"start": "soon", "stop": 1}}]}]'),
        ("walg", '[{"backup_name": "b", "start_time": ["x"]}]'),
        ("barman", '{"pg": [{"backup_id": "1", "status": "DONE", "end_time_timestamp": "1e99"}]}'),
        ("barman", '{"pg": "nope"}'),
        ("pgbackrest", "\xff\xfe garbage"),
    ],
)
def test_malformed_tool_output_is_a_400_never_a_500(reporter, target, tool, body):
    url = f"/api/v1/backups/targets/{target.slug}/report/?format={tool}"
    response = reporter.post(url, body, content_type="application/json")
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] in ("wrong_format", "validation_error")


def test_an_oversized_size_is_400(reporter, target):
    response = reporter.post(RUNS, _body(size_bytes=2**64), format="json")
    assert response.status_code == 400 and "size_bytes" in response.json()["error"]["fields"]
