"""Runbooks as code: Markdown files with YAML front matter, imported and exported losslessly.

    ---
    slug: restore-vigil-database
    title: Restore Vigil's own database from backup
    service: vigil
    severities: [SEV1, SEV2]
    alert_names: [VigilDatabaseDown]
    owner: platform
    review_interval_days: 90
    cadence:                      # optional: a scheduled procedure
      schedule: weekly            # daily | weekly | monthly | quarterly | a cron expression
      timezone: Europe/Amsterdam
      assignee: on-call           # or a username
      deadline_hours: 24
    ---
    Context...

    ## Step 1: Check the backup
    ```sh
    manage.py ops_backup verify ...
    ```
    Expected: ...
    Rollback: ...

A file is imported as a whole or refused with its file and line; one bad file never stops the others.
"""

from dataclasses import dataclass, field
from pathlib import Path

import yaml
from django.contrib.auth import get_user_model
from django.db import transaction

from governance.errors import VigilError
from governance.models import Service, Team
from governance.text import is_storable

from ..choices import (
    DEFAULT_PROCEDURE_DEADLINE_HOURS,
    DEFAULT_REVIEW_INTERVAL_DAYS,
    ON_CALL_ASSIGNEE,
    RunbookStatus,
)
from ..markdown import content_sha256, normalise, step_heading_lines
from ..models import Runbook
from .runbooks import latest_version, runbook_create, runbook_edit, runbook_update, validate_cadence, version_publish

FRONT_MATTER_KEYS = {
    "slug",
    "title",
    "service",
    "severities",
    "alert_names",
    "owner",
    "review_interval_days",
    "cadence",
}
CADENCE_KEYS = {"schedule", "timezone", "assignee", "deadline_hours"}
# What the columns hold: a longer value is refused on its line here, not by the model mid-import.
TITLE_MAX_LENGTH = Runbook._meta.get_field("title").max_length
CADENCE_MAX_LENGTH = Runbook._meta.get_field("cadence").max_length
MAX_DEADLINE_HOURS = 87_600  # ten years, as review_interval_days


class RunbookFileError(Exception):
    def __init__(self, message: str, line: int = 1):
        super().__init__(message)
        self.message = message
        self.line = line


@dataclass
class RunbookFile:
    path: str
    slug: str
    title: str
    service: Service | None
    severities: list
    alert_names: list
    owner: Team | None
    review_interval_days: int
    cadence: str
    cadence_timezone: str
    assignee: object
    assign_on_call: bool
    deadline_hours: int
    body: str


@dataclass
class ImportLine:
    path: str
    outcome: str  # created, new version, updated, unchanged, retired, rejected
    slug: str = ""
    detail: str = ""

    def __str__(self) -> str:
        what = f"{self.slug}: " if self.slug else ""
        return f"{self.outcome:<11} {self.path}  {what}{self.detail}".rstrip()


@dataclass
class ImportReport:
    lines: list[ImportLine] = field(default_factory=list)

    def count(self, outcome: str) -> int:
        return sum(1 for line in self.lines if line.outcome == outcome)

    @property
    def rejected(self) -> int:
        return self.count("rejected")

    def summary(self) -> str:
        outcomes = ("created", "new version", "updated", "unchanged", "retired", "rejected")
        parts = [f"{self.count(o)} {o}" for o in outcomes]
        return f"{len(self.lines)} file(s): " + ", ".join(parts)


def _key_line(front_lines: list[str], key: str) -> int:
    """The file line of a top-level front matter key (front matter starts on file line 2)."""
    for index, line in enumerate(front_lines):
        if line.startswith(f"{key}:"):
            return index + 2
    return 1


def split_front_matter(text: str) -> tuple[dict, list[str], str, int]:
    """(front matter, its lines, body, the body's first file line)."""
    lines = text.split("\n")
    if not lines or lines[0].strip() != "---":
        raise RunbookFileError("no front matter: the file must start with a '---' line", 1)
    for index in range(1, len(lines)):
        if lines[index].strip() in ("---", "..."):
            front_lines = lines[1:index]
            break
    else:
        raise RunbookFileError("front matter is not closed with a '---' line", 1)
    try:
        front = yaml.safe_load("\n".join(front_lines)) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 2 if mark is not None else 1
        raise RunbookFileError(f"front matter is not valid YAML: {getattr(exc, 'problem', exc)}", line) from None
    if not isinstance(front, dict):
        raise RunbookFileError("front matter must be a mapping of keys to values", 2)
    body = "\n".join(lines[index + 1 :])
    return front, front_lines, body, index + 2


def _key_holding_unstorable_text(front: dict):
    """The top-level key whose value holds text PostgreSQL cannot store, or None. YAML anchors can make
    a value contain itself (`&a [*a]`), so each object is looked at once."""
    for key, value in front.items():
        pending, seen = [key, value], set()
        while pending:
            item = pending.pop()
            if id(item) in seen:
                continue
            seen.add(id(item))
            if isinstance(item, str) and not is_storable(item):
                return key
            if isinstance(item, dict):
                pending.extend([*item.keys(), *item.values()])
            elif isinstance(item, list):
                pending.extend(item)
    return None


def parse_runbook_file(path: str, raw: bytes) -> RunbookFile:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise RunbookFileError(f"not UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start})", line) from None
    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    if "\x00" in text:  # valid UTF-8, but not text: PostgreSQL could not store it
        raise RunbookFileError("the file holds a NUL character", text.count("\n", 0, text.index("\x00")) + 1)
    front, front_lines, body, body_line = split_front_matter(text)

    def fail(key: str, message: str):
        raise RunbookFileError(message, _key_line(front_lines, key))

    unstorable = _key_holding_unstorable_text(front)
    if unstorable is not None:
        fail(unstorable, f"{unstorable!r} holds a NUL character or an unpaired surrogate (a YAML escape)")
    # YAML keys may be numbers or null as well as strings: sorted by their text, never compared.
    unknown = sorted(set(front) - FRONT_MATTER_KEYS, key=str)
    if unknown:
        fail(unknown[0], f"unknown front matter key {unknown[0]!r}")
    for key in ("slug", "title"):
        if not isinstance(front.get(key), str) or not front[key].strip():
            fail(key, f"'{key}' is required (a string)")
    if len(front["title"].strip()) > TITLE_MAX_LENGTH:
        fail("title", f"'title' is at most {TITLE_MAX_LENGTH} characters")
    slug = front["slug"].strip()
    from django.utils.text import slugify

    if slugify(slug) != slug or len(slug) > 100:
        fail("slug", f"slug {slug!r} is not a slug (lowercase letters, digits, hyphens)")
    service = None
    if "service" in front:
        if not isinstance(front["service"], str) or not front["service"].strip():
            fail("service", "'service' must be a service slug (leave it out for a runbook for every service)")
        service = Service.objects.select_related("owner_team").filter(slug=front["service"].strip()).first()
        if service is None:
            fail("service", f"unknown service {front['service']!r}")
    lists = {}
    for key in ("severities", "alert_names"):
        value = front.get(key) or []
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            fail(key, f"'{key}' must be a list of strings")
        lists[key] = value
    owner = None
    if front.get("owner"):
        owner = Team.objects.filter(slug=str(front["owner"]).strip()).first()
        if owner is None:
            fail("owner", f"unknown owner team {front['owner']!r}")
    interval = front.get("review_interval_days", DEFAULT_REVIEW_INTERVAL_DAYS)
    if not isinstance(interval, int) or isinstance(interval, bool) or not 1 <= interval <= 3660:
        fail("review_interval_days", "'review_interval_days' must be a whole number of days from 1 to 3660")
    cadence, tz, assignee, on_call, deadline = "", "UTC", None, False, DEFAULT_PROCEDURE_DEADLINE_HOURS
    if front.get("cadence"):
        spec = front["cadence"]
        if isinstance(spec, str):
            spec = {"schedule": spec}
        if not isinstance(spec, dict) or not spec.get("schedule"):
            fail("cadence", "'cadence' needs a schedule (daily, weekly, monthly, quarterly or a cron expression)")
        extra = sorted(set(spec) - CADENCE_KEYS, key=str)
        if extra:
            fail("cadence", f"unknown cadence key {extra[0]!r}")
        try:
            cadence, tz = validate_cadence(str(spec["schedule"]), str(spec.get("timezone") or "UTC"))
        except VigilError as exc:
            fail("cadence", "; ".join(m for msgs in exc.fields.values() for m in msgs))
        if len(cadence) > CADENCE_MAX_LENGTH:
            fail("cadence", f"the schedule is at most {CADENCE_MAX_LENGTH} characters")
        who = str(spec.get("assignee") or ON_CALL_ASSIGNEE)
        if who == ON_CALL_ASSIGNEE:
            on_call = True
        else:
            assignee = get_user_model().objects.filter(username=who).first()
            if assignee is None:
                fail("cadence", f"unknown assignee {who!r} (a username, or '{ON_CALL_ASSIGNEE}')")
        deadline = spec.get("deadline_hours", DEFAULT_PROCEDURE_DEADLINE_HOURS)
        if not isinstance(deadline, int) or isinstance(deadline, bool) or not 1 <= deadline <= MAX_DEADLINE_HOURS:
            fail("cadence", f"'deadline_hours' must be a whole number of hours from 1 to {MAX_DEADLINE_HOURS}")
    if not step_heading_lines(body):
        raise RunbookFileError("no '## Step' section: a runbook needs at least one step", body_line)
    return RunbookFile(
        path=path,
        slug=slug,
        title=front["title"].strip(),
        service=service,
        severities=lists["severities"],
        alert_names=lists["alert_names"],
        owner=owner,
        review_interval_days=interval,
        cadence=cadence,
        cadence_timezone=tz,
        assignee=assignee,
        assign_on_call=on_call,
        deadline_hours=deadline,
        body=normalise(body),
    )


def _metadata(parsed: RunbookFile, *, creating: bool) -> dict:
    meta = {
        "title": parsed.title,
        "service": parsed.service,
        "severities": sorted(set(parsed.severities)),
        "alert_names": sorted(set(parsed.alert_names)),
        "review_interval_days": parsed.review_interval_days,
        "cadence": parsed.cadence,
        "cadence_timezone": parsed.cadence_timezone,
        "procedure_deadline_hours": parsed.deadline_hours,
        "procedure_assignee": parsed.assignee,
        "assign_on_call": parsed.assign_on_call,
    }
    # A file without `owner` leaves the owner as Vigil has it (a new runbook: the service's owner).
    if parsed.owner is not None:
        meta["owner_team"] = parsed.owner
    elif creating:
        meta["owner_team"] = parsed.service.owner_team if parsed.service else None
    return meta


@transaction.atomic
def runbook_import_one(*, parsed: RunbookFile, publish: bool = True, actor=None) -> ImportLine:
    source = f"import:{parsed.path}"[:300]
    runbook = Runbook.objects.filter(slug=parsed.slug).first()
    if runbook is None:
        meta = _metadata(parsed, creating=True)
        runbook = runbook_create(slug=parsed.slug, body=parsed.body, actor=actor, source=source, **meta)
        if publish:
            version_publish(version=latest_version(runbook), approval_label=source)
        return ImportLine(parsed.path, "created", parsed.slug, "v1" + ("" if publish else " (draft)"))
    if runbook.status == RunbookStatus.RETIRED:
        # Retiring is a decision taken in Vigil; a file left in a repository does not undo it.
        return ImportLine(parsed.path, "retired", parsed.slug, "retired in Vigil; not changed (remove the file)")
    changed = runbook_update(runbook=runbook, actor=actor, **_metadata(parsed, creating=False))
    latest = latest_version(runbook)
    if latest is not None and latest.content_sha256 == content_sha256(parsed.body):
        if publish and not latest.is_published:
            version_publish(version=latest, approval_label=source)
            return ImportLine(parsed.path, "new version", parsed.slug, f"v{latest.number} published")
        if changed:
            return ImportLine(parsed.path, "updated", parsed.slug, f"changed {', '.join(sorted(changed))}")
        return ImportLine(parsed.path, "unchanged", parsed.slug, f"v{latest.number}")
    version = runbook_edit(
        runbook=runbook, body=parsed.body, change_summary=f"Imported from {parsed.path}", actor=actor, source=source
    )
    if publish:
        version_publish(version=version, approval_label=source)
    return ImportLine(parsed.path, "new version", parsed.slug, f"v{version.number}" + ("" if publish else " (draft)"))


def runbook_files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.rglob("*.md") if p.is_file() and p.name.lower() != "readme.md")
    return [path]


def runbooks_import(*, path: Path, publish: bool = True, actor=None, display_root: Path | None = None) -> ImportReport:
    """Import a file or a folder of runbook files; each file is imported or refused on its own."""
    report = ImportReport()
    seen: dict[str, str] = {}
    if not path.exists():
        report.lines.append(ImportLine(str(path), "rejected", detail="line 1: no such file or folder"))
        return report
    for file in runbook_files(path):
        shown = str(file.relative_to(display_root)) if display_root and file.is_relative_to(display_root) else str(file)
        try:
            parsed = parse_runbook_file(shown, file.read_bytes())
            if parsed.slug in seen:
                front_lines = file.read_text("utf-8").split("\n")[1:]
                line = _key_line(front_lines, "slug")
                raise RunbookFileError(f"duplicate slug {parsed.slug!r} (also in {seen[parsed.slug]})", line)
            seen[parsed.slug] = shown
            report.lines.append(runbook_import_one(parsed=parsed, publish=publish, actor=actor))
        except RunbookFileError as exc:
            report.lines.append(ImportLine(shown, "rejected", detail=f"line {exc.line}: {exc.message}"))
        except VigilError as exc:
            fields = "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.fields.items())
            report.lines.append(ImportLine(shown, "rejected", detail=f"line 1: {exc.message} {fields}".strip()))
        except OSError as exc:
            report.lines.append(ImportLine(shown, "rejected", detail=f"line 1: cannot read: {exc}"))
    return report


# --- export -------------------------------------------------------------------------------------


def runbook_front_matter(runbook: Runbook) -> dict:
    front = {"slug": runbook.slug, "title": runbook.title}
    if runbook.service_id:
        front["service"] = runbook.service.slug
    front["severities"] = list(runbook.severities)
    front["alert_names"] = list(runbook.alert_names)
    if runbook.owner_team_id:
        front["owner"] = runbook.owner_team.slug
    front["review_interval_days"] = runbook.review_interval_days
    if runbook.cadence:
        front["cadence"] = {
            "schedule": runbook.cadence,
            "timezone": runbook.cadence_timezone,
            "assignee": runbook.procedure_assignee.get_username()
            if runbook.procedure_assignee_id
            else ON_CALL_ASSIGNEE,
            "deadline_hours": runbook.procedure_deadline_hours,
        }
    return front


def runbook_to_file(runbook: Runbook, version=None) -> str:
    version = version or runbook.current_version or latest_version(runbook)
    front = yaml.safe_dump(runbook_front_matter(runbook), sort_keys=False, allow_unicode=True, default_flow_style=None)
    return f"---\n{front}---\n{version.body if version else ''}"


def runbooks_export(*, path: Path, include_retired: bool = False) -> list[Path]:
    """Write each runbook's current (else latest) version to PATH/<slug>.md."""
    path.mkdir(parents=True, exist_ok=True)
    runbooks = Runbook.objects.select_related("service", "owner_team", "procedure_assignee", "current_version")
    if not include_retired:
        runbooks = runbooks.exclude(status="retired")
    written = []
    for runbook in runbooks.order_by("slug"):
        target = path / f"{runbook.slug}.md"
        target.write_text(runbook_to_file(runbook), encoding="utf-8")
        written.append(target)
    return written
