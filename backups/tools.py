"""The backup tools' own JSON output, turned into runs.

Each parser takes the text a tool printed and returns RunReports; the tool's own
snapshot id / backup label is the `external_id`, so reporting the same output
twice changes nothing. Fields as the tools document them:

- restic (0.14+): `restic snapshots --json` — an array of snapshots with `id`,
  `short_id`, `time`, `paths`, `hostname`, `tags`; and `restic backup --json` — a
  stream of JSON lines whose last has `"message_type": "summary"` with
  `snapshot_id`, `total_duration` (seconds), `data_added`, `total_bytes_processed`
  (restic 0.17 adds `backup_start` / `backup_end`).
- pgBackRest (2.x): `pgbackrest info --output=json` — an array of stanzas, each
  with `name`, `status` and `backup`: `label`, `type` (full / diff / incr),
  `timestamp.start` / `timestamp.stop` (Unix seconds), `info.size`,
  `info.repository.size` / `.delta`, `archive.start` / `archive.stop` (the WAL
  range needed to make it consistent), `lsn`, `error`.
- WAL-G: `wal-g backup-list --json --detail` — an array with `backup_name`,
  `time`, `start_time`, `finish_time`, `wal_file_name`, `start_lsn`,
  `finish_lsn`, `uncompressed_size`, `compressed_size`, `is_permanent`,
  `hostname`, `data_dir`, `pg_version`; delta backups are named `..._D_<base>`.
- Barman 3.x: `barman -f json list-backups SERVER` — `{server: [{backup_id,
  status, end_time, end_time_timestamp, size_bytes, wal_size_bytes, ...}]}` and
  `barman -f json show-backup SERVER ID` — `{server: {backup_id, status,
  base_backup_information: {begin_time_timestamp, end_time_timestamp, begin_wal,
  end_wal, begin_lsn, end_lsn, disk_usage_bytes, ...}}}`.
"""

import datetime as dt
import json
from dataclasses import dataclass, field

from governance.errors import ValidationFailed
from governance.text import UNSTORABLE_TEXT_MESSAGE, unstorable_text_path

from .choices import RunKind, RunStatus, Tool


@dataclass
class RunReport:
    external_id: str
    status: str
    started_at: dt.datetime
    finished_at: dt.datetime | None
    kind: str = RunKind.FULL
    size_bytes: int | None = None
    recovery_point_at: dt.datetime | None = None
    recovery_point_detail: str = ""
    location: str = ""
    raw: dict = field(default_factory=dict)
    error: str = ""


class WrongFormat(ValidationFailed):
    code = "wrong_format"


EXPECTED = {
    Tool.RESTIC: "the JSON array printed by `restic snapshots --json` (objects with id and time) "
    "or the summary line of `restic backup --json`",
    Tool.PGBACKREST: "the JSON array printed by `pgbackrest info --output=json` (stanzas with a backup list)",
    Tool.WALG: "the JSON array printed by `wal-g backup-list --json --detail` (objects with backup_name)",
    Tool.BARMAN: "the JSON object printed by `barman -f json list-backups SERVER` or `barman -f json show-backup "
    "SERVER ID` (server name → backups with backup_id)",
}


def _wrong(tool: str, why: str) -> WrongFormat:
    return WrongFormat(
        f"Not {tool} output ({why}): expected {EXPECTED[tool]}.",
        fields={"body": [f"Expected {EXPECTED[tool]}; {why}."]},
    )


def _load(tool: str, data):
    if isinstance(data, bytes | bytearray):
        data = data.decode("utf-8", errors="replace")
    if isinstance(data, str):
        text = data.strip()
        if not text:
            raise _wrong(tool, "the input is empty")
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            if tool != Tool.RESTIC:
                raise _wrong(tool, "the input is not JSON") from None
            data = _json_lines(tool, text)  # `backup --json` prints one JSON object per line
        except RecursionError:  # `[[[[…` thousands deep: Python's decoder gives up before the JSON ends
            raise _wrong(tool, "the input is nested too deeply") from None
    # Ids, labels and the raw document are stored: text PostgreSQL refuses is named here, not a 500 there.
    path = unstorable_text_path(data)
    if path is not None:
        where = f"body.{path}" if path else "body"
        raise WrongFormat(
            f"Not storable {tool} output: {where}: {UNSTORABLE_TEXT_MESSAGE}", fields={where: [UNSTORABLE_TEXT_MESSAGE]}
        )
    return data


def _json_lines(tool: str, text: str) -> list:
    lines = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            lines.append(json.loads(line))
        except (json.JSONDecodeError, RecursionError):
            raise _wrong(tool, f"line {number} is not JSON") from None
    return lines


def _epoch(value, tool: str, name: str) -> dt.datetime:
    try:
        return dt.datetime.fromtimestamp(int(value), tz=dt.UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        raise _wrong(tool, f"{name} is not a Unix timestamp: {value!r}") from None


def _iso(value, tool: str, name: str) -> dt.datetime:
    if not isinstance(value, str) or not value:
        raise _wrong(tool, f"{name} is missing")
    text = value.strip()
    # Go prints nanoseconds and may say "Z"; Python takes at most microseconds.
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    main, sep, rest = text.partition(".")
    if sep:  # the fraction is the digits up to the offset; the offset's own digits stay with it
        zone_at = next((index for index, ch in enumerate(rest) if ch not in "0123456789"), len(rest))
        digits, zone = rest[:zone_at], rest[zone_at:]
        text = f"{main}.{digits[:6].ljust(6, '0')}{zone}"
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        raise _wrong(tool, f"{name} is not an ISO 8601 time: {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _int(value) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _first_present(*values):
    """The first value that is there: a size of 0 is a size, not a missing one."""
    return next((value for value in values if value is not None), None)


# --- restic -------------------------------------------------------------------------------


def parse_restic(data) -> list[RunReport]:
    payload = _load(Tool.RESTIC, data)
    if isinstance(payload, dict):
        payload = [payload]
    if not isinstance(payload, list):
        raise _wrong(Tool.RESTIC, "the input is neither an array nor JSON lines")
    summaries = [item for item in payload if isinstance(item, dict) and item.get("message_type") == "summary"]
    if summaries:
        return [_restic_summary(summary) for summary in summaries]
    if payload and all(isinstance(item, dict) and item.get("message_type") for item in payload):
        raise _wrong(Tool.RESTIC, "the `backup --json` output has no summary line (did the backup finish?)")
    reports = []
    for index, snapshot in enumerate(payload):
        if not isinstance(snapshot, dict) or not snapshot.get("id") or not snapshot.get("time"):
            raise _wrong(Tool.RESTIC, f"item {index} has no id and time")
        when = _iso(snapshot["time"], Tool.RESTIC, f"item {index} time")
        summary = snapshot.get("summary") or {}  # restic 0.17+
        started = _iso(summary["backup_start"], Tool.RESTIC, "backup_start") if summary.get("backup_start") else when
        finished = _iso(summary["backup_end"], Tool.RESTIC, "backup_end") if summary.get("backup_end") else when
        reports.append(
            RunReport(
                external_id=_restic_id(snapshot.get("short_id") or snapshot["id"]),
                status=RunStatus.SUCCEEDED,
                kind=RunKind.INCREMENTAL if snapshot.get("parent") else RunKind.FULL,
                started_at=started,
                finished_at=max(finished, started),
                recovery_point_at=when,
                recovery_point_detail=", ".join(snapshot.get("paths") or [])[:200],
                size_bytes=_int(summary.get("total_bytes_processed")),
                location=f"{snapshot.get('hostname', '')}:{','.join(snapshot.get('paths') or [])}"[:1000],
                raw=snapshot,
            )
        )
    return reports


def _restic_id(value) -> str:
    """restic's short id (8 hex): what `backup --json` prints before 0.15 and what people quote."""
    return str(value)[:8]


def _restic_summary(summary: dict) -> RunReport:
    snapshot_id = summary.get("snapshot_id")
    if not snapshot_id:
        raise _wrong(Tool.RESTIC, "the summary line has no snapshot_id (restic ran with --dry-run?)")
    if summary.get("backup_end"):
        finished = _iso(summary["backup_end"], Tool.RESTIC, "backup_end")
    else:  # restic before 0.17: the summary is printed as the backup ends
        finished = dt.datetime.now(tz=dt.UTC)
    if summary.get("backup_start"):
        started = _iso(summary["backup_start"], Tool.RESTIC, "backup_start")
    else:
        try:
            duration = float(summary.get("total_duration") or 0)
        except (TypeError, ValueError):
            raise _wrong(Tool.RESTIC, "total_duration is not a number") from None
        started = finished - dt.timedelta(seconds=duration)
    return RunReport(
        external_id=_restic_id(snapshot_id),
        status=RunStatus.SUCCEEDED,
        kind=RunKind.INCREMENTAL if (summary.get("files_unmodified") or summary.get("dirs_unmodified")) else "full",
        started_at=started,
        finished_at=finished,
        recovery_point_at=started,  # the snapshot holds the files as read from the start on
        size_bytes=_int(summary.get("total_bytes_processed")),
        raw=summary,
    )


# --- pgBackRest --------------------------------------------------------------------------

PGBACKREST_TYPES = {"full": RunKind.FULL, "diff": RunKind.DIFFERENTIAL, "incr": RunKind.INCREMENTAL}


def parse_pgbackrest(data) -> list[RunReport]:
    payload = _load(Tool.PGBACKREST, data)
    if isinstance(payload, dict):
        payload = [payload]
    if not isinstance(payload, list) or not all(isinstance(s, dict) and "backup" in s for s in payload):
        raise _wrong(Tool.PGBACKREST, "no stanza with a backup list")
    reports = []
    for stanza in payload:
        name = str(stanza.get("name", ""))
        for index, backup in enumerate(stanza.get("backup") or []):
            label = backup.get("label") if isinstance(backup, dict) else None
            if not label or "timestamp" not in backup:
                raise _wrong(Tool.PGBACKREST, f"stanza {name!r} backup {index} has no label and timestamp")
            stamps = backup["timestamp"] or {}
            started = _epoch(stamps.get("start"), Tool.PGBACKREST, f"{label} timestamp.start")
            finished = _epoch(stamps.get("stop"), Tool.PGBACKREST, f"{label} timestamp.stop")
            info = backup.get("info") or {}
            repository = info.get("repository") or {}
            archive = backup.get("archive") or {}
            wal_range = "-".join(str(archive[k]) for k in ("start", "stop") if archive.get(k))
            failed = bool(backup.get("error"))
            reports.append(
                RunReport(
                    external_id=f"{name}/{label}" if name else str(label),
                    status=RunStatus.FAILED if failed else RunStatus.SUCCEEDED,
                    kind=PGBACKREST_TYPES.get(backup.get("type"), RunKind.FULL),
                    started_at=started,
                    finished_at=max(finished, started),
                    # Restorable to the end of its WAL range: consistent at the stop timestamp.
                    recovery_point_at=max(finished, started),
                    recovery_point_detail=f"WAL {wal_range}" if wal_range else "",
                    size_bytes=_int(_first_present(repository.get("delta"), repository.get("size"), info.get("size"))),
                    location=f"pgbackrest:{name}/{label}",
                    raw=backup,
                    error="pgBackRest marked the backup with errors (checksum or page errors)." if failed else "",
                )
            )
    return reports


# --- WAL-G ---------------------------------------------------------------------------------


def parse_walg(data) -> list[RunReport]:
    payload = _load(Tool.WALG, data)
    if not isinstance(payload, list) or not all(isinstance(b, dict) and b.get("backup_name") for b in payload):
        raise _wrong(Tool.WALG, "not an array of objects with backup_name")
    reports = []
    for backup in payload:
        name = str(backup["backup_name"])
        if not backup.get("start_time") and not backup.get("time"):
            raise _wrong(Tool.WALG, f"{name} has no start_time (run backup-list with --detail)")
        started = _iso(backup.get("start_time") or backup.get("time"), Tool.WALG, f"{name} start_time")
        finished = _iso(backup.get("finish_time") or backup.get("time"), Tool.WALG, f"{name} finish_time")
        lsn = "-".join(str(backup[k]) for k in ("start_lsn", "finish_lsn") if backup.get(k) is not None)
        detail = f"WAL {backup.get('wal_file_name', '')}".strip() + (f" LSN {lsn}" if lsn else "")
        reports.append(
            RunReport(
                external_id=name,
                status=RunStatus.SUCCEEDED,  # backup-list shows only completed backups
                kind=RunKind.INCREMENTAL if "_D_" in name else RunKind.FULL,
                started_at=started,
                finished_at=max(finished, started),
                recovery_point_at=max(finished, started),
                recovery_point_detail=detail[:200] if detail != "WAL" else "",
                size_bytes=_int(backup.get("compressed_size")),
                location=f"wal-g:{backup.get('storage_name') or 'default'}/{name}",
                raw=backup,
            )
        )
    return reports


# --- Barman --------------------------------------------------------------------------------

BARMAN_FAILED = {"FAILED"}
BARMAN_RUNNING = {"STARTED", "EMPTY", "SYNCING"}


def parse_barman(data) -> list[RunReport]:
    payload = _load(Tool.BARMAN, data)
    if not isinstance(payload, dict) or not payload:
        raise _wrong(Tool.BARMAN, "not an object keyed by server name")
    reports = []
    for server, value in payload.items():
        backups = value if isinstance(value, list) else [value]
        for backup in backups:
            if not isinstance(backup, dict) or not backup.get("backup_id"):
                raise _wrong(Tool.BARMAN, f"server {server!r} lists an item without backup_id")
            reports.append(_barman_backup(str(server), backup))
    return reports


def _barman_backup(server: str, backup: dict) -> RunReport:
    backup_id = str(backup["backup_id"])
    status_text = str(backup.get("status", "")).upper()
    base = backup.get("base_backup_information") or {}
    end_stamp = base.get("end_time_timestamp") or backup.get("end_time_timestamp")
    begin_stamp = base.get("begin_time_timestamp")
    if status_text in BARMAN_FAILED:
        status = RunStatus.FAILED
    elif status_text in BARMAN_RUNNING or not end_stamp:
        status = RunStatus.RUNNING if status_text not in BARMAN_FAILED else RunStatus.FAILED
    else:
        status = RunStatus.SUCCEEDED  # DONE, WAITING_FOR_WALS (restorable once the WALs arrive)
    finished = _epoch(end_stamp, Tool.BARMAN, f"{backup_id} end_time_timestamp") if end_stamp else None
    if begin_stamp:
        started = _epoch(begin_stamp, Tool.BARMAN, f"{backup_id} begin_time_timestamp")
    else:
        started = finished or _barman_id_time(backup_id)
    wal_range = "-".join(str(base[k]) for k in ("begin_wal", "end_wal") if base.get(k))
    size = base.get("disk_usage_bytes") if base else backup.get("size_bytes")
    return RunReport(
        external_id=f"{server}/{backup_id}",
        status=status,
        kind=RunKind.INCREMENTAL if str(backup.get("backup_type", "")).lower() == "incremental" else RunKind.FULL,
        started_at=started,
        finished_at=max(finished, started) if finished else None,
        recovery_point_at=max(finished, started) if finished and status == RunStatus.SUCCEEDED else None,
        recovery_point_detail=f"WAL {wal_range}" if wal_range else "",
        size_bytes=_int(size),
        location=f"barman:{server}/{backup_id}",
        raw=backup,
        error=str(backup.get("error", "")) if status == RunStatus.FAILED else "",
    )


def _barman_id_time(backup_id: str) -> dt.datetime:
    """A running backup has no times yet; its id is its start (YYYYMMDDTHHMMSS, server time, taken as UTC)."""
    try:
        return dt.datetime.strptime(backup_id[:15], "%Y%m%dT%H%M%S").replace(tzinfo=dt.UTC)
    except ValueError:
        raise _wrong(Tool.BARMAN, f"{backup_id} has no end_time_timestamp and its id is not a time") from None


PARSERS = {
    Tool.RESTIC: parse_restic,
    Tool.PGBACKREST: parse_pgbackrest,
    Tool.WALG: parse_walg,
    Tool.BARMAN: parse_barman,
}


def parse(tool: str, data) -> list[RunReport]:
    if tool not in PARSERS:
        raise ValidationFailed(f"Unknown format {tool!r}.", fields={"format": [f"Choose from: {', '.join(PARSERS)}."]})
    try:
        reports = PARSERS[tool](data)
    except (TypeError, ValueError, AttributeError, KeyError, OverflowError) as exc:  # right shape, wrong types
        raise _wrong(tool, f"a field has an unexpected type ({type(exc).__name__})") from None
    for report in reports:
        report.external_id = report.external_id[:200]
        if report.size_bytes is not None and not 0 <= report.size_bytes <= MAX_SIZE:
            report.size_bytes = None
    return reports


MAX_SIZE = 2**63 - 1
