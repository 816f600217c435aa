"""Database triggers that keep IncidentDailyStat in step with incidents_incident, on PostgreSQL and SQLite.

A row's contribution is subtracted from its old bucket and added to its new one on every insert, update
of a counted column, and delete — whatever wrote it. `rollups_rebuild()` recomputes the table from the
incidents (after a bulk load with the triggers off, or to check them).
"""

from django.db import connection, transaction

from .choices import OPEN_STATUSES

TABLE = "incidents_incidentdailystat"
COUNTED = (
    "declared_at",
    "severity",
    "service_id",
    "status",
    "acknowledged_at",
    "resolved_at",
    "ack_breached",
    "ack_due_at",
)
COUNTERS = (
    "incidents",
    "open_count",
    "tta_count",
    "tta_seconds",
    "ttr_count",
    "ttr_seconds",
    "decided",
    "met",
    "breached",
)
_OPEN = ", ".join(f"'{status}'" for status in OPEN_STATUSES)


def _pg_values(r: str) -> str:
    return f"""
        (({r}.declared_at AT TIME ZONE 'UTC')::date, {r}.severity, {r}.service_id, sign,
         sign * ({r}.status IN ({_OPEN}))::int,
         sign * ({r}.acknowledged_at IS NOT NULL)::int,
         sign * COALESCE(EXTRACT(EPOCH FROM {r}.acknowledged_at - {r}.declared_at), 0),
         sign * ({r}.resolved_at IS NOT NULL)::int,
         sign * COALESCE(EXTRACT(EPOCH FROM {r}.resolved_at - {r}.declared_at), 0),
         sign * ({r}.acknowledged_at IS NOT NULL OR {r}.ack_breached)::int,
         sign * ({r}.acknowledged_at IS NOT NULL AND NOT {r}.ack_breached
                 AND {r}.acknowledged_at <= {r}.ack_due_at)::int,
         sign * {r}.ack_breached::int)"""


def _postgresql() -> list[str]:
    updates = ", ".join(f"{c} = s.{c} + EXCLUDED.{c}" for c in COUNTERS)
    changed = " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in COUNTED)
    return [
        f"""
        CREATE OR REPLACE FUNCTION incidents_daily_stat_apply(r incidents_incident, sign integer) RETURNS void AS $$
        BEGIN
            INSERT INTO {TABLE} AS s (day, severity, service_id, {", ".join(COUNTERS)})
            VALUES {_pg_values("r")}
            ON CONFLICT (day, severity, service_id) DO UPDATE SET {updates};
        END $$ LANGUAGE plpgsql""",
        """
        CREATE OR REPLACE FUNCTION incidents_daily_stat_trigger() RETURNS trigger AS $$
        BEGIN
            IF TG_OP <> 'INSERT' THEN PERFORM incidents_daily_stat_apply(OLD, -1); END IF;
            IF TG_OP <> 'DELETE' THEN PERFORM incidents_daily_stat_apply(NEW, 1); END IF;
            RETURN NULL;
        END $$ LANGUAGE plpgsql""",
        "DROP TRIGGER IF EXISTS incidents_daily_stat_write ON incidents_incident",
        "DROP TRIGGER IF EXISTS incidents_daily_stat_update ON incidents_incident",
        """CREATE TRIGGER incidents_daily_stat_write AFTER INSERT OR DELETE ON incidents_incident
           FOR EACH ROW EXECUTE FUNCTION incidents_daily_stat_trigger()""",
        f"""CREATE TRIGGER incidents_daily_stat_update AFTER UPDATE ON incidents_incident
           FOR EACH ROW WHEN ({changed}) EXECUTE FUNCTION incidents_daily_stat_trigger()""",
    ]


def _sqlite_seconds(end: str, start: str) -> str:
    # julianday() is a double of days: rounded to the millisecond, a 5-minute span is exactly 300 s.
    return f"ROUND((julianday({end}) - julianday({start})) * 86400.0, 3)"


def _sqlite_apply(r: str, sign: int) -> str:
    key = f"date({r}.declared_at), {r}.severity, {r}.service_id"
    values = {
        "incidents": f"{sign}",
        "open_count": f"{sign} * ({r}.status IN ({_OPEN}))",
        "tta_count": f"{sign} * ({r}.acknowledged_at IS NOT NULL)",
        "tta_seconds": f"{sign} * COALESCE({_sqlite_seconds(r + '.acknowledged_at', r + '.declared_at')}, 0)",
        "ttr_count": f"{sign} * ({r}.resolved_at IS NOT NULL)",
        "ttr_seconds": f"{sign} * COALESCE({_sqlite_seconds(r + '.resolved_at', r + '.declared_at')}, 0)",
        "decided": f"{sign} * ({r}.acknowledged_at IS NOT NULL OR {r}.ack_breached)",
        "met": f"{sign} * ({r}.acknowledged_at IS NOT NULL AND NOT {r}.ack_breached "
        f"AND julianday({r}.acknowledged_at) <= julianday({r}.ack_due_at))",
        "breached": f"{sign} * {r}.ack_breached",
    }
    sets = ", ".join(f"{c} = {c} + {v}" for c, v in values.items())
    zeros = ", ".join("0" for _ in COUNTERS)
    return (
        f"INSERT OR IGNORE INTO {TABLE} (day, severity, service_id, {', '.join(COUNTERS)}) VALUES ({key}, {zeros}); "
        f"UPDATE {TABLE} SET {sets} WHERE day = date({r}.declared_at) AND severity = {r}.severity "
        f"AND service_id = {r}.service_id;"
    )


def _sqlite() -> list[str]:
    return [
        "DROP TRIGGER IF EXISTS incidents_daily_stat_insert",
        "DROP TRIGGER IF EXISTS incidents_daily_stat_delete",
        "DROP TRIGGER IF EXISTS incidents_daily_stat_update",
        f"CREATE TRIGGER incidents_daily_stat_insert AFTER INSERT ON incidents_incident "
        f"BEGIN {_sqlite_apply('NEW', 1)} END",
        f"CREATE TRIGGER incidents_daily_stat_delete AFTER DELETE ON incidents_incident "
        f"BEGIN {_sqlite_apply('OLD', -1)} END",
        f"CREATE TRIGGER incidents_daily_stat_update AFTER UPDATE OF {', '.join(COUNTED)} ON incidents_incident "
        f"BEGIN {_sqlite_apply('OLD', -1)} {_sqlite_apply('NEW', 1)} END",
    ]


def install_rollup_triggers(schema_editor) -> None:
    statements = _postgresql() if schema_editor.connection.vendor == "postgresql" else _sqlite()
    for sql in statements:
        schema_editor.execute(sql, params=None)


def remove_rollup_triggers(schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP TRIGGER IF EXISTS incidents_daily_stat_write ON incidents_incident")
        schema_editor.execute("DROP TRIGGER IF EXISTS incidents_daily_stat_update ON incidents_incident")
        schema_editor.execute("DROP FUNCTION IF EXISTS incidents_daily_stat_trigger()")
        schema_editor.execute("DROP FUNCTION IF EXISTS incidents_daily_stat_apply(incidents_incident, integer)")
    else:
        for name in ("insert", "delete", "update"):
            schema_editor.execute(f"DROP TRIGGER IF EXISTS incidents_daily_stat_{name}")


def rollups_rebuild() -> int:
    """Recompute every roll-up row from the incidents, in one statement. Returns the number of rows."""
    conn = connection
    if conn.vendor == "postgresql":
        select = f"""
            SELECT (declared_at AT TIME ZONE 'UTC')::date, severity, service_id, COUNT(*),
                   COUNT(*) FILTER (WHERE status IN ({_OPEN})),
                   COUNT(acknowledged_at), COALESCE(SUM(EXTRACT(EPOCH FROM acknowledged_at - declared_at)), 0),
                   COUNT(resolved_at), COALESCE(SUM(EXTRACT(EPOCH FROM resolved_at - declared_at)), 0),
                   COUNT(*) FILTER (WHERE acknowledged_at IS NOT NULL OR ack_breached),
                   COUNT(*) FILTER (WHERE acknowledged_at IS NOT NULL AND NOT ack_breached
                                    AND acknowledged_at <= ack_due_at),
                   COUNT(*) FILTER (WHERE ack_breached)
            FROM incidents_incident GROUP BY 1, 2, 3"""
    else:
        select = f"""
            SELECT date(declared_at), severity, service_id, COUNT(*),
                   SUM(status IN ({_OPEN})),
                   COUNT(acknowledged_at),
                   COALESCE(SUM({_sqlite_seconds("acknowledged_at", "declared_at")}), 0),
                   COUNT(resolved_at), COALESCE(SUM({_sqlite_seconds("resolved_at", "declared_at")}), 0),
                   SUM(acknowledged_at IS NOT NULL OR ack_breached),
                   SUM(acknowledged_at IS NOT NULL AND NOT ack_breached
                       AND julianday(acknowledged_at) <= julianday(ack_due_at)),
                   SUM(ack_breached)
            FROM incidents_incident GROUP BY 1, 2, 3"""
    with transaction.atomic(), conn.cursor() as cursor:
        cursor.execute(f"DELETE FROM {TABLE}")
        cursor.execute(f"INSERT INTO {TABLE} (day, severity, service_id, {', '.join(COUNTERS)}) {select}")
        return cursor.rowcount
