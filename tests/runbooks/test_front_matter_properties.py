"""Properties of the runbook file parser (front matter + steps), drawn by hypothesis.

- a generated file parses into exactly the values it was written from, whatever the key order,
  YAML style, line ends, BOM or unicode;
- any other file is refused with RunbookFileError and its line — on the key that is wrong when one
  key is — and a folder import reports it as rejected instead of stopping;
- import, export and import again is a no-op.
"""

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from governance.text import is_storable
from runbooks.choices import DEFAULT_PROCEDURE_DEADLINE_HOURS, DEFAULT_REVIEW_INTERVAL_DAYS, ON_CALL_ASSIGNEE
from runbooks.markdown import normalise
from runbooks.models import Runbook
from runbooks.services.importing import (
    CADENCE_KEYS,
    FRONT_MATTER_KEYS,
    RunbookFile,
    RunbookFileError,
    parse_runbook_file,
    runbook_to_file,
    runbooks_import,
    split_front_matter,
)

pytestmark = pytest.mark.django_db
HEALTH = [HealthCheck.function_scoped_fixture]
STORABLE = st.characters(exclude_characters="\x00")  # NUL is refused on its own, below
WORDS = st.text(STORABLE, min_size=1, max_size=40).map(str.strip).filter(bool)
SLUGS = st.from_regex(r"[a-z0-9]{1,12}(-[a-z0-9]{1,12}){0,3}", fullmatch=True)
SCHEDULES = ["daily", "weekly", "monthly", "quarterly", "0 9 * * 1", "*/15 * * * *", "30 6 1 */3 *"]
ZONES = ["UTC", "Europe/Amsterdam", "America/New_York", "Asia/Kolkata", "Pacific/Chatham"]
# Markdown text as an editor saves it: the file's line ends are LF or CRLF, never a lone CR inside a line.
LINE_CHARACTERS = st.characters(exclude_characters="\x00\r")


def _parts(text: str) -> set[str]:
    return {marker for marker in ("## ", "```", "~~~") if marker in text}


@st.composite
def bodies(draw) -> str:
    intro = draw(st.text(LINE_CHARACTERS, max_size=60).filter(lambda t: not {"## ", "```", "~~~"} & _parts(t)))
    steps = []
    for number in range(1, draw(st.integers(1, 3)) + 1):
        title = draw(st.text(LINE_CHARACTERS, max_size=20).map(lambda t: t.replace("\n", " ")))
        command = draw(st.sampled_from(["manage.py ops_status", "kubectl rollout undo deploy/x", "psql -c 'select 1'"]))
        steps.append(f"## Step {number}: {title}\n\n```sh\n{command}\n```\nExpected: {draw(WORDS)}\n")
    return f"{intro}\n\n" + "\n".join(steps)


@st.composite
def runbook_files(draw, *, service, team, user) -> tuple[bytes, dict]:
    """(the file's bytes, the RunbookFile fields it must parse into)."""
    slug, title = draw(SLUGS), draw(WORDS)
    front = {"slug": slug, "title": draw(st.sampled_from(["", " ", "  "])) + title}
    expected = {"slug": slug, "title": title, "service": None, "owner": None}
    if draw(st.booleans()):
        front["service"], expected["service"] = service.slug, service
    severities = draw(st.lists(st.sampled_from(["SEV1", "SEV2", "SEV3"]), unique=True))
    alert_names = draw(st.lists(WORDS, max_size=3, unique=True))
    expected |= {"severities": severities, "alert_names": alert_names}
    for key, values in (("severities", severities), ("alert_names", alert_names)):
        if values or draw(st.booleans()):  # one name may be written alone, without a list
            front[key] = values[0] if len(values) == 1 and draw(st.booleans()) else values
    if draw(st.booleans()):
        front["owner"], expected["owner"] = team.slug, team
    interval = draw(st.none() | st.integers(1, 3660))
    if interval is not None:
        front["review_interval_days"] = interval
    expected["review_interval_days"] = interval or DEFAULT_REVIEW_INTERVAL_DAYS
    expected |= {"cadence": "", "cadence_timezone": "UTC", "assignee": None, "assign_on_call": False}
    expected["deadline_hours"] = DEFAULT_PROCEDURE_DEADLINE_HOURS
    if draw(st.booleans()):
        schedule = draw(st.sampled_from(SCHEDULES))
        spec = {"schedule": schedule}
        expected |= {"cadence": schedule, "assign_on_call": True}
        if draw(st.booleans()):
            spec["timezone"] = expected["cadence_timezone"] = draw(st.sampled_from(ZONES))
        if draw(st.booleans()):
            spec["assignee"] = draw(st.sampled_from([ON_CALL_ASSIGNEE, user.username]))
            expected |= {"assignee": user if spec["assignee"] == user.username else None}
            expected["assign_on_call"] = spec["assignee"] == ON_CALL_ASSIGNEE
        if draw(st.booleans()):
            spec["deadline_hours"] = expected["deadline_hours"] = draw(st.integers(1, 87_600))
        front["cadence"] = schedule if len(spec) == 1 and draw(st.booleans()) else spec
    ordered = {key: front[key] for key in draw(st.permutations(list(front)))}
    yaml_text = yaml.safe_dump(
        ordered,
        sort_keys=False,
        allow_unicode=draw(st.booleans()),
        default_flow_style=draw(st.sampled_from([None, False])),
        width=draw(st.sampled_from([80, 10_000])),
    )
    body = draw(bodies())
    expected["body"] = normalise(body)
    text = f"---\n{yaml_text}{draw(st.sampled_from(['---', '...']))}\n{body}"
    line_end = draw(st.sampled_from(["\n", "\r\n"]))
    raw = ("\ufeff" if draw(st.booleans()) else "") + text.replace("\n", line_end)
    return raw.encode(), expected


def _fields(parsed: RunbookFile) -> dict:
    values = vars(parsed).copy()
    values.pop("path")
    return values


@pytest.fixture
def catalog(service, team, author):
    return {"service": service, "team": team, "user": author}


@settings(max_examples=100, suppress_health_check=HEALTH)
@given(data=st.data())
def test_a_generated_file_parses_into_exactly_its_values(catalog, data):
    raw, expected = data.draw(runbook_files(**catalog))
    assert _fields(parse_runbook_file("f.md", raw)) == expected


def _line_count(raw: bytes) -> int:
    return raw.count(b"\n") + 1


@settings(max_examples=150, suppress_health_check=HEALTH)
@given(raw=st.binary(max_size=300) | st.text(max_size=300).map(lambda t: ("---\n" + t).encode()))
def test_any_bytes_are_parsed_or_refused_with_a_line(catalog, raw):
    try:
        parse_runbook_file("f.md", raw)
    except RunbookFileError as exc:  # "no step" names the line after the front matter, maybe one past the end
        assert exc.message and 1 <= exc.line <= _line_count(raw) + 1


# Values YAML can hold, keys included: numbers, null, booleans, dates, nesting.
YAML_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
    | st.dates()
    | st.sampled_from(SCHEDULES + ZONES + ["Europe", "America", "../../etc", "", "on-call", "Etc/GMT+25"]),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.text(max_size=8) | st.integers() | st.none() | st.booleans(), children, max_size=3)
    ),
    max_leaves=10,
)
KEYS = st.sampled_from([*sorted(FRONT_MATTER_KEYS), *sorted(CADENCE_KEYS)])


@settings(max_examples=150, suppress_health_check=HEALTH)
@given(front=st.dictionaries(KEYS | st.text(max_size=8) | st.integers() | st.none(), YAML_VALUES, max_size=8))
@example(front={1: "a", "b": "c", "slug": "x"})  # unknown keys that cannot be compared were a TypeError
@example(front={"slug": "x", "title": "t", "cadence": {"schedule": "daily", 0: "a", "b": "c"}})
@example(front={"slug": "x", "title": "t", "cadence": {"schedule": "daily", "timezone": "Europe"}})  # a folder
@example(front={"slug": "x", "title": "t\x00"})  # PostgreSQL cannot store NUL
@example(front={"slug": "x", "title": "t" * 201})
@example(front={"slug": "x", "title": "t", "cadence": {"schedule": "daily", "deadline_hours": 2**40}})
@example(front={"slug": "x", "title": "t", "cadence": {"schedule": ",".join(map(str, range(60))) + " * * * *"}})
def test_any_front_matter_is_parsed_or_refused_with_a_line(catalog, front):
    raw = f"---\n{yaml.safe_dump(front, allow_unicode=True, sort_keys=False)}---\n## Step 1: Check\nDo it.\n".encode()
    try:
        parsed = parse_runbook_file("f.md", raw)
    except RunbookFileError as exc:
        assert exc.message and 1 <= exc.line <= _line_count(raw)
    else:  # what was accepted fits the columns it goes to
        texts = [parsed.title, parsed.cadence, parsed.body, *parsed.severities, *parsed.alert_names]
        assert all(is_storable(text) for text in texts)
        assert len(parsed.title) <= 200 and len(parsed.cadence) <= 100
        assert 1 <= parsed.deadline_hours <= 87_600 and 1 <= parsed.review_interval_days <= 3660


def _key_lines(raw: bytes) -> dict[str, int]:
    lines = raw.decode("utf-8-sig").replace("\r\n", "\n").split("\n")
    return {line.split(":")[0]: number for number, line in enumerate(lines, start=1) if line[:1].isalpha()}


@settings(max_examples=150, suppress_health_check=HEALTH)
@given(data=st.data(), garbage=YAML_VALUES)
def test_one_wrong_value_is_refused_on_its_keys_line(catalog, data, garbage):
    raw, _ = data.draw(runbook_files(**catalog))
    front, _, body, _ = split_front_matter(raw.decode("utf-8-sig").replace("\r\n", "\n"))
    key = data.draw(st.sampled_from(sorted(front)))
    front[key] = garbage
    raw = f"---\n{yaml.safe_dump(front, allow_unicode=True, default_flow_style=False)}---\n{body}".encode()
    try:
        parse_runbook_file("f.md", raw)
    except RunbookFileError as exc:
        assert exc.line == _key_lines(raw)[key], exc.message


@pytest.mark.parametrize(
    ("raw", "line"),
    [
        (b"---\nslug: x\ntitle: t\n---\n## Step 1\nrm\x00 -rf\n", 6),  # a NUL byte is valid UTF-8, not text
        (b'---\nslug: x\ntitle: "a\\0b"\n---\n## Step 1\n', 3),  # YAML's escape for NUL
        (b'---\nslug: x\nalert_names: ["\\ud800"]\ntitle: t\n---\n## Step 1\n', 3),  # an unpaired surrogate
        (b"---\nslug: &a [*a]\ntitle: t\n---\n## Step 1\n", 2),  # a list that contains itself
    ],
)
def test_text_postgresql_cannot_store_is_refused_on_its_line(catalog, raw, line):
    with pytest.raises(RunbookFileError) as caught:
        parse_runbook_file("f.md", raw)
    assert caught.value.line == line


@settings(max_examples=12, suppress_health_check=HEALTH)
@given(data=st.data())
def test_import_export_import_changes_nothing(catalog, tmp_path_factory, data):
    raw, expected = data.draw(runbook_files(**catalog))
    folder = tmp_path_factory.mktemp("import")
    (folder / "runbook.md").write_bytes(raw)
    first = runbooks_import(path=folder)
    assert first.rejected == 0, [str(line) for line in first.lines]
    runbook = Runbook.objects.get(slug=expected["slug"])
    exported = runbook_to_file(runbook)
    again = parse_runbook_file("exported.md", exported.encode())
    assert (again.title, again.service, again.body) == (expected["title"], expected["service"], expected["body"])
    assert again.severities == sorted(expected["severities"])
    assert again.alert_names == sorted(expected["alert_names"])
    assert (again.cadence, again.cadence_timezone, again.deadline_hours) == (
        expected["cadence"],
        expected["cadence_timezone"],
        expected["deadline_hours"],
    )
    (folder / "runbook.md").write_text(exported, encoding="utf-8")
    assert [line.outcome for line in runbooks_import(path=folder).lines] == ["unchanged"]


@settings(max_examples=30, suppress_health_check=HEALTH)
@given(front=st.dictionaries(KEYS, YAML_VALUES, max_size=6))
def test_a_folder_import_reports_a_bad_file_and_still_imports_the_good_one(catalog, tmp_path_factory, front):
    folder = tmp_path_factory.mktemp("runbooks")
    bad = f"---\n{yaml.safe_dump(front, allow_unicode=True, sort_keys=False)}---\n## Step 1\nx\n"
    (folder / "a-bad.md").write_text(bad, encoding="utf-8")
    good = "---\nslug: always-good\ntitle: Good\n---\n## Step 1: Check\nDo it.\n"
    (folder / "b-good.md").write_text(good, encoding="utf-8")
    report = runbooks_import(path=folder)
    outcomes = {line.path.rsplit("/", 1)[-1]: line for line in report.lines}
    assert outcomes["b-good.md"].outcome in ("created", "unchanged")
    bad = outcomes["a-bad.md"]
    assert bad.outcome in ("created", "unchanged", "new version", "updated", "retired", "rejected")
    if bad.outcome == "rejected":
        assert bad.detail.startswith("line ")
