"""Alertmanager alerts accepted per second through gunicorn, against a bare DRF endpoint.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379/2 \\
        .venv/bin/python bench/ingest.py

Creates the scratch database `vigil_bench_ingest` (dropped afterwards), starts one
gunicorn on 127.0.0.1 serving Vigil plus a bare DRF endpoint that only parses the
JSON (same process, same middleware), and posts the same Alertmanager payload to
both from several client processes, in alternating rounds. The real endpoint
authenticates the key, validates, stores the payload and queues its task on
commit. Target: real / bare ≥ 0.5.

Imported by gunicorn (VIGIL_BENCH_WSGI=1) this module is the WSGI application.
"""

import http.client
import json
import multiprocessing
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._report import figure  # noqa: E402
from bench._scratch import drop_database, scratch_database  # noqa: E402
from bench._servers import UNTHROTTLED, drop_queued_tasks, production_env, start_gunicorn, stop  # noqa: E402

BENCH_DB = "vigil_bench_ingest"
ALERTS_PER_PAYLOAD = int(os.environ.get("BENCH_ALERTS_PER_PAYLOAD", "5"))
CLIENTS = int(os.environ.get("BENCH_CLIENTS", "4"))
QUICK = "--quick" in sys.argv  # CI: a few requests per client, one round, figures only
REQUESTS_PER_CLIENT = 30 if QUICK else 300
ROUNDS = 1 if QUICK else 3
WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))
TARGET_RATIO = 0.5
REAL_PATH = "/api/v1/alerts/alertmanager/"
BARE_PATH = "/bench/bare/"
AUTH_PATH = "/bench/authenticated/"


# --- served by gunicorn ------------------------------------------------------------------------


def _make_application():
    import django
    from django.core.handlers.wsgi import WSGIHandler

    django.setup(set_prefix=False)
    from django.urls import include, path
    from rest_framework import permissions
    from rest_framework.parsers import JSONParser
    from rest_framework.response import Response
    from rest_framework.views import APIView

    class BareParseView(APIView):
        """Only parses the JSON: the floor any Django/DRF endpoint pays."""

        authentication_classes = []
        permission_classes = [permissions.AllowAny]
        throttle_classes = []
        parser_classes = [JSONParser]

        def post(self, request):
            return Response({"accepted": len(request.data.get("alerts", []))}, status=202)

    class AuthenticatedParseView(APIView):
        """Parses the JSON behind the kernel's API-key authentication, scope check and throttle:
        the floor of any authenticated Vigil endpoint (shown for reference)."""

        required_scopes = {"POST": "alerts:ingest"}
        parser_classes = [JSONParser]

        def post(self, request):
            return Response({"accepted": len(request.data.get("alerts", []))}, status=202)

    globals()["urlpatterns"] = [
        path("bench/bare/", BareParseView.as_view()),
        path("bench/authenticated/", AuthenticatedParseView.as_view()),
        path("", include("config.urls")),
    ]

    class BenchHandler(WSGIHandler):
        def get_response(self, request):
            request.urlconf = __name__  # this module's urlpatterns: Vigil's plus the bare endpoint
            return super().get_response(request)

    return BenchHandler()


if __name__ != "__main__" and os.environ.get("VIGIL_BENCH_WSGI") == "1":
    application = _make_application()


# --- the driver -----------------------------------------------------------------------------------


def payload(n: int) -> bytes:
    alerts = [
        {
            "status": "firing",
            "labels": {
                "alertname": "CheckoutHighErrorRate",
                "instance": f"checkout-{i}:8080",
                "service": "checkout-api",
                "severity": "critical",
            },
            "annotations": {"summary": "Checkout is failing requests", "description": "5xx ratio above 5 %."},
            "startsAt": "2026-03-03T02:58:10.123456789Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus-0:9090/graph?g0.expr=up",
            "fingerprint": f"{n:08x}{i:08x}",
        }
        for i in range(ALERTS_PER_PAYLOAD)
    ]
    return json.dumps(
        {
            "receiver": "vigil",
            "status": "firing",
            "alerts": alerts,
            "groupLabels": {"alertname": "CheckoutHighErrorRate"},
            "commonLabels": {"alertname": "CheckoutHighErrorRate", "service": "checkout-api"},
            "commonAnnotations": {"summary": "Checkout is failing requests"},
            "externalURL": "http://alertmanager-0:9093",
            "version": "4",
            "groupKey": '{}:{alertname="CheckoutHighErrorRate"}',
            "truncatedAlerts": 0,
        }
    ).encode()


def client_run(args) -> tuple[int, int]:
    port, path, token, requests = args
    body = payload(os.getpid())
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    accepted = failures = 0
    for _ in range(requests):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            conn.request("POST", path, body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
            if response.status == 202:
                accepted += json.loads(data)["accepted"]
            else:
                failures += 1
        finally:
            conn.close()
    return accepted, failures


def measure(pool, port: int, path: str, token: str) -> float:
    started = time.perf_counter()
    results = pool.map(client_run, [(port, path, token, REQUESTS_PER_CLIENT)] * CLIENTS)
    elapsed = time.perf_counter() - started
    accepted = sum(r[0] for r in results)
    failures = sum(r[1] for r in results)
    if failures:
        raise SystemExit(f"{failures} request(s) to {path} failed")
    return accepted / elapsed


def main() -> int:
    url = scratch_database(BENCH_DB)
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/2")
    env = production_env(url, redis_url, VIGIL_BENCH_WSGI="1", **UNTHROTTLED)
    os.environ.update({k: v for k, v in env.items() if k != "VIGIL_BENCH_WSGI"})
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from governance.services import api_key_create
    from incidents.models import AlertmanagerPayload

    gunicorn = None
    try:
        call_command("migrate", verbosity=0)
        token = api_key_create(name="bench", scopes=["alerts:ingest"]).raw_key
        connection.close()
        gunicorn, port = start_gunicorn(env, workers=WORKERS, app="bench.ingest:application")
        bare, authenticated, real = [], [], []
        with multiprocessing.Pool(CLIENTS) as pool:
            for path in (BARE_PATH, AUTH_PATH, REAL_PATH):
                client_run((port, path, token, 20))  # warm every worker's imports and connections
            for _ in range(ROUNDS):
                bare.append(measure(pool, port, BARE_PATH, token))
                authenticated.append(measure(pool, port, AUTH_PATH, token))
                real.append(measure(pool, port, REAL_PATH, token))
        stored = AlertmanagerPayload.objects.count()
        best_bare, best_real = max(bare), max(real)
        ratio = best_real / best_bare
        print(
            f"{WORKERS} gunicorn workers, {CLIENTS} clients × {REQUESTS_PER_CLIENT} requests × {ROUNDS} rounds, "
            f"{ALERTS_PER_PAYLOAD} alerts per payload"
        )
        print(f"bare DRF JSON parse : {best_bare:8.0f} alerts/s  (rounds: {', '.join(f'{v:.0f}' for v in bare)})")
        print(
            f"key-auth JSON parse : {max(authenticated):8.0f} alerts/s  "
            f"(rounds: {', '.join(f'{v:.0f}' for v in authenticated)}; reference: the kernel's auth + throttle)"
        )
        print(f"Alertmanager ingest : {best_real:8.0f} alerts/s  (rounds: {', '.join(f'{v:.0f}' for v in real)})")
        print(f"payloads stored     : {stored}")
        print(
            f"ratio ingest / bare : {ratio:.2f}  (target ≥ {TARGET_RATIO}) {'ok' if ratio >= TARGET_RATIO else 'BELOW'}"
        )
        print(f"ratio ingest / key-auth parse: {best_real / max(authenticated):.2f}")
        figure("ingestion: Alertmanager alerts accepted", best_real, None, None, unit="alerts/s")
        figure("ingestion: ratio ingest / bare DRF parse", ratio, f"≥ {TARGET_RATIO}", ratio >= TARGET_RATIO)
        return 0 if ratio >= TARGET_RATIO or QUICK else 1
    finally:
        stop(gunicorn)
        connection.close()
        drop_database(url)
        drop_queued_tasks(redis_url)


if __name__ == "__main__":
    sys.exit(main())
