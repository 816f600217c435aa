"""Scratch PostgreSQL databases for the benches, each a copy of one migrated template.

Migrating an empty database takes Vigil 15–25 s; `CREATE DATABASE … TEMPLATE` of a migrated one takes a
fraction of a second. The template (`vigil_bench_template`) is migrated once, and again whenever a
migration file changes: the fingerprint of every migration file is kept as the database's comment.
A bench still runs `migrate` on its copy (a no-op of a second or two), so a stale template cannot hide.
"""

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = "vigil_bench_template"
_TEMPLATE_LOCK = 0x56424E43  # "VBNC": one process builds the template at a time


def server_url() -> str:
    """DATABASE_URL of the PostgreSQL server the benches run on (any database of it)."""
    url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    if not urlparse(url).scheme.startswith("postgres"):
        sys.exit(f"{sys.argv[0]}: DATABASE_URL must point at PostgreSQL")
    return url


def _with_database(url: str, name: str) -> str:
    return urlunparse(urlparse(url)._replace(path=f"/{name}"))


def migrations_fingerprint() -> str:
    digest = hashlib.sha256()
    for path in sorted(ROOT.glob("*/migrations/*.py")):
        digest.update(str(path.relative_to(ROOT)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _ensure_template(conn, url: str) -> None:
    fingerprint = migrations_fingerprint()
    conn.execute("SELECT pg_advisory_lock(%s)", [_TEMPLATE_LOCK])
    try:
        row = conn.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s", [TEMPLATE]
        ).fetchone()
        if row and row[0] == fingerprint:
            return
        conn.execute(f'DROP DATABASE IF EXISTS "{TEMPLATE}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{TEMPLATE}"')
        env = {**os.environ, "DATABASE_URL": _with_database(url, TEMPLATE)}
        env.setdefault("DJANGO_SETTINGS_MODULE", "config.settings_test")
        subprocess.run([sys.executable, "manage.py", "migrate", "--no-input", "-v0"], cwd=ROOT, env=env, check=True)
        conn.execute(f"COMMENT ON DATABASE \"{TEMPLATE}\" IS '{fingerprint}'")
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", [_TEMPLATE_LOCK])


def scratch_database(name: str) -> str:
    """Recreate the database `name` as a copy of the migrated template; returns its URL."""
    import psycopg

    url = server_url()
    with psycopg.connect(_with_database(url, "postgres"), autocommit=True) as conn:
        _ensure_template(conn, url)
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        for attempt in range(30):  # another bench may be copying the template this very second
            try:
                conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE}"')
                break
            except psycopg.errors.ObjectInUse:
                if attempt == 29:
                    raise
                time.sleep(1)
    return _with_database(url, name)


def drop_database(url: str) -> None:
    import psycopg

    parsed = urlparse(url)
    with psycopg.connect(_with_database(url, "postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{parsed.path.lstrip("/")}" WITH (FORCE)')
