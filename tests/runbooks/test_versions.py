"""Versions: drafts, publication by a second person, immutability in the service and the database."""

import os
import sqlite3
import subprocess
import sys

import pytest
from django.db import DatabaseError, connection, transaction

from governance.errors import Conflict, ValidationFailed
from governance.models import AuditEvent
from runbooks import services
from runbooks.diff import version_diff_html, version_diff_lines
from runbooks.markdown import content_sha256
from runbooks.models import RunbookVersion
from tests.conftest import ROOT
from tests.factories import person

from .conftest import BODY, make_runbook

pytestmark = pytest.mark.django_db

EDITED = BODY.replace("kubectl rollout undo deploy/checkout", "kubectl rollout undo deploy/checkout --to-revision=41")


def test_a_new_runbook_is_a_draft_with_its_steps_parsed(service, author):
    runbook = make_runbook(service, author, publish=False)
    version = runbook.versions.get()
    assert runbook.status == "draft" and version.number == 1 and not version.is_published
    assert [s["title"] for s in version.steps] == ["Check the error rate", "Roll back the deploy"]
    assert version.steps[0]["command"] == "manage.py ops_status"
    assert version.steps[0]["expected"] == "exit code 0 or 1."
    assert version.steps[0]["rollback"] == "nothing to roll back."
    assert version.steps[0]["instruction"] == "Look at the dashboard first."
    assert version.content_sha256 == content_sha256(BODY)
    assert version.author_label == "author"


def test_publishing_records_the_approver_and_makes_the_runbook_published(runbook, approver):
    version = runbook.current_version
    assert version.published_at is not None
    assert version.approved_by == approver and version.approved_by_label == "approver"
    assert runbook.status == "published" and runbook.first_published_at == version.published_at
    assert AuditEvent.objects.filter(action="runbook.publish", object_id=str(version.pk)).exists()


def test_the_author_cannot_approve_their_own_version(service, author, settings):
    settings.RUNBOOK_SELF_APPROVAL = False
    runbook = make_runbook(service, author, publish=False)
    with pytest.raises(Conflict, match="cannot approve their own"):
        services.version_publish(version=runbook.versions.get(), actor=author)
    assert not runbook.versions.get().is_published


def test_self_approval_is_allowed_when_the_setting_says_so(service, author, settings):
    settings.RUNBOOK_SELF_APPROVAL = True
    runbook = make_runbook(service, author, publish=False)
    version = services.version_publish(version=runbook.versions.get(), actor=author)
    assert version.approved_by == author


def test_publishing_needs_the_publish_permission(service, author, responder):
    runbook = make_runbook(service, author, publish=False)
    with pytest.raises(Conflict, match="publish_runbook") as exc:
        services.version_publish(version=runbook.versions.get(), actor=responder)
    assert exc.value.status == 403


def test_editing_a_published_runbook_makes_a_new_draft_and_keeps_the_old_version_intact(runbook, author, approver):
    v1 = runbook.current_version
    v2 = services.runbook_edit(runbook=runbook, body=EDITED, change_summary="Pin the revision", actor=author)
    assert v2.pk != v1.pk and v2.number == 2 and not v2.is_published
    v1_again = RunbookVersion.objects.get(pk=v1.pk)
    assert v1_again.body == BODY and v1_again.content_sha256 == v1.content_sha256
    runbook.refresh_from_db()
    assert runbook.current_version_id == v1.pk  # still the published one until v2 is approved
    services.version_publish(version=v2, actor=approver)
    runbook.refresh_from_db()
    assert runbook.current_version_id == v2.pk
    assert RunbookVersion.objects.get(pk=v1.pk).body == BODY


def test_the_diff_shows_the_change_between_two_versions(runbook, author):
    v2 = services.runbook_edit(runbook=runbook, body=EDITED, actor=author)
    lines = version_diff_lines(runbook.current_version, v2)
    assert "-kubectl rollout undo deploy/checkout" in lines
    assert "+kubectl rollout undo deploy/checkout --to-revision=41" in lines
    html = version_diff_html(runbook.current_version, v2)
    assert "to-revision=41" in html and "diff_" in html


def test_the_same_content_again_makes_no_new_version(runbook, author):
    assert services.runbook_edit(runbook=runbook, body=BODY + "\n\n", actor=author).pk == runbook.current_version_id
    assert runbook.versions.count() == 1


def test_a_draft_is_revised_in_place(runbook, author):
    draft = services.runbook_edit(runbook=runbook, body=EDITED, actor=author)
    again = services.runbook_edit(runbook=runbook, body=EDITED + "\nOne more line.\n", actor=author)
    assert again.pk == draft.pk and runbook.versions.count() == 2


def test_a_published_version_cannot_be_published_again(runbook, approver):
    with pytest.raises(Conflict):
        services.version_publish(version=runbook.current_version, actor=approver)


def test_a_body_without_steps_is_refused(service, author):
    with pytest.raises(ValidationFailed) as exc:
        services.runbook_create(slug="x", title="X", service=service, body="Just prose.", actor=author)
    assert "body" in exc.value.fields


def test_unknown_severity_is_refused_naming_the_field(service, author):
    with pytest.raises(ValidationFailed) as exc:
        services.runbook_create(slug="x", title="X", service=service, body=BODY, severities=["SEV9"], actor=author)
    assert "severities" in exc.value.fields


# --- the database refuses changes to a published version, whatever the client -----------------


def test_raw_update_of_a_published_version_is_refused(runbook):
    version = runbook.current_version
    with pytest.raises(DatabaseError, match="immutable"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE runbooks_runbookversion SET body = 'forged' WHERE id = %s", [version.pk])
    assert RunbookVersion.objects.get(pk=version.pk).body == BODY


def test_raw_delete_of_a_published_version_is_refused(runbook):
    version = runbook.current_version
    with pytest.raises(DatabaseError, match="immutable"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM runbooks_runbookversion WHERE id = %s", [version.pk])
    assert RunbookVersion.objects.filter(pk=version.pk).exists()


def test_orm_save_of_a_published_version_is_refused(runbook):
    version = runbook.current_version
    version.body = "forged"
    with pytest.raises(DatabaseError), transaction.atomic():
        version.save()
    assert RunbookVersion.objects.get(pk=version.pk).body == BODY


def test_a_draft_version_stays_editable_in_the_database(service, author):
    runbook = make_runbook(service, author, publish=False)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE runbooks_runbookversion SET change_summary = 'typo' WHERE runbook_id = %s", [runbook.pk])
    assert runbook.versions.get().change_summary == "typo"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)  # TRUNCATE needs no pending FK checks of an open test transaction
def test_postgresql_refuses_truncate_of_versions(postgres_only, runbook):
    with pytest.raises(DatabaseError, match="immutable"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("TRUNCATE runbooks_runbookversion CASCADE")


def test_sqlite_guard_refuses_changes_to_published_versions_even_from_a_plain_client(tmp_path):
    """Runs whatever the suite's engine is: migrates a scratch SQLite file, then attacks it."""
    db = tmp_path / "guard.sqlite3"
    script = (
        "import django; django.setup()\n"
        "from django.core.management import call_command\n"
        "call_command('migrate', verbosity=0)\n"
        "from django.db import connection, DatabaseError\n"
        "from governance.models import Service\n"
        "from runbooks import services\n"
        "body = '## Step 1: Look\\n```sh\\nuptime\\n```\\n'\n"
        "s = Service.objects.create(slug='svc', name='Svc')\n"
        "rb = services.runbook_create(slug='rb', title='RB', service=s, body=body)\n"
        "services.version_publish(version=rb.versions.get(), approval_label='test')\n"
        "draft = services.runbook_edit(runbook=rb, body=body + 'More.\\n')\n"
        "for sql in ('UPDATE runbooks_runbookversion SET body = \\'forged\\' WHERE number = 1',\n"
        "            'DELETE FROM runbooks_runbookversion WHERE number = 1'):\n"
        "    try:\n"
        "        connection.cursor().execute(sql)\n"
        "    except DatabaseError as exc:\n"
        "        print('refused:', exc)\n"
        "connection.cursor().execute('UPDATE runbooks_runbookversion SET change_summary = \\'ok\\' WHERE number = 2')\n"
        "print('draft edited')\n"
    )
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{db}", "DJANGO_SETTINGS_MODULE": "config.settings_test"}
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("refused:") == 2 and "immutable" in result.stdout
    assert "draft edited" in result.stdout

    plain = sqlite3.connect(db)  # no Django: the maintenance function is not even defined here
    for sql in (
        "UPDATE runbooks_runbookversion SET body = 'forged' WHERE number = 1",
        "DELETE FROM runbooks_runbookversion WHERE number = 1",
    ):
        with pytest.raises(sqlite3.DatabaseError):
            plain.execute(sql)
    assert (
        plain.execute("SELECT body FROM runbooks_runbookversion WHERE number = 1").fetchone()[0].startswith("## Step")
    )


def test_review_restarts_the_clock_and_retire_outcome_retires(runbook, approver):
    review = services.runbook_review(runbook=runbook, outcome="still_valid", notes="Checked.", actor=approver)
    runbook.refresh_from_db()
    assert runbook.last_reviewed_at == review.reviewed_at
    services.runbook_review(runbook=runbook, outcome="retire", actor=approver)
    runbook.refresh_from_db()
    assert runbook.status == "retired"


def test_a_responder_cannot_review(runbook):
    responder = person("r2", "Responder")
    with pytest.raises(Conflict):
        services.runbook_review(runbook=runbook, outcome="still_valid", actor=responder)
