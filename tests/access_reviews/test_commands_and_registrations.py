from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from access_reviews import services, tasks
from access_reviews.choices import Decision, EmploymentStatus
from access_reviews.models import AccessGrant, Campaign, SnapshotImport
from governance.models import JobRun
from governance.registries import evidence_exporters, metrics, scheduled_jobs, scorecard_dimensions, status_sources

from .helpers import snapshot

pytestmark = pytest.mark.django_db


def test_import_access_snapshot_command_prints_counts(org, tmp_path):
    path = tmp_path / "grants.csv"
    path.write_text("account,email,entitlement\ncarol,carol@example.com,read\nerin,erin@example.com,read\n")
    out = StringIO()
    call_command("import_access_snapshot", "--system", "billing-db", str(path), stdout=out)
    assert "billing-db: 2 added, 0 removed, 0 changed" in out.getvalue()


def test_import_access_snapshot_command_refuses_a_bad_file_and_changes_nothing(org, tmp_path):
    path = tmp_path / "grants.csv"
    path.write_text("account,entitlement\ncarol,read\ncarol,read\n")
    err = StringIO()
    with pytest.raises(CommandError, match="row 3, column account"):
        call_command("import_access_snapshot", "--system", "billing-db", str(path), stderr=err)
    assert not AccessGrant.objects.exists() and not SnapshotImport.objects.exists()
    with pytest.raises(CommandError, match="Unknown system"):
        call_command("import_access_snapshot", "--system", "nope", str(path))


def test_access_pull_command_exits_non_zero_on_failure_and_keeps_grants(org):
    system = org["system"]
    snapshot(system, ("carol", "read"))
    system.connector = "ldap"
    system.connector_settings = {"url": "ldap://127.0.0.1:1", "base_dn": "dc=x"}
    system.save()
    with pytest.raises(CommandError, match="pull failed"):
        call_command("access_pull", "--system", "billing-db")
    assert AccessGrant.objects.filter(system=system).count() == 1


def test_access_pull_command_with_the_vigil_connector(org):
    from .factories import SystemFactory

    SystemFactory(slug="vigil", connector="vigil", owner=org["owner"])
    out = StringIO()
    call_command("access_pull", "--system", "vigil", stdout=out)
    assert out.getvalue().startswith("vigil: ") and " added" in out.getvalue()


def test_import_identities_command(org, tmp_path):
    path = tmp_path / "hr.csv"
    path.write_text("email,name,manager_email,employment_status\nzoe@example.com,Zoe,boss@example.com,active\n")
    out = StringIO()
    call_command("import_identities", str(path), stdout=out)
    assert "1 added" in out.getvalue()


def test_scheduled_jobs_are_declared_and_recorded(org):
    names = {job.name for job in scheduled_jobs}
    assert {"access_reviews.campaign_sweep", "access_reviews.pull_snapshots", "access_reviews.remediation_sweep"} <= (
        names
    )
    tasks.campaign_sweep()
    tasks.remediation_sweep()
    tasks.pull_snapshots()
    assert JobRun.objects.filter(job__startswith="access_reviews.", outcome="succeeded").count() == 3


def test_evidence_exporters_scorecard_gauges_and_status(org):
    snapshot(org["system"], ("carol", "read"), ("erin", "read"))
    campaign = services.campaign_launch(template=org["template"])
    services.item_decide(
        item=campaign.items.get(account="carol"), reviewer=org["alice"], decision=Decision.REVOKE, justification="x"
    )
    start, end = timezone.now() - timedelta(days=1), timezone.now() + timedelta(days=1)
    columns, rows = evidence_exporters.get("access_review_items").export(start, end)
    assert "justification" in columns and len(rows) == 2
    by_account = {row[columns.index("account")]: row for row in rows}
    assert by_account["carol"][columns.index("remediation_status")] == "open"
    assert by_account["carol"][columns.index("snapshot_sha256")] == campaign.snapshot_sha256
    _, remediations = evidence_exporters.get("access_remediations").export(start, end)
    assert len(remediations) == 1
    _, campaigns = evidence_exporters.get("access_review_campaigns").export(start, end)
    assert len(campaigns) == 1

    score = scorecard_dimensions.get("access_governance").score()
    assert 0 <= score["score"] <= 100 and score["facts"]

    pending = {tuple(k.items()): v for k, v in metrics.get("vigil_access_review_items_pending").collect()}
    assert pending == {(): 1}
    remediations_gauge = {k["status"]: v for k, v in metrics.get("vigil_access_remediations").collect()}
    assert remediations_gauge["open"] == 1

    carol = org["carol"].identity
    carol.employment_status = EmploymentStatus.TERMINATED
    carol.save()
    lines = {r.name: r for r in status_sources.get("access_reviews").collect()}
    assert lines["access:orphaned_grants"].status == "critical"
    assert lines["access:reviews"].status == "ok"


def test_my_pending_items_need_me_and_the_panel_shows_campaign_progress(org, client):
    snapshot(org["system"], ("carol", "read"))
    services.campaign_launch(template=org["template"])
    client.force_login(org["alice"])
    page = client.get("/admin/").content.decode()
    assert "1 access review item to decide in Billing quarterly" in page
    assert 'id="access-campaigns"' not in page  # a reviewer sees their items, not every campaign
    client.force_login(org["compliance"])
    page = client.get("/admin/").content.decode()
    assert 'id="access-campaigns"' in page and "0 / 1" in page


def test_demo_seeder_is_idempotent(db):
    from django.core.management import call_command as run

    run("seed_demo", stdout=StringIO())
    first = (Campaign.objects.count(), AccessGrant.objects.count())
    run("seed_demo", stdout=StringIO())
    assert (Campaign.objects.count(), AccessGrant.objects.count()) == first
    assert first[0] == 1 and first[1] > 5
