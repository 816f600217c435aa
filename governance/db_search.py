"""Admin search that uses an index on PostgreSQL: trigram GIN indexes on what `icontains` produces.

Django's admin search is a substring match: `UPPER("table"."column"::text) LIKE UPPER('%term%')` on
PostgreSQL. A B-tree cannot serve a leading wildcard; a GIN index with `gin_trgm_ops` on exactly that
expression can, so a search over a million rows reads the index instead of the table. We chose trigrams
over full-text search because people type fragments (a host name, half an alert name, "disk") and
full-text matches whole stemmed words, which would change what the search box finds. Terms shorter
than three characters have no trigram and fall back to a scan; references and slugs stay exact lookups.

The indexes are built with `fastupdate = off`. With it on (PostgreSQL's default), new rows go to a
pending list that every search reads in full until VACUUM (or 4 MB of them) merges it into the index:
right after a bulk load, or with autovacuum behind, a search over a million incidents read 450 pages of
pending list to find nothing. Off, each insert updates the index itself (a few trigram entries, cheap at
the rate people declare incidents and write audit events) and a search reads only what matches.

SQLite, the embedded default, gets no index and keeps the same search.
"""

from django.db import migrations


def _pg(schema_editor) -> bool:
    return schema_editor.connection.vendor == "postgresql"


def trigram_extension() -> migrations.RunPython:
    """pg_trgm is a trusted extension (PostgreSQL 13+): the database owner may create it."""

    def forwards(apps, schema_editor):
        if _pg(schema_editor):
            schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")

    return migrations.RunPython(forwards, migrations.RunPython.noop)


def trigram_indexes(*specs: tuple[str, str, str]) -> migrations.RunPython:
    """`(index name, table, column)`: a GIN trigram index on `UPPER(column::text)` per spec, PostgreSQL only."""

    def forwards(apps, schema_editor):
        if not _pg(schema_editor):
            return
        for name, table, column in specs:
            schema_editor.execute(
                f'CREATE INDEX IF NOT EXISTS "{name}" ON "{table}" USING gin ((UPPER("{column}"::text)) gin_trgm_ops) '
                "WITH (fastupdate = off)"
            )

    def backwards(apps, schema_editor):
        if not _pg(schema_editor):
            return
        for name, _table, _column in specs:
            schema_editor.execute(f'DROP INDEX IF EXISTS "{name}"')

    return migrations.RunPython(forwards, backwards)


def trigram_fastupdate_off(*names: str) -> migrations.RunPython:
    """Turn the pending list off on indexes built before `trigram_indexes` did, and merge what it holds."""

    def forwards(apps, schema_editor):
        if not _pg(schema_editor):
            return
        for name in names:
            schema_editor.execute(f'ALTER INDEX IF EXISTS "{name}" SET (fastupdate = off)')
            schema_editor.execute(
                "SELECT gin_clean_pending_list(c.oid) FROM pg_class c WHERE c.relname = %s AND c.relkind = 'i'",
                [name],
            )

    def backwards(apps, schema_editor):
        if not _pg(schema_editor):
            return
        for name in names:
            schema_editor.execute(f'ALTER INDEX IF EXISTS "{name}" RESET (fastupdate)')

    return migrations.RunPython(forwards, backwards)
