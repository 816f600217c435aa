"""Published runbook versions are immutable in the database itself: triggers on PostgreSQL and
SQLite refuse UPDATE and DELETE of a row whose published_at is set (drafts stay editable).

The guard is lifted only where the audit guard is (`governance.audit.audit_maintenance`:
test flushes, retention), through the same session setting / connection function.
"""

TABLE = "runbooks_runbookversion"


def install_published_guard(schema_editor) -> None:
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(
            f"""
            CREATE OR REPLACE FUNCTION vigil_runbook_version_immutable() RETURNS trigger AS $$
            BEGIN
                IF current_setting('vigil.audit_maintenance', true) = 'on' THEN
                    IF TG_LEVEL = 'STATEMENT' THEN RETURN NULL; END IF;
                    IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
                    RETURN NEW;
                END IF;
                IF TG_LEVEL = 'STATEMENT' THEN
                    RAISE EXCEPTION 'published runbook versions are immutable: TRUNCATE refused'
                        USING ERRCODE = 'insufficient_privilege';
                END IF;
                IF OLD.published_at IS NOT NULL THEN
                    RAISE EXCEPTION 'published runbook versions are immutable: % of version % refused', TG_OP, OLD.id
                        USING ERRCODE = 'insufficient_privilege';
                END IF;
                IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
                RETURN NEW;
            END;
            $$ LANGUAGE plpgsql;
            CREATE TRIGGER {TABLE}_published_immutable BEFORE UPDATE OR DELETE ON {TABLE}
                FOR EACH ROW EXECUTE FUNCTION vigil_runbook_version_immutable();
            CREATE TRIGGER {TABLE}_no_truncate BEFORE TRUNCATE ON {TABLE}
                FOR EACH STATEMENT EXECUTE FUNCTION vigil_runbook_version_immutable();
            """,
            params=None,  # the body's % are plpgsql's, not placeholders
        )
    elif vendor == "sqlite":
        for op in ("UPDATE", "DELETE"):
            schema_editor.execute(
                f"""
                CREATE TRIGGER {TABLE}_published_no_{op.lower()} BEFORE {op} ON {TABLE}
                WHEN OLD.published_at IS NOT NULL AND vigil_audit_maintenance() = 0
                BEGIN SELECT RAISE(ABORT, 'published runbook versions are immutable: {op} refused'); END
                """
            )
    else:  # pragma: no cover - only the two supported engines
        raise NotImplementedError(f"immutable-version guard not available on {vendor}")


def remove_published_guard(schema_editor) -> None:
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {TABLE}_published_immutable ON {TABLE}")
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {TABLE}_no_truncate ON {TABLE}")
        schema_editor.execute("DROP FUNCTION IF EXISTS vigil_runbook_version_immutable()")
    elif vendor == "sqlite":
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {TABLE}_published_no_update")
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {TABLE}_published_no_delete")
