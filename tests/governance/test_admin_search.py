"""The house admin search: related columns resolved to ids on their own table, same rows as Django's search."""

import datetime as dt
import re

import pytest
from django.contrib import admin
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext

from access_reviews.models import Campaign, ReviewItem, ReviewTemplate
from backups.models import BackupRun, BackupTarget
from governance.admin_base import VigilModelAdmin
from governance.pagination import Count, bounded_count
from tests.access_reviews.factories import IdentityFactory, SystemFactory, TemplateFactory
from tests.factories import ServiceFactory, UserFactory

pytestmark = pytest.mark.django_db

SEARCHES = [
    "disk",
    "DISK",
    "payments",
    "payments disk",  # every term must match some field: one the target, one the run
    "disk payments nightly",
    '"payments db"',  # a quoted phrase is one term
    "'nightly disk'",
    "no-such-thing",
    "payments no-such-thing",
    "db",
    "-",
]


def _django_search(model_admin, request, queryset, term):
    return admin.ModelAdmin.get_search_results(model_admin, request, queryset, term)


def _house_search(model_admin, request, queryset, term):
    return model_admin.get_search_results(request, queryset, term)


def _same_as_django(model, term, *, model_admin=None):
    model_admin = model_admin or admin.site._registry[model]
    request = RequestFactory().get("/", {"q": term})
    request.user = UserFactory(is_superuser=True, is_staff=True)
    queryset = model_admin.get_queryset(request)
    expected, expected_dups = _django_search(model_admin, request, queryset, term)
    found, dups = _house_search(model_admin, request, queryset, term)
    return (
        sorted(found.values_list("pk", flat=True)),
        sorted(expected.values_list("pk", flat=True)),
        dups,
        expected_dups,
    )


@pytest.fixture
def runs(db):
    payments = ServiceFactory(slug="payments")
    targets = {
        slug: BackupTarget.objects.create(
            slug=slug, name=slug.title(), service=payments, kind="postgresql", rpo_minutes=60, rto_minutes=30
        )
        for slug in ["payments-db", "payments db", "ledger", "disk-archive"]
    }
    started = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    for slug, external_ids in {
        "payments-db": ["nightly-1", "disk-full-2", "nightly disk 3"],
        "payments db": ["weekly-1"],
        "ledger": ["disk-4", "nightly-5"],
        "disk-archive": ["cold-6", "payments-7"],
    }.items():
        for external_id in external_ids:
            BackupRun.objects.create(
                target=targets[slug], external_id=external_id, status="succeeded", started_at=started
            )
    return targets


@pytest.fixture
def review_items(db):
    reviewer = UserFactory()
    template = TemplateFactory()
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    campaign = Campaign.objects.create(
        template=template,
        name="Q1",
        period="2026-Q1",
        owner=reviewer,
        due_at=now,
        closes_at=now,
        snapshot_sha256="0" * 64,
    )
    system = SystemFactory()
    people = [
        IdentityFactory(email="disk.admin@example.com", name="Dana Payments"),
        IdentityFactory(email="nightly@example.com", name="Nils Disk"),
        None,  # an unmatched account: the search must not lose it, nor find it by a person
    ]
    for n, (identity, account, entitlement) in enumerate(
        [
            (people[0], "dana", "read"),
            (people[1], "nils", "disk-admin"),
            (people[2], "payments-bot", "write"),
            (people[2], "disk-bot", "read"),
            (people[0], "dana2", "payments db"),
        ]
    ):
        ReviewItem.objects.create(
            campaign=campaign,
            system=system,
            account=f"{account}-{n}",
            identity=identity,
            entitlement=entitlement,
            reviewer=reviewer,
        )


@pytest.mark.parametrize("term", SEARCHES)
def test_backup_run_search_finds_what_django_s_finds(runs, term):
    found, expected, dups, expected_dups = _same_as_django(BackupRun, term)
    assert found == expected
    assert dups == expected_dups is False


@pytest.mark.parametrize("term", [*SEARCHES, "example.com", "dana disk", '"dana payments"', "nils nightly"])
def test_review_item_search_finds_what_django_s_finds(review_items, term):
    found, expected, dups, expected_dups = _same_as_django(ReviewItem, term)
    assert found == expected
    assert dups == expected_dups is False


def test_the_searches_compared_do_find_rows(runs, review_items):
    """The comparisons above compare something: related-only, local-only and mixed terms all match."""
    assert len(_same_as_django(BackupRun, "payments disk")[0]) == 3  # disk-full-2, nightly disk 3, payments-7
    assert len(_same_as_django(BackupRun, '"payments db"')[0]) == 1  # weekly-1: only its target says so
    assert len(_same_as_django(ReviewItem, "dana disk")[0]) == 2  # accounts dana*, identity disk.admin@


def test_related_matches_past_the_limit_fall_back_to_the_join(runs, monkeypatch):
    monkeypatch.setattr(VigilModelAdmin, "related_search_ids_limit", 1)
    found, expected, _dups, _expected = _same_as_django(BackupRun, "payments")  # two targets match
    assert found == expected
    assert len(found) == 5
    model_admin = admin.site._registry[BackupRun]
    queryset, _ = _house_search(model_admin, None, BackupRun.objects.all(), "payments")
    assert "JOIN" in str(queryset.query)


def test_the_main_query_matches_related_rows_by_key_not_by_join(runs):
    model_admin = admin.site._registry[BackupRun]
    with CaptureQueriesContext(connection) as ctx:
        queryset, _ = _house_search(model_admin, None, BackupRun.objects.all(), "payments disk")
    assert len(ctx.captured_queries) == 2  # one ids query per term on the target table
    assert all('"backups_backuptarget"' in q["sql"] for q in ctx.captured_queries)
    sql = str(queryset.query)
    assert "JOIN" not in sql
    assert '"target_id" IN' in sql


class TemplateSearchAdmin(VigilModelAdmin):
    # A many-valued path (systems) stays a join and keeps Django's duplicates flag; owner is resolved.
    search_fields = ["name", "systems__name", "owner__username", "=owner__email"]


@pytest.mark.parametrize("term", ["quarterly", "alpha", "alice", "alpha quarterly", "alice@example.com", "zzz"])
def test_a_many_valued_path_keeps_django_s_rows_and_duplicates_flag(db, term):
    alice = UserFactory(username="alice", email="alice@example.com")
    alpha, beta = SystemFactory(name="Alpha one"), SystemFactory(name="Alpha two")
    TemplateFactory(name="Quarterly", owner=alice, systems=[alpha, beta])
    TemplateFactory(name="Yearly", systems=[alpha])
    model_admin = TemplateSearchAdmin(ReviewTemplate, admin.site)
    found, expected, dups, expected_dups = _same_as_django(ReviewTemplate, term, model_admin=model_admin)
    assert found == expected
    assert dups == expected_dups is True


class OwnerSearchAdmin(VigilModelAdmin):
    search_fields = ["owner__username"]


@pytest.mark.parametrize("term", ["alice", "zzz", "alice zzz"])
def test_a_search_of_related_columns_only_that_matches_nothing_still_counts(db, term):
    """No local column and no related match: a false WHERE the estimated count can EXPLAIN, not `.none()`."""
    TemplateFactory(name="Quarterly", owner=UserFactory(username="alice"))
    model_admin = OwnerSearchAdmin(ReviewTemplate, admin.site)
    found, expected, _dups, _expected = _same_as_django(ReviewTemplate, term, model_admin=model_admin)
    assert found == expected
    queryset, _ = _house_search(model_admin, None, ReviewTemplate.objects.all(), term)
    assert bounded_count(queryset) == Count(len(expected), False)


def test_admins_overriding_the_search_still_find_references(admin_client):
    from tests.incidents.factories import IncidentFactory

    incident = IncidentFactory(title="Disk full on db-1")
    page = admin_client.get("/admin/incidents/incident/", {"q": incident.reference}).content.decode()
    assert "Disk full on db-1" in page


@pytest.mark.postgres
def test_a_local_or_related_search_is_a_bitmap_or_of_the_trigram_and_foreign_key_indexes(postgres_only, runs):
    model_admin = admin.site._registry[BackupRun]
    queryset, _ = _house_search(model_admin, None, BackupRun.objects.all(), "disk")
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off; SET enable_indexscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("RESET enable_seqscan; RESET enable_indexscan")
    assert "BitmapOr" in plan, plan
    assert "backuprun_external_id_trgm" in plan, plan
    assert re.search(r"Bitmap Index Scan on \S*target", plan), plan
