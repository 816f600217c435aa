"""Bad CSVs get a clear error naming the row and column, and change nothing."""

import pytest
from django.urls import reverse

from access_reviews import services
from access_reviews.choices import ImportSource
from access_reviews.models import AccessGrant, PendingUpload, SnapshotImport
from governance.errors import ValidationFailed

from .helpers import snapshot

pytestmark = pytest.mark.django_db

GOOD = (
    b"system,account,email,entitlement,privileged,last_login\n"
    b"billing-db,carol,carol@example.com,read,false,2026-10-01\n"
)


@pytest.fixture
def seeded(org):
    snapshot(org["system"], ("carol", "read"), ("dave", "read"))
    return org


def _state():
    return (
        sorted(AccessGrant.objects.values_list("account", "entitlement", "privileged", "last_login_at")),
        SnapshotImport.objects.count(),
    )


BAD = {
    "missing_column": (b"account,email\ncarol,carol@example.com\n", "row 1, column entitlement"),
    "duplicate_row": (
        b"system,account,entitlement\nbilling-db,carol,read\nbilling-db,dave,read\nbilling-db,carol,read\n",
        "row 4, column account",
    ),
    "unknown_system": (
        b"system,account,entitlement\nbilling-db,carol,read\nnope-db,dave,read\n",
        "row 3, column system",
    ),
    "not_utf8": (
        "system,account,entitlement\nbilling-db,carol,read\nbilling-db,Jos\xe9,read\n".encode("latin-1"),
        "row 3, column 2",
    ),
    "bad_boolean": (
        b"system,account,entitlement,privileged\nbilling-db,carol,read,maybe\n",
        "row 2, column privileged",
    ),
    "bad_date": (
        b"system,account,entitlement,last_login\nbilling-db,carol,read,yesterday\n",
        "row 2, column last_login",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_csv_names_row_and_column_and_changes_nothing(seeded, case):
    data, where = BAD[case]
    before = _state()
    with pytest.raises(ValidationFailed) as err:
        services.snapshot_import_csv(data=data, system=None, source=ImportSource.CSV)
    assert where in err.value.message or where in err.value.fields, (err.value.message, err.value.fields)
    assert "Nothing was changed" in err.value.message
    assert _state() == before


def test_fifty_megabyte_csv_is_refused_and_changes_nothing(seeded, settings):
    settings.ACCESS_CSV_MAX_BYTES = 20 * 1024 * 1024
    data = GOOD + b"billing-db,x,,read,false,\n" * (50 * 1024 * 1024 // 26)
    assert len(data) > 50_000_000
    before = _state()
    with pytest.raises(ValidationFailed) as err:
        services.snapshot_import_csv(data=data, system=None, source=ImportSource.CSV)
    assert err.value.code == "file_too_large" and "limit" in err.value.message
    assert _state() == before


def test_good_csv_imports_with_the_file_hash(seeded):
    [record] = services.snapshot_import_csv(data=GOOD, system=None, source=ImportSource.CSV)
    assert (record.added, record.removed, record.unchanged) == (0, 1, 1)
    import hashlib

    assert record.sha256 == hashlib.sha256(GOOD).hexdigest()


def test_row_for_another_system_than_the_chosen_one_is_refused(seeded):
    from .factories import SystemFactory

    other = SystemFactory(slug="other")
    with pytest.raises(ValidationFailed) as err:
        services.snapshot_import_csv(data=GOOD, system=other, source=ImportSource.CSV)
    assert "row 2, column system" in err.value.fields


# --- the admin: dry run first, then confirm ---------------------------------------------------


def _upload(client, data, name="grants.csv"):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return client.post(
        reverse("admin:access_reviews_system_upload"), {"file": SimpleUploadedFile(name, data, "text/csv")}
    )


def test_admin_upload_previews_then_writes_only_on_confirm(seeded, client):
    client.force_login(seeded["compliance"])
    before = _state()
    response = _upload(client, GOOD)
    assert response.status_code == 200
    body = response.content.decode()
    assert "Dry run" in body and "0 added, 1 removed, 0 changed, 1 unchanged" in body
    assert _state() == before  # the preview wrote no grant and no import
    pending = PendingUpload.objects.get()
    response = client.post(reverse("admin:access_reviews_system_upload"), {"pending": pending.pk, "_confirm": "1"})
    assert response.status_code == 302
    assert list(AccessGrant.objects.values_list("account", flat=True)) == ["carol"]
    assert not PendingUpload.objects.exists()


@pytest.mark.parametrize("case", ["missing_column", "unknown_system", "not_utf8", "duplicate_row"])
def test_admin_upload_of_a_bad_csv_shows_the_row_and_column(seeded, client, case):
    client.force_login(seeded["compliance"])
    data, where = BAD[case]
    before = _state()
    response = _upload(client, data)
    assert response.status_code == 200
    assert where in response.content.decode()
    assert _state() == before and not PendingUpload.objects.exists()


def test_reviewer_cannot_upload(seeded, client):
    client.force_login(seeded["alice"])
    assert _upload(client, GOOD).status_code == 403


def test_identities_upload_previews_then_imports(org, client):
    client.force_login(org["compliance"])
    from django.core.files.uploadedfile import SimpleUploadedFile

    from access_reviews.models import Identity

    url = reverse("admin:access_reviews_identity_upload")
    data = b"email,name,manager_email,department,employment_status\nzoe@example.com,Zoe,boss@example.com,Ops,active\n"
    response = client.post(url, {"file": SimpleUploadedFile("hr.csv", data, "text/csv")})
    assert b"1 identities in the file" in response.content
    assert not Identity.objects.filter(email="zoe@example.com").exists()
    client.post(url, {"pending": PendingUpload.objects.get().pk, "_confirm": "1"})
    assert Identity.objects.get(email="zoe@example.com").manager.email == "boss@example.com"


def test_unconfirmed_previews_are_purged_after_a_day(seeded, client):
    from datetime import timedelta

    from django.utils import timezone

    client.force_login(seeded["compliance"])
    _upload(client, GOOD)
    assert services.pending_uploads_purge(now=timezone.now()) == 0
    assert services.pending_uploads_purge(now=timezone.now() + timedelta(hours=25)) == 1
    assert not PendingUpload.objects.exists()
