"""Campaign launch over 100 000 grants on PostgreSQL, next to a bare bulk_create of the same rows.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/campaign_launch.py [--quick]

Creates (and drops afterwards) the scratch database `vigil_bench_access`, migrates it, writes
20 000 identities under 202 managers and 100 000 grants (5 per identity) with INSERT … SELECT,
then times:
  * `campaign_launch` — read the grants, pick a reviewer per grant (never the subject), mark
    new / unchanged / changed against the previous campaign, hash the frozen snapshot, insert;
  * a bare `ReviewItem.objects.bulk_create` of the same rows (prepared in memory beforehand)
    with the same batch size.
Target: launch / bare ≤ 2. Also counts the queries of the reviewer's changelist for a reviewer
with 10 items and one with 1 000 items (target: equal).
"""

import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._report import figure  # noqa: E402
from bench._scratch import drop_database, scratch_database  # noqa: E402

BENCH_DB = "vigil_bench_access"
QUICK = "--quick" in sys.argv  # CI: 5 000 grants, same code paths, figures only
IDENTITIES = 1_000 if QUICK else 20_000
GRANTS_PER_IDENTITY = 5
MANAGERS = 202
TARGET_RATIO = 2.0


def fill(system_ids: list[int], manager_identity_ids: list[int]) -> None:
    """Reports 0–1 report to manager 0 (10 grants), 2–201 to manager 1 (1 000 grants), the rest round-robin."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO access_reviews_identity (created_at, updated_at, email, name, department, employment_status,
                                                 manager_id)
            SELECT now(), now(), 'person' || n || '@example.com', 'Person ' || n, 'Engineering', 'active',
                   (%(managers)s::bigint[])[CASE WHEN n < 2 THEN 1 WHEN n < 202 THEN 2 ELSE 3 + n %% 200 END]
            FROM generate_series(0, %(count)s - 1) AS n
            """,
            {"managers": manager_identity_ids, "count": IDENTITIES},
        )
        cursor.execute(
            """
            INSERT INTO access_reviews_accessgrant (created_at, updated_at, system_id, account, email, identity_id,
                   entitlement, privileged, last_login_at, first_seen_at, last_seen_at)
            SELECT now(), now(), (%(systems)s::bigint[])[1 + g %% %(n_systems)s], 'person' || i.id, i.email, i.id,
                   'role_' || g, g = 0, now() - (i.id %% 200) * interval '1 day', now(), now()
            FROM access_reviews_identity i CROSS JOIN generate_series(0, %(per)s - 1) AS g
            WHERE i.email LIKE 'person%%'
            """,
            {"systems": system_ids, "n_systems": len(system_ids), "per": GRANTS_PER_IDENTITY},
        )


def main() -> int:
    url = scratch_database(BENCH_DB)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings_test")
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from access_reviews import services
    from access_reviews.choices import BULK_BATCH, CampaignStatus
    from access_reviews.models import AccessGrant, Campaign, Identity, ReviewItem, ReviewTemplate, System

    try:
        call_command("migrate", verbosity=0)
        User = get_user_model()
        reviewer_group = Group.objects.get(name="Access Reviewer")
        managers = User.objects.bulk_create(
            [User(username=f"manager{n}", email=f"manager{n}@example.com", is_staff=True) for n in range(MANAGERS)]
        )
        reviewer_group.user_set.add(*managers)
        manager_identities = Identity.objects.bulk_create(
            [Identity(email=u.email, name=u.username, user=u) for u in managers]
        )
        owner = User.objects.create(username="owner", email="owner@example.com", is_staff=True)
        fallback = User.objects.create(username="fallback", email="fallback@example.com", is_staff=True)
        compliance = User.objects.create(username="compliance", email="compliance@example.com", is_staff=True)
        systems = [System.objects.create(slug=f"system-{n}", name=f"System {n}", owner=owner) for n in range(5)]
        started = time.perf_counter()
        fill([s.pk for s in systems], [i.pk for i in manager_identities])
        total = AccessGrant.objects.count()
        filled = time.perf_counter() - started
        print(f"{total} grants, {Identity.objects.count()} identities (filled in {filled:.1f} s)")
        connection.cursor().execute("ANALYZE")
        template = ReviewTemplate.objects.create(name="Bench", fallback_reviewer=fallback, owner=compliance)
        template.systems.set(systems)

        # The previous quarter, so the launch also compares every item with it.
        services.campaign_launch(template=template, period="2026-Q3")
        started = time.perf_counter()
        campaign = services.campaign_launch(template=template, period="2026-Q4")
        launch = time.perf_counter() - started
        assert campaign.item_count == total

        # The same rows, prepared beforehand: only the INSERTs are timed.
        rows = [
            ReviewItem(
                campaign_id=campaign.pk,
                system_id=r["system_id"],
                account=r["account"],
                identity_id=r["identity_id"],
                entitlement=r["entitlement"],
                privileged=r["privileged"],
                last_login_at=r["last_login_at"],
                change=r["change"],
                reviewer_id=r["reviewer_id"],
            )
            for r in campaign.items.values(
                "system_id",
                "account",
                "identity_id",
                "entitlement",
                "privileged",
                "last_login_at",
                "change",
                "reviewer_id",
            )
        ]
        bare_campaign = Campaign.objects.create(
            template=template,
            name="bare",
            period="bare",
            owner=compliance,
            due_at=campaign.due_at,
            closes_at=campaign.closes_at,
            snapshot_sha256="",
            status=CampaignStatus.ACTIVE,
        )
        for row in rows:
            row.campaign_id = bare_campaign.pk
        started = time.perf_counter()
        with transaction.atomic():
            for start in range(0, len(rows), BULK_BATCH):
                ReviewItem.objects.bulk_create(rows[start : start + BULK_BATCH])
        bare = time.perf_counter() - started
        ratio = launch / bare
        print(f"campaign_launch over {total} grants: {launch:.2f} s ({total / launch:,.0f} items/s)")
        print(f"bare bulk_create of the same {len(rows)} rows: {bare:.2f} s")
        flag = "ok" if ratio <= TARGET_RATIO else "ABOVE TARGET"
        print(f"ratio launch / bare: {ratio:.2f}  (target ≤ {TARGET_RATIO}) {flag}")
        figure(f"campaign launch: {total} grants", total / launch, None, None, unit="items/s")
        figure("campaign launch: ratio launch / bare bulk_create", ratio, f"≤ {TARGET_RATIO}", ratio <= TARGET_RATIO)
        ReviewItem.objects.filter(campaign=bare_campaign).delete()
        bare_campaign.delete()

        # Only the new campaign is open: manager0 then has 10 pending items, manager1 1 000.
        Campaign.objects.exclude(pk=campaign.pk).update(status=CampaignStatus.SIGNED_OFF)
        queries = {}
        for username in ("manager0", "manager1"):
            user = User.objects.get(username=username)
            client = Client()
            client.force_login(user)
            page = "/admin/access_reviews/reviewitem/?state=pending"
            client.get(page)
            with CaptureQueriesContext(connection) as ctx:
                response = client.get(page)
            assert response.status_code == 200
            items = ReviewItem.objects.filter(
                reviewer=user, decision="pending", campaign__status=CampaignStatus.ACTIVE
            ).count()
            queries[items] = len(ctx.captured_queries)
            print(f"reviewer changelist with {items} pending items: {len(ctx.captured_queries)} queries")
        same = len(set(queries.values())) == 1
        print(f"query count constant: {'yes' if same else 'NO'}")
        figure(
            f"campaign launch: reviewer changelist queries at {' and '.join(map(str, sorted(queries)))} items",
            " → ".join(str(queries[n]) for n in sorted(queries)),
            "constant",
            same,
        )
        return 0 if QUICK or (ratio <= TARGET_RATIO and same) else 1
    finally:
        connection.close()
        if "--keep" not in sys.argv:
            drop_database(url)


if __name__ == "__main__":
    sys.exit(main())
