"""Properties drawn by hypothesis: self-review never happens, whatever the org chart; the snapshot and
identity CSV parsers give back exactly what was written, in any column order and spelling, and refuse
anything else naming its row and column."""

import csv
import datetime as dt
import io
import re

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from access_reviews import parsing, services
from access_reviews.choices import EmploymentStatus, ReviewerRule
from access_reviews.models import AccessGrant, Campaign, Identity, ReviewItem, ReviewTemplate, System
from access_reviews.parsing import GrantRow, IdentityRow
from governance.errors import ValidationFailed
from tests.factories import UserFactory
from tests.strategies import JSON, TIMES

N = 8  # people per chart


@st.composite
def org_charts(draw):
    # managers[i] is None or an index; cycles are allowed (HR data is messy), including managing oneself.
    managers = draw(st.lists(st.one_of(st.none(), st.integers(0, N - 1)), min_size=N, max_size=N))
    has_user = draw(st.lists(st.booleans(), min_size=N, max_size=N))
    fallback = draw(st.integers(0, N - 1))
    owner = draw(st.integers(0, N - 1).filter(lambda i: i != fallback))
    system_owner = draw(st.integers(0, N - 1))
    rule = draw(st.sampled_from(list(ReviewerRule)))
    vigil = draw(st.booleans())
    grants = draw(
        st.lists(
            st.tuples(st.integers(0, N + 1), st.sampled_from(["read", "write", "admin"]), st.booleans()),
            min_size=1,
            max_size=25,
            unique_by=lambda g: (g[0], g[1]),
        )
    )
    return managers, has_user, fallback, owner, system_owner, rule, vigil, grants


@pytest.mark.django_db
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(chart=org_charts())
def test_nobody_is_ever_assigned_their_own_access(chart):
    managers, has_user, fallback, owner, system_owner, rule, vigil, grants = chart
    ReviewItem.objects.all().delete()
    Campaign.objects.all().delete()
    ReviewTemplate.objects.all().delete()
    AccessGrant.objects.all().delete()
    System.objects.all().delete()
    Identity.objects.all().delete()
    users = [UserFactory(username=f"p{i}", email=f"p{i}@example.com") for i in range(N)]
    identities = [
        Identity.objects.create(email=f"p{i}@example.com", user=users[i] if has_user[i] else None) for i in range(N)
    ]
    for i, m in enumerate(managers):
        if m is not None:
            identities[i].manager = identities[m]
            identities[i].save()
    system = System.objects.create(slug="s", name="S", owner=users[system_owner], connector="vigil" if vigil else "")
    template = ReviewTemplate.objects.create(
        name="T", fallback_reviewer=users[fallback], owner=users[owner], reviewer_rule=rule
    )
    template.systems.set([system])
    for who, entitlement, by_email in grants:
        # who in 0..N-1: a person's account (matched by email or only by user name); N, N+1: unmatched accounts.
        account = f"p{who}" if who < N else f"svc{who}"
        email = f"p{who}@example.com" if who < N and by_email else ""
        identity = identities[who] if who < N and by_email else None
        AccessGrant.objects.create(
            system=system, account=account, email=email, identity=identity, entitlement=entitlement
        )
    campaign = services.campaign_launch(template=template, period="p")
    assert campaign.items.count() == len(grants)
    for item in campaign.items.select_related("reviewer", "identity"):
        reviewer = item.reviewer
        assert item.identity is None or item.identity.email != reviewer.email
        assert item.identity is None or item.identity.user_id != reviewer.pk
        if vigil:
            assert item.account != reviewer.username


# --- the snapshot and identity CSV parsers ---------------------------------------------------------------

STORABLE = st.characters(exclude_characters="\x00")  # NUL is refused on its own (see test_csv.py)
CELL = st.text(STORABLE, min_size=1, max_size=30).map(str.strip).filter(bool)
EMAILS = st.from_regex(r"[a-z0-9]{1,10}(\.[a-z0-9]{1,5})?@[a-z0-9]{1,10}\.[a-z]{2,6}", fullmatch=True)
SPELLINGS = {True: sorted(parsing.TRUE), False: sorted(parsing.FALSE)}
ROW_KEY = re.compile(r"(file|row \d+(, column .*)?)", re.DOTALL)


@st.composite
def any_case(draw, text: str) -> str:
    return "".join(ch.upper() if draw(st.booleans()) else ch for ch in text)


@st.composite
def login_times(draw) -> tuple[str, dt.datetime | None]:
    """(the cell as an identity source writes it, the time it means)."""
    moment = draw(st.none() | TIMES)
    if moment is None:
        return "", None
    style = draw(st.sampled_from(["offset", "z", "naive", "date"]))
    if style == "date":
        return moment.date().isoformat(), dt.datetime.combine(moment.date(), dt.time(), tzinfo=dt.UTC)
    utc = moment.astimezone(dt.UTC)
    if style == "z":
        return utc.replace(tzinfo=None).isoformat() + "Z", utc
    if style == "naive":  # no offset: taken as UTC
        return utc.replace(tzinfo=None).isoformat(), utc
    return moment.isoformat(), moment


def _csv(header: list[str], rows: list[list[str]], *, line_end: str, bom: bool) -> bytes:
    """RFC 4180 CSV. With LF line ends every cell is quoted: the writer would leave a lone CR in a cell
    unquoted, and a CR is a line break to any CSV reader."""
    buffer = io.StringIO(newline="")
    quoting = csv.QUOTE_ALL if line_end == "\n" else csv.QUOTE_MINIMAL
    writer = csv.writer(buffer, lineterminator=line_end, quoting=quoting)
    writer.writerow(header)
    writer.writerows(rows)
    return (b"\xef\xbb\xbf" if bom else b"") + buffer.getvalue().encode()


@st.composite
def header_cells(draw, columns: list[str]) -> list[str]:
    """Column names as people type them: any case, stray spaces."""
    return [
        draw(st.sampled_from(["", " ", "  "])) + draw(any_case(c)) + draw(st.sampled_from(["", " "])) for c in columns
    ]


@st.composite
def grant_csvs(draw) -> tuple[bytes, list[GrantRow]]:
    optional = draw(st.lists(st.sampled_from(["system", "email", "privileged", "last_login"]), unique=True))
    columns = draw(st.permutations(["account", "entitlement", *optional]))
    grants = draw(st.lists(st.tuples(CELL, CELL), max_size=6, unique_by=lambda g: g))
    rows, expected = [], []
    for number, (account, entitlement) in enumerate(grants, start=2):
        email = draw(EMAILS) if "email" in columns and draw(st.booleans()) else ""
        privileged = draw(st.booleans()) if "privileged" in columns else False
        login_cell, login = draw(login_times()) if "last_login" in columns else ("", None)
        cells = {
            "account": account,
            "entitlement": entitlement,
            "system": "billing-db" if "system" in columns else "",
            "email": draw(any_case(email)),
            "privileged": draw(any_case(draw(st.sampled_from(SPELLINGS[privileged])))),
            "last_login": login_cell,
        }
        rows.append([cells[c] for c in columns])
        expected.append(
            GrantRow(
                account=account,
                entitlement=entitlement,
                email=email,
                privileged=privileged,
                last_login_at=login,
                system=cells["system"],
                row=number,
            )
        )
    header = draw(header_cells(columns))
    data = _csv(header, rows, line_end=draw(st.sampled_from(["\n", "\r\n"])), bom=draw(st.booleans()))
    return data, expected


@settings(max_examples=150)
@given(drawn=grant_csvs())
def test_a_generated_snapshot_csv_parses_into_exactly_its_grants(drawn):
    """Any column order, header case and spacing, line ends, BOM, boolean spelling, time style, unicode."""
    data, expected = drawn
    assert parsing.grants_from_csv(data) == expected


@st.composite
def identity_csvs(draw) -> tuple[bytes, list[IdentityRow]]:
    optional = draw(
        st.lists(st.sampled_from(["name", "manager_email", "department", "employment_status"]), unique=True)
    )
    columns = draw(st.permutations(["email", *optional]))
    rows, expected = [], []
    for number, email in enumerate(draw(st.lists(EMAILS, max_size=6, unique=True)), start=2):
        cells = {
            "email": draw(any_case(email)),
            "name": draw(CELL) if "name" in columns else "",
            "manager_email": draw(EMAILS) if "manager_email" in columns and draw(st.booleans()) else "",
            "department": draw(CELL) if "department" in columns else "",
            "employment_status": draw(st.sampled_from(EmploymentStatus.values))
            if "employment_status" in columns
            else "",
        }
        rows.append([draw(any_case(cells[c])) if c == "employment_status" else cells[c] for c in columns])
        expected.append(
            IdentityRow(
                email=email,
                name=cells["name"],
                manager_email=cells["manager_email"],
                department=cells["department"],
                employment_status=cells["employment_status"] or EmploymentStatus.ACTIVE,
                row=number,
            )
        )
    header = draw(header_cells(columns))
    data = _csv(header, rows, line_end=draw(st.sampled_from(["\n", "\r\n"])), bom=draw(st.booleans()))
    return data, expected


@settings(max_examples=100)
@given(drawn=identity_csvs())
def test_a_generated_identities_csv_parses_into_exactly_its_people(drawn):
    data, expected = drawn
    assert parsing.identities_from_csv(data) == expected


@settings(max_examples=200)
@given(
    data=st.one_of(
        st.binary(max_size=300),
        st.text(max_size=300).map(str.encode),
        st.lists(st.lists(st.text(max_size=12), max_size=5), max_size=5).map(
            lambda rows: _csv(
                ["account", "entitlement", "email", "privileged", "last_login"], rows, line_end="\n", bom=False
            )
        ),
    )
)
def test_any_bytes_are_parsed_or_refused_naming_row_and_column(data):
    for parse in (parsing.grants_from_csv, parsing.identities_from_csv):
        try:
            parse(data)
        except ValidationFailed as exc:
            assert exc.fields and all(ROW_KEY.fullmatch(key) and messages for key, messages in exc.fields.items())


@settings(max_examples=100)
@given(drawn=grant_csvs(), data=st.data(), garbage=st.text(max_size=20))
def test_one_wrong_cell_is_refused_naming_its_row_and_column(drawn, data, garbage):
    text, expected = drawn
    assume(expected)
    rows = list(csv.reader(io.StringIO(text.decode("utf-8-sig"), newline="")))
    row = data.draw(st.integers(1, len(rows) - 1))
    column = data.draw(st.integers(0, len(rows[0]) - 1))
    rows[row][column] = garbage
    try:
        parsing.grants_from_csv(_csv(rows[0], rows[1:], line_end="\n", bom=False))
    except ValidationFailed as exc:
        number, name = row + 1, rows[0][column].strip().lower()
        for key, messages in exc.fields.items():
            # the changed cell, or a later row that the change made a duplicate of it
            assert key == f"row {number}, column {name}" or any(f"Duplicate of row {number}" in m for m in messages)


@settings(max_examples=200)
@given(items=JSON)
def test_any_json_snapshot_is_parsed_or_refused_naming_the_grant_and_field(items):
    try:
        parsing.grants_from_json(items)
    except ValidationFailed as exc:
        assert exc.fields
        for key, messages in exc.fields.items():
            assert re.fullmatch(r"grants(\[\d+\]\..*)?", key, re.DOTALL) and messages


@pytest.mark.django_db
@pytest.mark.parametrize("when", ["2026-02-30", "2026-13-01T00:00:00Z", "2026-01-01T25:61:00+01:00"])
def test_an_impossible_last_login_is_a_400_naming_it(api_client_for, when):
    """Found by the properties above: Django's date parsers raise on a well-formed impossible date."""
    System.objects.create(slug="billing-db", name="Billing DB")
    client = api_client_for("access:import")
    response = client.post(
        "/api/v1/access/systems/billing-db/snapshot/",
        {"grants": [{"account": "carol", "entitlement": "read", "last_login": when}]},
        format="json",
    )
    assert response.status_code == 400, response.content
    assert list(response.json()["error"]["fields"]) == ["grants[0].last_login"]
    assert not AccessGrant.objects.exists()
