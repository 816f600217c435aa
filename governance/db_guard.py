"""Append-only guards for audit tables, as triggers on PostgreSQL and SQLite.

Used by migrations (`append_only_sql`) and by `audit_maintenance()`. Any table
that must never be updated or deleted (audit events, later their seals) gets
the same guard.
"""

import contextvars

from django.db.backends.signals import connection_created
from django.dispatch import receiver

MAINTENANCE: contextvars.ContextVar[bool] = contextvars.ContextVar("vigil_audit_maintenance", default=False)


@receiver(connection_created)
def _register_sqlite_guard(sender, connection, **kwargs):
    if connection.vendor == "sqlite":
        connection.connection.create_function(
            "vigil_audit_maintenance", 0, lambda: 1 if MAINTENANCE.get() else 0, deterministic=False
        )


def install_append_only(schema_editor, table: str) -> None:
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(
            f"""
            CREATE OR REPLACE FUNCTION vigil_append_only() RETURNS trigger AS $$
            BEGIN
                IF current_setting('vigil.audit_maintenance', true) = 'on' THEN
                    IF TG_LEVEL = 'STATEMENT' THEN RETURN NULL; END IF;
                    RETURN OLD;
                END IF;
                RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
                    USING ERRCODE = 'insufficient_privilege';
            END;
            $$ LANGUAGE plpgsql;
            CREATE TRIGGER {table}_no_update BEFORE UPDATE OR DELETE ON {table}
                FOR EACH ROW EXECUTE FUNCTION vigil_append_only();
            CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}
                FOR EACH STATEMENT EXECUTE FUNCTION vigil_append_only();
            """,
            params=None,  # the body's % are plpgsql's, not placeholders
        )
    elif vendor == "sqlite":
        for op in ("UPDATE", "DELETE"):
            schema_editor.execute(
                f"""
                CREATE TRIGGER {table}_no_{op.lower()} BEFORE {op} ON {table}
                WHEN vigil_audit_maintenance() = 0
                BEGIN SELECT RAISE(ABORT, '{table} is append-only: {op} refused'); END
                """
            )
    else:  # pragma: no cover - only the two supported engines
        raise NotImplementedError(f"append-only guard not available on {vendor}")


def remove_append_only(schema_editor, table: str) -> None:
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_no_update ON {table}")
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
    elif vendor == "sqlite":
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")
