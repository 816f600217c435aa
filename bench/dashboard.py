"""The console's first screen against Django's bare admin index, in the same run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/dashboard.py [--quick]

Creates (and drops afterwards) the scratch database `vigil_bench_dashboard`, migrates it, loads the
demo (`seed_demo`: every app's panels have something to show) and adds incidents — the newest 40 open,
commanded by an incident commander, so "Needs you now" has its 20 most urgent lines — then measures
in-process (Django's test client), signed in as that commander and as a superuser (every panel renders):

- the bare admin index: Django's own AdminSite index over the same model registry, no panels;
- Vigil's dashboard (`/admin/`): "Needs you now", every panel, the app list — as deployed (panels that
  look the same to everyone rendered once per DASHBOARD_PANEL_CACHE_SECONDS, a person's needs-you items
  kept until a watched write commits or NEEDS_YOU_CACHE_SECONDS pass), and with every panel rendered
  and every item collected fresh (the first view after a write or after the caches expire).

Prints the median of ROUNDS requests and the query count of each at two sizes, and the ratio
dashboard / bare index at the large size (target < 2.0) — and whether the dashboard's query count
stays the same from the small size to the large one.
"""

import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._report import figure  # noqa: E402
from bench._scratch import drop_database, scratch_database  # noqa: E402
from bench.admin_incidents import count_queries, fill_to  # noqa: E402

BENCH_DB = "vigil_bench_dashboard"
QUICK = "--quick" in sys.argv
SIZES = (200, 2_000) if QUICK else (1_000, 100_000)
ROUNDS = 5 if QUICK else 25
WARMUP = 2 if QUICK else 5
TARGET_RATIO = 2.0

# The bare index: Django's AdminSite, sharing Vigil's registry of models, under /bare/.
urlpatterns: list = []


def bare_site_urls():
    """Django's AdminSite and its own index.html (Vigil's override shadows the name) over Vigil's models."""
    from django import contrib
    from django.contrib import admin
    from django.template import engines
    from django.template.response import TemplateResponse
    from django.urls import path

    from config.urls import urlpatterns as vigil_urls

    original = Path(contrib.__file__).parent / "admin" / "templates" / "admin" / "index.html"
    template = engines["django"].from_string(original.read_text())

    class BareSite(admin.AdminSite):
        def index(self, request, extra_context=None):
            app_list = self.get_app_list(request)
            context = {**self.each_context(request), "title": self.index_title, "app_list": app_list}
            return TemplateResponse(request, template, context)

    bare = BareSite(name="bare")
    bare._registry = admin.site._registry
    return [path("bare/", bare.urls), *vigil_urls]


def median_ms(client, path: str) -> float:
    for _ in range(WARMUP):
        assert client.get(path).status_code == 200, path
    samples = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        response = client.get(path)
        samples.append(time.perf_counter() - started)
        assert response.status_code == 200, (path, response.status_code)
    return statistics.median(samples) * 1000


def main() -> int:
    url = scratch_database(BENCH_DB)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings_test")
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.core.cache import cache
    from django.core.management import call_command
    from django.test import Client

    from governance.choices import Role
    from governance.models import Service

    settings.ROOT_URLCONF = __name__
    settings.ALERT_ALLOW_PRIVATE_URLS = True
    globals()["urlpatterns"] = bare_site_urls()
    try:
        call_command("migrate", verbosity=0)
        with open(os.devnull, "w") as quiet:
            call_command("seed_demo", stdout=quiet)
        admin = get_user_model().objects.create_superuser("bench", "bench@example.com", "bench-password-123")
        # The person of the issue: an incident commander, on the incidents the fill keeps open.
        commander = get_user_model().objects.create_user("bench.commander", "commander@example.com", is_staff=True)
        commander.groups.add(Group.objects.get(name=str(Role.INCIDENT_COMMANDER)))
        service_ids = list(Service.objects.values_list("pk", flat=True))
        people = {"superuser (every panel)": Client(), "incident commander": Client()}
        people["superuser (every panel)"].force_login(admin)
        people["incident commander"].force_login(commander)
        results: dict[int, dict[str, tuple[float, int]]] = {}
        for total in SIZES:
            started = time.perf_counter()
            fill_to(total, service_ids=service_ids, commander_id=commander.pk)
            filled = time.perf_counter() - started
            row = {}
            print(f"{total:>8} incidents (filled in {filled:.1f} s)")
            for who, client in people.items():
                row[f"{who}: bare admin index"] = (median_ms(client, "/bare/"), count_queries(client, "/bare/"))
                # Production defaults: shared panels rendered once per DASHBOARD_PANEL_CACHE_SECONDS, needs-you
                # items kept until a watched write; and everything fresh (the first view after a write or
                # after the caches expire).
                for label, seconds in (("dashboard", 30), ("dashboard, every panel fresh", 0)):
                    settings.DASHBOARD_PANEL_CACHE_SECONDS = seconds
                    settings.NEEDS_YOU_CACHE_SECONDS = seconds
                    cache.clear()
                    row[f"{who}: {label}"] = (median_ms(client, "/admin/"), count_queries(client, "/admin/"))
                needs = client.get("/admin/").content.decode().count('class="vigil-need ')
                print(f"  {who}: 'Needs you now' lines: {needs}")
            results[total] = row
            for label, (ms, queries) in row.items():
                print(f"    {label:<55} {ms:8.1f} ms median of {ROUNDS}, {queries:>3} queries")
        small, large = SIZES
        verdicts = []
        for who in people:
            ratio = results[large][f"{who}: dashboard"][0] / results[large][f"{who}: bare admin index"][0]
            verdicts.append(ratio < TARGET_RATIO)
            verdict = "ok" if ratio < TARGET_RATIO else "ABOVE"
            print(
                f"{who}: dashboard / bare index at {large} incidents: {ratio:.2f}  (target < {TARGET_RATIO}) {verdict}"
            )
            figure(f"dashboard / bare admin index, {who}", ratio, f"< {TARGET_RATIO}", ratio < TARGET_RATIO)
        same = all(results[small][label][1] == results[large][label][1] for label in results[small])
        print(f"dashboard query counts constant from {small} to {large} incidents: {'yes' if same else 'NO'}")
        figure(f"dashboard: query counts {small} → {large} incidents", "constant" if same else "grew", "constant", same)
        return 0 if QUICK or (all(verdicts) and same) else 1
    finally:
        from django.db import connections

        connections.close_all()
        drop_database(url)


if __name__ == "__main__":
    sys.exit(main())
