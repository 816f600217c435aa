"""Mixed read/write load on the incident API through gunicorn: throughput and p50/p95/p99 latency.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379/2 \\
        .venv/bin/python bench/api_load.py [--quick]

Creates the scratch database `vigil_bench_api_load` (dropped afterwards), fills it with 10 000 incidents
(`--quick`: 500) and 12 services, starts one gunicorn with production settings (config/gunicorn.py:
BENCH_WORKERS threaded workers, default 2) on a spare port, and runs BENCH_CLIENTS client processes
(default 4), each on one keep-alive connection with a `incidents:read incidents:write` key, for 60 s
(`--quick`: 5 s) after a short warm-up. Each client loops over a weighted mix, 70 % reads and 30 % writes:

    list        GET  /api/v1/incidents/                                    25 %
    filter      GET  /api/v1/incidents/?open=true&severity=… or ?service=…  20 %
    retrieve    GET  /api/v1/incidents/{id}/ (with its timeline)           25 %
    create      POST /api/v1/incidents/                                    10 %
    acknowledge POST /api/v1/incidents/{id}/acknowledge/ (one it declared)  8 %
    update      POST /api/v1/incidents/{id}/updates/                        8 %
    severity    POST /api/v1/incidents/{id}/severity/                       4 %

Prints requests/s, p50/p95/p99 overall and per operation, and the error count (any answer other than
the contract's 200/201, or a failed connection). Targets: p95 < 150 ms, 0 errors. The server's rate limits
are raised (API_RATE_LIMIT per key and API_IP_RATE_LIMIT per address, both 100 000 000/min): the bench
measures the API, not the throttle's limit, and every client shares one key and one address.
An error fails the bench in quick mode too (the API broke); the latency target is judged in full mode.
"""

import http.client
import json
import multiprocessing
import os
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._report import figure  # noqa: E402
from bench._scratch import drop_database, scratch_database  # noqa: E402
from bench._servers import UNTHROTTLED, drop_queued_tasks, production_env, start_gunicorn, stop  # noqa: E402
from bench.admin_incidents import fill_to  # noqa: E402

BENCH_DB = "vigil_bench_api_load"
QUICK = "--quick" in sys.argv
INCIDENTS = 500 if QUICK else 10_000
SERVICES = 12
DURATION = 5.0 if QUICK else 60.0
WARMUP = 1.0 if QUICK else 5.0
CLIENTS = int(os.environ.get("BENCH_CLIENTS", "4"))
WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))
TARGET_P95_MS = 150.0
API = "/api/v1/incidents/"
MIX = {"list": 25, "filter": 20, "retrieve": 25, "create": 10, "acknowledge": 8, "update": 8, "severity": 4}
EXPECTED = {
    "list": 200,
    "filter": 200,
    "retrieve": 200,
    "create": 201,
    "acknowledge": 200,
    "update": 201,
    "severity": 200,
}
WRITES = ("create", "acknowledge", "update", "severity")
SEVERITIES = ["SEV1", "SEV2", "SEV3"]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


class Client:
    """One keep-alive connection and the incidents this client declared (its writes act on those)."""

    def __init__(self, port: int, token: str, seeded_ids: list[int], seed: int):
        self.port = port
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        self.seeded_ids = seeded_ids
        self.random = random.Random(seed)
        self.declared: list[int] = []
        self.unacknowledged: list[int] = []
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, bytes]:
        data = json.dumps(body).encode() if body is not None else None
        try:
            self.conn.request(method, path, body=data, headers=self.headers)
            response = self.conn.getresponse()
            return response.status, response.read()
        except (OSError, http.client.HTTPException) as exc:
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            return 0, repr(exc).encode()

    def request_for(self, op: str) -> tuple[str, str, str, dict | None]:
        pick = self.random
        if op in ("acknowledge", "update", "severity") and not self.declared:
            op = "create"  # nothing of its own to write on yet
        if op == "acknowledge" and not self.unacknowledged:
            op = "update"
        if op == "list":
            return op, "GET", API, None
        if op == "filter":
            if pick.random() < 0.5:
                return op, "GET", f"{API}?open=true&severity={pick.choice(SEVERITIES)}", None
            return op, "GET", f"{API}?service=svc-{pick.randrange(SERVICES)}&status=closed", None
        if op == "retrieve":
            if self.declared and pick.random() < 0.5:
                return op, "GET", f"{API}{pick.choice(self.declared)}/", None
            return op, "GET", f"{API}{pick.choice(self.seeded_ids)}/", None
        if op == "create":
            body = {
                "title": f"Checkout errors {pick.randrange(10**6)}",
                "severity": pick.choice(SEVERITIES),
                "service": f"svc-{pick.randrange(SERVICES)}",
                "summary": "5xx ratio above 5 % on the checkout API.",
            }
            return op, "POST", API, body
        if op == "acknowledge":
            return op, "POST", f"{API}{self.unacknowledged.pop(0)}/acknowledge/", {}
        if op == "update":
            message = {"message": "Rolled back the last deploy; error rate falling."}
            return op, "POST", f"{API}{pick.choice(self.declared)}/updates/", message
        reason = {"severity": pick.choice(SEVERITIES), "reason": "Impact reassessed."}
        return op, "POST", f"{API}{pick.choice(self.declared)}/severity/", reason

    def one(self) -> tuple[str, float, int, bytes]:
        op = self.random.choices(list(MIX), weights=list(MIX.values()))[0]
        op, method, path, body = self.request_for(op)
        started = time.perf_counter()
        status, data = self.call(method, path, body)
        elapsed = (time.perf_counter() - started) * 1000
        if op == "create" and status == 201:
            incident_id = json.loads(data)["id"]
            self.declared.append(incident_id)
            self.unacknowledged.append(incident_id)
        return op, elapsed, status, data


def client_run(args) -> tuple[dict[str, list[float]], list[str], int, float]:
    """Requests until `stop_at` (wall clock, shared by every client): latencies by operation, errors,
    incidents declared, the time it stopped."""
    port, token, seeded_ids, seed, start_at, stop_at = args
    client = Client(port, token, seeded_ids, seed)
    time.sleep(max(0.0, start_at - time.time()))
    latencies: dict[str, list[float]] = {op: [] for op in MIX}
    errors: list[str] = []
    while time.time() < stop_at:
        op, elapsed, status, data = client.one()
        latencies[op].append(elapsed)
        if status != EXPECTED[op]:
            errors.append(f"{op} → {status or 'connection failed'}: {data[:200].decode(errors='replace')}")
    client.conn.close()
    return latencies, errors, len(client.declared), time.time()


def run_phase(pool, port: int, token: str, seeded_ids: list[int], seconds: float, salt: int):
    start_at = time.time() + 0.5  # every client connected and waiting before the clock starts
    jobs = [(port, token, seeded_ids, salt * 1000 + n, start_at, start_at + seconds) for n in range(CLIENTS)]
    results = pool.map(client_run, jobs)
    latencies: dict[str, list[float]] = {op: [] for op in MIX}
    errors: list[str] = []
    for by_op, client_errors, _, _ in results:
        for op, values in by_op.items():
            latencies[op].extend(values)
        errors.extend(client_errors)
    declared = sum(r[2] for r in results)
    elapsed = max(r[3] for r in results) - start_at
    return latencies, errors, declared, elapsed


def line(label: str, values: list[float]) -> str:
    if not values:
        return f"    {label:<12} {0:>7} requests"
    return (
        f"    {label:<12} {len(values):>7} requests  p50 {percentile(values, 50):7.1f} ms  "
        f"p95 {percentile(values, 95):7.1f} ms  p99 {percentile(values, 99):7.1f} ms"
    )


def main() -> int:
    url = scratch_database(BENCH_DB)
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/2")
    env = production_env(url, redis_url, **UNTHROTTLED)
    os.environ.update(env)
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection

    from governance.models import Service
    from governance.services import api_key_create
    from incidents.models import Incident

    gunicorn = None
    try:
        call_command("migrate", verbosity=0)
        commander = get_user_model().objects.create_user("bench.commander", "commander@example.com", is_staff=True)
        service_ids = [
            Service.objects.get_or_create(slug=f"svc-{n}", defaults={"name": f"Service {n}", "tier": 1 + n % 3})[0].pk
            for n in range(SERVICES)
        ]
        fill_to(INCIDENTS, service_ids=service_ids, commander_id=commander.pk)
        seeded_ids = list(Incident.objects.values_list("pk", flat=True))
        token = api_key_create(name="bench api load", scopes=["incidents:read", "incidents:write"]).raw_key
        connection.close()
        gunicorn, port = start_gunicorn(env, workers=WORKERS)
        with multiprocessing.Pool(CLIENTS) as pool:
            _, warmup_errors, warmup_declared, _ = run_phase(pool, port, token, seeded_ids, WARMUP, salt=1)
            latencies, errors, declared, elapsed = run_phase(pool, port, token, seeded_ids, DURATION, salt=2)
        errors = warmup_errors + errors
        # Every declaration answered 201 is in the database, once.
        stored = Incident.objects.filter(source="api").count()
        if stored != warmup_declared + declared:
            errors.append(f"{warmup_declared + declared} declarations answered 201, {stored} incidents stored")
        every = [ms for values in latencies.values() for ms in values]
        throughput = len(every) / elapsed
        p50, p95, p99 = (percentile(every, p) for p in (50, 95, 99))
        writes = sum(len(latencies[op]) for op in WRITES)
        print(
            f"{WORKERS} gunicorn workers ({os.environ.get('WEB_THREADS', '4')} threads each), PostgreSQL with "
            f"{INCIDENTS} incidents, {CLIENTS} clients on keep-alive connections for {elapsed:.1f} s "
            f"({len(every) - writes} reads, {writes} writes)"
        )
        for op, values in latencies.items():
            print(line(op, values))
        print(line("all", every))
        print(f"throughput: {throughput:,.0f} requests/s")
        verdict = "ok" if p95 < TARGET_P95_MS else "ABOVE"
        print(f"p95 {p95:.1f} ms  (target < {TARGET_P95_MS:.0f} ms) {verdict}")
        print(f"errors: {len(errors)}  (target 0) {'ok' if not errors else 'FAILED'}")
        for error in errors[:10]:
            print(f"    {error}")
        figure("API load: throughput, 70 % reads / 30 % writes", throughput, None, None, unit="req/s")
        figure("API load: p50", p50, None, None, unit="ms")
        figure("API load: p95", p95, f"< {TARGET_P95_MS:.0f} ms", p95 < TARGET_P95_MS, unit="ms")
        figure("API load: p99", p99, None, None, unit="ms")
        figure("API load: errors", len(errors), "0", not errors)
        if errors:
            return 1
        return 0 if p95 < TARGET_P95_MS or QUICK else 1
    finally:
        stop(gunicorn)
        connection.close()
        drop_database(url)
        drop_queued_tasks(redis_url)


if __name__ == "__main__":
    sys.exit(main())
