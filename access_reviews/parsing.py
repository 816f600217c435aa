"""Snapshot and identity rows from CSV or JSON, validated; every error names its row and column.

Rows are numbered as a spreadsheet shows them: the header is row 1, the first data row is row 2.
For JSON the "row" is the 0-based index in the list.
"""

import csv
import hashlib
import io
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from governance.errors import ValidationFailed
from governance.text import UNSTORABLE_TEXT_MESSAGE, is_storable

from .choices import EmploymentStatus

GRANT_COLUMNS = ("system", "account", "email", "entitlement", "privileged", "last_login")
GRANT_REQUIRED = ("account", "entitlement")
IDENTITY_COLUMNS = ("email", "name", "manager_email", "department", "employment_status")
IDENTITY_REQUIRED = ("email",)
TRUE = {"1", "true", "yes", "y", "t"}
FALSE = {"", "0", "false", "no", "n", "f"}
MAX_ERRORS = 20
DEFAULT_MAX_CSV_BYTES = 20 * 1024 * 1024


def max_csv_bytes() -> int:
    return getattr(settings, "ACCESS_CSV_MAX_BYTES", DEFAULT_MAX_CSV_BYTES)


@dataclass(frozen=True)
class GrantRow:
    account: str
    entitlement: str
    email: str = ""
    privileged: bool = False
    last_login_at: datetime | None = None
    system: str = ""
    row: int = 0

    @property
    def key(self) -> tuple[str, str]:
        return (self.account, self.entitlement)


@dataclass(frozen=True)
class IdentityRow:
    email: str
    name: str = ""
    manager_email: str = ""
    department: str = ""
    employment_status: str = EmploymentStatus.ACTIVE
    row: int = 0


class RowErrors:
    """Collects up to MAX_ERRORS messages keyed "row N, column C" and raises them together."""

    def __init__(self, what: str):
        self.what = what
        self.fields: dict[str, list[str]] = {}

    def add(self, row, column: str, message: str) -> None:
        if len(self.fields) < MAX_ERRORS:
            self.fields.setdefault(f"row {row}, column {column}", []).append(message)

    def raise_if_any(self) -> None:
        if self.fields:
            first = next(iter(self.fields))
            more = f" (and {len(self.fields) - 1} more)" if len(self.fields) > 1 else ""
            raise ValidationFailed(
                f"The {self.what} was not imported: {first}: {self.fields[first][0]}{more}. Nothing was changed.",
                fields=self.fields,
            )


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def decode_csv(data: bytes, *, what: str) -> str:
    """UTF-8 (with or without BOM) text, or a ValidationFailed naming the row and column of the bad byte."""
    limit = max_csv_bytes()
    if len(data) > limit:
        raise ValidationFailed(
            f"The {what} is {len(data) / 1_000_000:.1f} MB or more; the limit is {limit / 1_000_000:.1f} MB. "
            "Nothing was changed.",
            code="file_too_large",
            fields={"file": [f"At most {limit} bytes."]},
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        row = data.count(b"\n", 0, exc.start) + 1
        line_start = data.rfind(b"\n", 0, exc.start) + 1
        column = data.count(b",", line_start, exc.start) + 1
        byte = data[exc.start : exc.start + 1].hex()
        raise ValidationFailed(
            f"The {what} is not UTF-8: row {row}, column {column} holds byte 0x{byte}. "
            "Save it as UTF-8 and try again. Nothing was changed.",
            code="not_utf8",
            fields={f"row {row}, column {column}": [f"Byte 0x{byte} is not UTF-8."]},
        ) from None


def _read_csv(text: str, *, what: str, columns: tuple[str, ...], required: tuple[str, ...]):
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [name.strip().lower() for name in (reader.fieldnames or [])]
    if not header:
        raise ValidationFailed(f"The {what} is empty.", fields={"row 1": ["A header row is required."]})
    missing = [c for c in required if c not in header]
    if missing:
        raise ValidationFailed(
            f"The {what} was not imported: row 1 (the header) lacks the column(s) {', '.join(missing)}. "
            "Nothing was changed.",
            code="missing_columns",
            fields={f"row 1, column {c}": ["Required column missing."] for c in missing},
        )
    unknown = [c for c in header if c not in columns]
    if unknown:
        raise ValidationFailed(
            f"The {what} was not imported: row 1 (the header) has unknown column(s) {', '.join(unknown)}; "
            f"allowed: {', '.join(columns)}. Nothing was changed.",
            code="unknown_columns",
            fields={f"row 1, column {c}": ["Unknown column."] for c in unknown},
        )
    reader.fieldnames = header
    for number, record in enumerate(reader, start=2):
        if None in record:
            yield number, None
            continue
        yield number, {k: (v or "").strip() for k, v in record.items()}


def _bool(value, errors: RowErrors, row, column: str) -> bool:
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    text = str(value).strip().lower()
    if text in TRUE:
        return True
    if text in FALSE:
        return False
    errors.add(row, column, f"{value!r} is not true or false.")
    return False


def _datetime(value, errors: RowErrors, row, column: str) -> datetime | None:
    if value in (None, ""):
        return None
    text = str(value).strip()
    try:  # Django's parsers raise ValueError for a well-formed impossible date (2026-02-30)
        parsed = parse_datetime(text)
        if parsed is None:
            day = parse_date(text)
            parsed = datetime(day.year, day.month, day.day) if day else None
    except ValueError:
        parsed = None
    if parsed is None:
        errors.add(row, column, f"{value!r} is not an ISO 8601 date or time.")
        return None
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed, UTC)
    return parsed


def _email(value, errors: RowErrors, row, column: str, *, required=False) -> str:
    text = str(value or "").strip().lower()
    if not text:
        if required:
            errors.add(row, column, "Required.")
        return ""
    try:
        validate_email(text)
    except ValidationError:
        errors.add(row, column, f"{value!r} is not an email address.")
    return text


def _refuse_unstorable(record: dict, columns, errors: RowErrors, row) -> None:
    """A CSV cell or JSON string with NUL (or a lone surrogate) is named; PostgreSQL could not store it."""
    for column in columns:
        value = record.get(column)
        if isinstance(value, str) and not is_storable(value):
            errors.add(row, column, UNSTORABLE_TEXT_MESSAGE)


def _grant(record: dict, row, errors: RowErrors) -> GrantRow | None:
    _refuse_unstorable(record, GRANT_COLUMNS, errors, row)
    sent_account, sent_entitlement = str(record.get("account") or ""), str(record.get("entitlement") or "")
    account, entitlement = sent_account.strip(), sent_entitlement.strip()
    # The limits count what was sent, as the API schema's maxLength does, not what is left after trimming.
    if not account:
        errors.add(row, "account", "Required.")
    elif len(sent_account) > 200:
        errors.add(row, "account", "At most 200 characters.")
    if not entitlement:
        errors.add(row, "entitlement", "Required.")
    elif len(sent_entitlement) > 300:
        errors.add(row, "entitlement", "At most 300 characters.")
    return GrantRow(
        account=account,
        entitlement=entitlement,
        email=_email(record.get("email"), errors, row, "email"),
        privileged=_bool(record.get("privileged"), errors, row, "privileged"),
        last_login_at=_datetime(record.get("last_login"), errors, row, "last_login"),
        system=str(record.get("system") or "").strip(),
        row=row,
    )


def _check_duplicates(rows: list[GrantRow], errors: RowErrors) -> None:
    seen: dict[tuple, int] = {}
    for row in rows:
        key = (row.system, *row.key)
        if key in seen:
            errors.add(
                row.row,
                "account",
                f"Duplicate of row {seen[key]} (same account {row.account!r} and entitlement {row.entitlement!r}).",
            )
        else:
            seen[key] = row.row


def grants_from_csv(data: bytes, *, what: str = "CSV file") -> list[GrantRow]:
    text = decode_csv(data, what=what)
    errors = RowErrors(what)
    rows = []
    for number, record in _read_csv(text, what=what, columns=GRANT_COLUMNS, required=GRANT_REQUIRED):
        if record is None:
            errors.add(number, "-", "More fields than the header has columns.")
            continue
        row = _grant(record, number, errors)
        if row is not None:
            rows.append(row)
    _check_duplicates(rows, errors)
    errors.raise_if_any()
    return rows


# A JSON body carries types (a CSV cell is always text): a value of another type is refused and
# named, never coerced with str() — `"name": 0` is a mistake in the sender, not the name "0".
_STRING = ((str,), "Expected a string.")
GRANT_JSON_TYPES = {
    "account": _STRING,
    "email": _STRING,
    "entitlement": _STRING,
    "privileged": ((bool,), "Expected true or false."),
    "last_login": ((str, type(None)), "Expected an ISO 8601 time or null."),
}
IDENTITY_JSON_TYPES = dict.fromkeys(IDENTITY_COLUMNS, _STRING)


def _check_json_types(record: dict, expected: dict, errors: RowErrors, row) -> None:
    for name, (types, message) in expected.items():
        if name in record and not isinstance(record[name], types):
            errors.add(row, name, message)


def grants_from_json(items, *, what: str = "snapshot") -> list[GrantRow]:
    errors = RowErrors(what)
    if not isinstance(items, list):
        raise ValidationFailed("`grants` must be a list.", fields={"grants": ["Expected a list of grants."]})
    rows = []
    for index, record in enumerate(items):
        if not isinstance(record, dict):
            errors.add(index, "-", "Expected an object.")
            continue
        unknown = sorted(set(record) - {"account", "email", "entitlement", "privileged", "last_login"})
        for name in unknown:
            errors.add(index, name, "Unknown field.")
        _check_json_types(record, GRANT_JSON_TYPES, errors, index)
        if any(key.startswith(f"row {index},") for key in errors.fields):
            continue
        rows.append(_grant(record, index, errors))
    _check_duplicates(rows, errors)
    if errors.fields:
        errors.fields = {
            f"grants[{k.split(',')[0].removeprefix('row ')}].{k.split('column ')[1]}": v
            for k, v in errors.fields.items()
        }
        first = next(iter(errors.fields))
        raise ValidationFailed(
            f"The snapshot was not imported: {first}: {errors.fields[first][0]}", fields=errors.fields
        )
    return rows


def identities_from_csv(data: bytes, *, what: str = "identities CSV") -> list[IdentityRow]:
    text = decode_csv(data, what=what)
    errors = RowErrors(what)
    return identities_from_records(
        _read_csv(text, what=what, columns=IDENTITY_COLUMNS, required=IDENTITY_REQUIRED), errors
    )


def identities_from_json(items) -> list[IdentityRow]:
    """The API's `identities` list: objects with string fields, then the same rules as the CSV."""
    errors = RowErrors("identities")
    records = []
    for index, record in enumerate(items):
        if not isinstance(record, dict):
            errors.add(index, "-", "Expected an object.")
            continue
        _check_json_types(record, IDENTITY_JSON_TYPES, errors, index)
        records.append((index, record))
    errors.raise_if_any()
    return identities_from_records(records, errors)


def identities_from_records(records, errors: RowErrors) -> list[IdentityRow]:
    rows: list[IdentityRow] = []
    seen: dict[str, int] = {}
    for number, record in records:
        if record is None:
            errors.add(number, "-", "More fields than the header has columns.")
            continue
        _refuse_unstorable(record, IDENTITY_COLUMNS, errors, number)
        email = _email(record.get("email"), errors, number, "email", required=True)
        status = str(record.get("employment_status") or EmploymentStatus.ACTIVE).strip().lower()
        if status not in EmploymentStatus.values:
            errors.add(number, "employment_status", f"{status!r}: choose one of {', '.join(EmploymentStatus.values)}.")
        if email in seen:
            errors.add(number, "email", f"Duplicate of row {seen[email]}.")
        elif email:
            seen[email] = number
        rows.append(
            IdentityRow(
                email=email,
                name=str(record.get("name") or "").strip()[:200],
                manager_email=_email(record.get("manager_email"), errors, number, "manager_email"),
                department=str(record.get("department") or "").strip()[:120],
                employment_status=status,
                row=number,
            )
        )
    errors.raise_if_any()
    return rows
