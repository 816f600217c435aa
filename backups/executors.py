"""Vigil's own backup executors: dump, restore, manifests and scratch databases.

PostgreSQL backups are `pg_dump -Fc` taken inside an exported snapshot, so the
manifest (row count and content hash per table) describes exactly the rows in the
file. SQLite backups use SQLite's online backup API and the manifest is read from
the copy. Nothing here writes Vigil's models: the services record what happened.
"""

import contextlib
import hashlib
import json
import os
import secrets
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import environ
from django.conf import settings

CHUNK = 1024 * 1024
MANIFEST_VERSION = 1
Progress = Callable[[str], None]


def _quiet(_message: str) -> None:
    pass


@dataclass(frozen=True)
class Database:
    """A database Vigil can dump or restore: PostgreSQL connection parameters or an SQLite file."""

    vendor: str  # "postgresql" | "sqlite"
    name: str  # database name or SQLite path
    host: str = ""
    port: str = ""
    user: str = ""
    password: str = field(default="", repr=False)

    def with_name(self, name: str) -> "Database":
        return Database(self.vendor, name, self.host, self.port, self.user, self.password)

    def pg_env(self) -> dict[str, str]:
        env = {**os.environ, "PGDATABASE": self.name, "PGHOST": self.host or "127.0.0.1"}
        env["PGPORT"] = str(self.port or 5432)
        env["PGUSER"] = self.user or "postgres"
        if self.password:
            env["PGPASSWORD"] = self.password
        return env

    def connect(self, *, dbname: str | None = None, autocommit: bool = True):
        if self.vendor == "sqlite":
            return sqlite3.connect(dbname or self.name)
        import psycopg

        conn = psycopg.connect(
            host=self.host or "127.0.0.1",
            port=int(self.port or 5432),
            user=self.user or "postgres",
            password=self.password or None,
            dbname=dbname or self.name,
            autocommit=autocommit,
        )
        # Row text is hashed: pin everything that changes how values print.
        for setting in ("TimeZone = 'UTC'", "DateStyle = 'ISO, YMD'", "extra_float_digits = 1", "bytea_output = 'hex'"):
            conn.execute(f"SET {setting}")
        if not autocommit:
            conn.commit()  # session settings kept; the caller's transaction starts clean
        return conn

    @property
    def label(self) -> str:
        return self.name if self.vendor == "sqlite" else f"{self.host or '127.0.0.1'}:{self.port or 5432}/{self.name}"


def _from_config(config: dict) -> Database:
    engine = config.get("ENGINE", "")
    if engine.endswith("sqlite3"):
        return Database("sqlite", str(config["NAME"]))
    if engine.endswith("postgresql"):
        return Database(
            "postgresql",
            str(config["NAME"]),
            str(config.get("HOST") or ""),
            str(config.get("PORT") or ""),
            str(config.get("USER") or ""),
            str(config.get("PASSWORD") or ""),
        )
    raise ValueError(f"Vigil backs up PostgreSQL and SQLite only, not {engine}.")


def default_database() -> Database:
    """Vigil's own database as Django uses it (the test database under pytest)."""
    from django.db import connections

    return _from_config(connections["default"].settings_dict)


def database_from_url(url: str) -> Database:
    return _from_config(environ.Env.db_url_config(url))


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


# --- manifests ----------------------------------------------------------------------------


def _pg_tables(conn) -> list[str]:
    rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename").fetchall()
    return [row[0] for row in rows]


def _pg_order(conn, table: str) -> str:
    from psycopg import sql

    rows = conn.execute(
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
        "WHERE i.indrelid = %s::regclass AND i.indisprimary ORDER BY array_position(i.indkey, a.attnum)",
        [sql.Identifier(table).as_string(conn)],
    ).fetchall()
    if rows:
        return sql.SQL(", ").join(sql.Identifier("t", row[0]) for row in rows).as_string(conn)
    return "t::text"


def _pg_manifest(conn, *, hashes: bool, progress: Progress) -> dict[str, dict]:
    from psycopg import sql

    tables = {}
    names = _pg_tables(conn)
    for index, table in enumerate(names, 1):
        if hashes:
            order = _pg_order(conn, table)
            query = sql.SQL(
                "SELECT count(*), encode(sha256(convert_to(coalesce(string_agg(t::text, E'\\n' ORDER BY {order}), ''),"
                " 'UTF8')), 'hex') FROM {table} AS t"
            ).format(order=sql.SQL(order), table=sql.Identifier(table))
            count, digest = conn.execute(query).fetchone()
            tables[table] = {"rows": count, "sha256": digest}
        else:
            count = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))).fetchone()[0]
            tables[table] = {"rows": count}
        if index % 20 == 0:
            progress(f"  manifest: {index}/{len(names)} tables")
    return tables


def _sqlite_manifest(conn: sqlite3.Connection, *, hashes: bool, progress: Progress) -> dict[str, dict]:
    tables = {}
    names = [
        row[0]
        for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
        )
    ]
    for table in names:
        quoted = '"' + table.replace('"', '""') + '"'
        if hashes:
            digest = hashlib.sha256()
            count = 0
            for row in conn.execute(f"SELECT * FROM {quoted} ORDER BY rowid"):
                digest.update(repr(row).encode())
                digest.update(b"\n")
                count += 1
            tables[table] = {"rows": count, "sha256": digest.hexdigest()}
        else:
            tables[table] = {"rows": conn.execute(f"SELECT count(*) FROM {quoted}").fetchone()[0]}
    return tables


def table_manifest(database: Database, *, hashes: bool = True, progress: Progress = _quiet) -> dict[str, dict]:
    """{table: {"rows": n, "sha256": hex}} for every table of the database."""
    with contextlib.closing(database.connect()) as conn:
        if database.vendor == "sqlite":
            return _sqlite_manifest(conn, hashes=hashes, progress=progress)
        return _pg_manifest(conn, hashes=hashes, progress=progress)


def is_empty(database: Database) -> bool:
    """No tables at all (a fresh database); a migrated one with zero rows is not empty."""
    if database.vendor == "sqlite":
        if not Path(database.name).exists() or Path(database.name).stat().st_size == 0:
            return True
        with contextlib.closing(sqlite3.connect(database.name)) as conn:
            return conn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()[0] == 0
    with contextlib.closing(database.connect()) as conn:
        return not _pg_tables(conn)


# --- backup -------------------------------------------------------------------------------


@dataclass
class BackupFile:
    path: Path
    sha256: str
    size_bytes: int
    manifest: dict
    engine: str
    format: str


def backup_database(database: Database, out_dir: Path, *, progress: Progress = _quiet, stamp: str) -> BackupFile:
    out_dir.mkdir(parents=True, exist_ok=True)
    if database.vendor == "sqlite":
        path = out_dir / f"vigil-{stamp}.sqlite3"
        tables = _sqlite_backup(database, path, progress)
        fmt = "sqlite"
    else:
        path = out_dir / f"vigil-{stamp}.dump"
        tables = _pg_backup(database, path, progress)
        fmt = "pg_dump-custom"
    progress("  checksum ...")
    digest = file_sha256(path)
    manifest = {
        "version": MANIFEST_VERSION,
        "engine": database.vendor,
        "format": fmt,
        "file": path.name,
        "sha256": digest,
        "tables": tables,
    }
    path.with_name(path.name + ".manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True))
    return BackupFile(path, digest, path.stat().st_size, manifest, database.vendor, fmt)


def _sqlite_backup(database: Database, path: Path, progress: Progress) -> dict:
    partial = path.with_name(path.name + ".partial")
    with (
        contextlib.closing(sqlite3.connect(database.name)) as source,
        contextlib.closing(sqlite3.connect(partial)) as copy,
    ):

        def report(status, remaining, total):
            if total and remaining:
                progress(f"  copied {total - remaining}/{total} pages")

        source.backup(copy, pages=4096, progress=report)
    os.replace(partial, path)
    progress("  manifest ...")
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return _sqlite_manifest(conn, hashes=True, progress=progress)


def _pg_backup(database: Database, path: Path, progress: Progress) -> dict:
    partial = path.with_name(path.name + ".partial")
    # One snapshot for both: the manifest counts exactly the rows pg_dump writes.
    with contextlib.closing(database.connect(autocommit=False)) as conn:
        import psycopg

        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        snapshot = conn.execute("SELECT pg_export_snapshot()").fetchone()[0]
        dump = subprocess.Popen(  # noqa: S603 (fixed argv, no shell)
            ["pg_dump", "-Fc", f"--snapshot={snapshot}", "--no-owner", "-f", str(partial)],  # noqa: S607
            env=database.pg_env(),
            stderr=subprocess.PIPE,
        )
        progress("  pg_dump running; manifest ...")
        try:
            tables = _pg_manifest(conn, hashes=True, progress=progress)
        finally:
            _, stderr = dump.communicate()
        conn.rollback()
    if dump.returncode != 0:
        partial.unlink(missing_ok=True)
        raise RuntimeError(f"pg_dump failed: {stderr.decode(errors='replace').strip()[-2000:]}")
    os.replace(partial, path)
    return tables


# --- restore ------------------------------------------------------------------------------


class RestoreFailed(Exception):
    pass


def pg_restore_command(path: Path, dbname: str) -> list[str]:
    """The exact command a bare restore runs (the benchmark runs the same one)."""
    return ["pg_restore", "--no-owner", "--no-privileges", "--exit-on-error", "-d", dbname, str(path)]


def restore_into(database: Database, path: Path, *, clean: bool = False, progress: Progress = _quiet) -> None:
    """Restore a backup file into `database` (which must exist for PostgreSQL)."""
    path = Path(path)
    if database.vendor == "sqlite":
        _sqlite_restore(path, Path(database.name), progress)
        return
    if clean:
        with contextlib.closing(database.connect()) as conn:
            conn.execute("DROP SCHEMA IF EXISTS public CASCADE")
            conn.execute("CREATE SCHEMA public")
    progress(f"  pg_restore into {database.name} ...")
    result = subprocess.run(  # noqa: S603 (fixed argv, no shell)
        pg_restore_command(path, database.name), env=database.pg_env(), capture_output=True, check=False
    )
    if result.returncode != 0:
        raise RestoreFailed(f"pg_restore exited {result.returncode}: {result.stderr.decode(errors='replace')[-2000:]}")


def _sqlite_restore(path: Path, destination: Path, progress: Progress) -> None:
    try:
        _sqlite_copy(path, destination, progress)
    except sqlite3.DatabaseError as exc:  # a truncated or corrupted file: the restore failed, say why
        raise RestoreFailed(f"SQLite could not read the backup: {exc}") from exc


def _sqlite_copy(path: Path, destination: Path, progress: Progress) -> None:
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as source:
        problems = source.execute("PRAGMA quick_check").fetchall()
        if problems != [("ok",)]:
            raise RestoreFailed(f"SQLite integrity check failed: {'; '.join(str(p[0]) for p in problems[:5])}")
        with contextlib.closing(sqlite3.connect(destination)) as target:
            progress(f"  copying into {destination} ...")
            source.backup(target)


@contextlib.contextmanager
def scratch_database(database: Database) -> Iterator[Database]:
    """A throw-away database of the same engine; ALWAYS removed afterwards, whatever happened."""
    if database.vendor == "sqlite":
        folder = tempfile.mkdtemp(prefix="vigil_drill_")
        try:
            yield Database("sqlite", str(Path(folder) / "restored.sqlite3"))
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return
    from psycopg import sql

    name = f"vigil_drill_{secrets.token_hex(6)}"
    with contextlib.closing(database.connect(dbname=scratch_admin_db())) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name)))
    try:
        yield database.with_name(name)
    finally:
        with contextlib.closing(database.connect(dbname=scratch_admin_db())) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def scratch_admin_db() -> str:
    return getattr(settings, "BACKUP_SCRATCH_ADMIN_DB", "postgres")


def database_exists(database: Database, name: str) -> bool:
    if database.vendor == "sqlite":
        return Path(name).exists()
    with contextlib.closing(database.connect(dbname=scratch_admin_db())) as admin:
        return admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is not None


def run_canary(database: Database, query: str) -> str | None:
    """The first value of the first row, as text (None: no row or NULL)."""
    with contextlib.closing(database.connect()) as conn:
        row = conn.execute(query).fetchone()
    return None if row is None or row[0] is None else str(row[0])


def load_sidecar_manifest(path: Path) -> dict | None:
    sidecar = Path(str(path) + ".manifest.json")
    if not sidecar.exists():
        return None
    return json.loads(sidecar.read_text())


def backup_dir() -> Path:
    return Path(getattr(settings, "BACKUP_DIR", settings.VAR_DIR / "backups"))
