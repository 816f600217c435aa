"""Runbooks as code: import a folder twice (no new version), edit one file (one new version),
export then import (no-op); bad files are refused with file and line, the rest still import."""

import shutil

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from runbooks.models import Runbook, RunbookVersion
from runbooks.starter import STARTER_DIR

pytestmark = pytest.mark.django_db

GOOD = """---
slug: cache-flush
title: Flush the cache
service: checkout-api
severities: [SEV2]
alert_names: [CacheHitRateLow]
---
## Step 1: Flush
```sh
redis-cli FLUSHDB
```
Expected: OK
"""


@pytest.fixture
def starter_copy(tmp_path):
    folder = tmp_path / "runbooks"
    shutil.copytree(STARTER_DIR, folder)
    return folder


def run(*args) -> tuple[str, int]:
    from io import StringIO

    out = StringIO()
    try:
        call_command(*args, stdout=out)
    except CommandError as exc:
        return out.getvalue(), exc.returncode
    return out.getvalue(), 0


def test_importing_the_starter_folder_twice_makes_no_new_version(starter_copy):
    out, code = run("runbooks_import", str(starter_copy))
    assert code == 0, out
    files = len(list(starter_copy.glob("*.md")))
    assert f"{files} created" in out
    versions = RunbookVersion.objects.count()
    assert versions == files and Runbook.objects.filter(status="published").count() == files

    out, code = run("runbooks_import", str(starter_copy))
    assert code == 0 and f"{files} unchanged" in out
    assert RunbookVersion.objects.count() == versions


def test_editing_one_file_makes_exactly_one_new_version(starter_copy):
    run("runbooks_import", str(starter_copy))
    before = RunbookVersion.objects.count()
    target = starter_copy / "notification-dead-letters.md"
    target.write_text(target.read_text().replace("within a minute", "within two minutes"))

    out, code = run("runbooks_import", str(starter_copy))
    assert code == 0
    assert "new version" in out and "notification-dead-letters: v2" in out
    assert RunbookVersion.objects.count() == before + 1
    runbook = Runbook.objects.get(slug="notification-dead-letters")
    assert runbook.current_version.number == 2 and "within two minutes" in runbook.current_version.body
    assert "within a minute" in runbook.versions.get(number=1).body  # the old version is intact


def test_export_then_import_is_a_no_op(starter_copy, tmp_path):
    run("runbooks_import", str(starter_copy))
    before = list(RunbookVersion.objects.order_by("pk").values_list("pk", "content_sha256"))
    exported = tmp_path / "exported"
    out, code = run("runbooks_export", str(exported))
    assert code == 0 and len(list(exported.glob("*.md"))) == len(before)

    out, code = run("runbooks_import", str(exported))
    assert code == 0
    assert f"{len(before)} unchanged" in out, out
    assert list(RunbookVersion.objects.order_by("pk").values_list("pk", "content_sha256")) == before
    # and the round trip is lossless: exporting again writes the same bytes
    again = tmp_path / "again"
    run("runbooks_export", str(again))
    for file in exported.glob("*.md"):
        assert (again / file.name).read_bytes() == file.read_bytes()


def test_bad_files_are_refused_with_file_and_line_and_the_others_still_import(tmp_path, service):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "good.md").write_text(GOOD)
    (folder / "no-front-matter.md").write_text("## Step 1: x\n```sh\nls\n```\n")
    (folder / "unknown-service.md").write_text(GOOD.replace("cache-flush", "other").replace("checkout-api", "nope"))
    (folder / "zz-duplicate.md").write_text(GOOD.replace("Flush the cache", "Another"))
    (folder / "latin1.md").write_bytes(GOOD.replace("Flush the cache", "Caf\u00e9").encode("latin-1"))
    (folder / "bad-yaml.md").write_text("---\nslug: x\ntitle: [unclosed\n---\n## Step 1\n")

    out, code = run("runbooks_import", str(folder))
    assert code == 1
    lines = {line.split()[1]: line for line in out.splitlines() if line.startswith(("created", "rejected"))}
    assert lines["good.md"].startswith("created")
    assert "rejected" in lines["no-front-matter.md"] and "line 1: no front matter" in lines["no-front-matter.md"]
    assert "line 4: unknown service 'nope'" in lines["unknown-service.md"]
    assert "line 2: duplicate slug 'cache-flush' (also in good.md)" in lines["zz-duplicate.md"]
    assert "line 3: not UTF-8" in lines["latin1.md"]
    assert "bad-yaml.md" in lines and "line 3" in lines["bad-yaml.md"]
    assert "1 created" in out and "5 rejected" in out
    assert list(Runbook.objects.values_list("slug", flat=True)) == ["cache-flush"]


def test_front_matter_sets_what_the_runbook_applies_to_and_its_cadence(tmp_path, service):
    file = tmp_path / "weekly.md"
    file.write_text(
        GOOD.replace(
            "alert_names: [CacheHitRateLow]\n",
            "alert_names: [CacheHitRateLow]\nowner: payments\n"
            "review_interval_days: 30\ncadence:\n  schedule: '0 8 * * 1'\n  timezone: Europe/Amsterdam\n"
            "  deadline_hours: 4\n",
        )
    )
    out, code = run("runbooks_import", str(file))
    assert code == 0, out
    runbook = Runbook.objects.get(slug="cache-flush")
    assert runbook.severities == ["SEV2"] and runbook.alert_names == ["CacheHitRateLow"]
    assert runbook.owner_team.slug == "payments" and runbook.review_interval_days == 30
    assert (runbook.cadence, runbook.cadence_timezone, runbook.procedure_deadline_hours) == (
        "0 8 * * 1",
        "Europe/Amsterdam",
        4,
    )
    assert runbook.assign_on_call is True


def test_a_bad_cron_expression_is_refused_on_its_line(tmp_path, service):
    file = tmp_path / "bad.md"
    file.write_text(GOOD.replace("alert_names: [CacheHitRateLow]\n", "alert_names: []\ncadence: every tuesday\n"))
    out, code = run("runbooks_import", str(file))
    assert code == 1 and "line 7:" in out and "cron expression" in out


def test_load_starter_runbooks_is_idempotent():
    out, code = run("load_starter_runbooks")
    assert code == 0 and "0 rejected" in out
    count = RunbookVersion.objects.count()
    out, code = run("load_starter_runbooks")
    assert code == 0 and RunbookVersion.objects.count() == count
    assert Runbook.objects.get(slug="weekly-slo-and-incident-review").cadence == "weekly"


def test_a_retired_runbook_is_not_revived_by_its_file(tmp_path, service, approver):
    from runbooks.services import runbook_retire

    file = tmp_path / "cache.md"
    file.write_text(GOOD)
    run("runbooks_import", str(file))
    runbook_retire(runbook=Runbook.objects.get(slug="cache-flush"), reason="replaced", actor=approver)
    file.write_text(GOOD.replace("Expected: OK", "Expected: OK, 0 keys"))
    out, code = run("runbooks_import", str(file))
    assert code == 0 and "retired" in out and "1 retired" in out
    runbook = Runbook.objects.get(slug="cache-flush")
    assert runbook.status == "retired" and runbook.versions.count() == 1
