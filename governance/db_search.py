"""Admin search that uses an index on PostgreSQL: trigram GIN indexes on what `icontains` produces.

Django's admin search is a substring match: `UPPER("table"."column"::text) LIKE UPPER('%term%')` on
PostgreSQL. A B-tree cannot serve a leading wildcard; a GIN index with `gin_trgm_ops` on exactly that
expression can, so a search over a million rows reads the index instead of the table. We chose trigrams
over full-text search because people type fragments (a host name, half an alert name, "disk") and
full-text matches whole stemmed words, which would change what the search box finds. Terms shorter
than three characters have no trigram and fall back to a scan; references and slugs stay exact lookups.

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
                f'CREATE INDEX IF NOT EXISTS "{name}" ON "{table}" USING gin ((UPPER("{column}"::text)) gin_trgm_ops)'
            )

    def backwards(apps, schema_editor):
        if not _pg(schema_editor):
            return
        for name, _table, _column in specs:
            schema_editor.execute(f'DROP INDEX IF EXISTS "{name}"')

    return migrations.RunPython(forwards, backwards)
