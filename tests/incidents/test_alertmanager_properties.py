"""Properties of the Alertmanager webhook parser (incidents.ingest), drawn by hypothesis.

- a generated version-4 payload parses into exactly the values it was made of (unicode included);
- key order and JSON layout never change what a payload means;
- any other JSON is refused with ValidationFailed naming the one field that is wrong, and through
  the webhook that is a 400 naming the same field, never a 500.
"""

import json
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from governance.choices import Severity
from governance.errors import ValidationFailed
from incidents import tasks
from incidents.ingest import group_dedup_key, label_fingerprint, parse_payload, severity_for
from incidents.models import Alert, AlertmanagerPayload, Incident
from tests.strategies import JSON, TIMES, rfc3339, shuffled

URL = "/api/v1/alerts/alertmanager/"
# Any unicode a label may carry: NUL, astral characters and even unpaired surrogates (JSON escapes them all).
TEXT = st.text(st.characters() | st.characters(categories=["Cs"]), max_size=24)
LABEL_NAME = st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,15}", fullmatch=True) | st.text(min_size=1, max_size=8)
LABELS = st.dictionaries(LABEL_NAME, TEXT, max_size=6)
TOP_LEVEL_FIELDS = {"version", "groupKey", "status", "receiver", "alerts", "commonLabels", "commonAnnotations"}
TOP_LEVEL_FIELDS |= {"externalURL"}


def as_stored(value):
    """What Vigil keeps of a text: NUL and unpaired surrogates, which PostgreSQL cannot store, become U+FFFD."""
    if isinstance(value, dict):
        return {as_stored(key): as_stored(text) for key, text in value.items()}
    return "".join("\ufffd" if char == "\x00" or "\ud800" <= char <= "\udfff" else char for char in value)


@st.composite
def alerts(draw, *, fingerprints: bool = True) -> tuple[dict, dict]:
    """(the alert as Alertmanager posts it, the values the parser must give back)."""
    starts_at = draw(TIMES)
    ended = draw(st.booleans())
    ends_at = draw(TIMES) if ended else None
    labels = draw(LABELS)
    fingerprint = draw(st.from_regex(r"[0-9a-f]{16}", fullmatch=True)) if fingerprints and draw(st.booleans()) else ""
    alert = {
        "status": draw(st.sampled_from(["firing", "resolved"])),
        "labels": labels,
        "annotations": draw(LABELS),
        "startsAt": draw(rfc3339(starts_at)),
        "endsAt": draw(rfc3339(ends_at)) if ended else "0001-01-01T00:00:00Z",
        "generatorURL": draw(TEXT),
    }
    if fingerprint:
        alert["fingerprint"] = fingerprint
    expected = {
        "status": alert["status"],
        "labels": as_stored(labels),
        "annotations": as_stored(alert["annotations"]),
        "starts_at": starts_at,
        "ends_at": ends_at,
        "generator_url": as_stored(alert["generatorURL"]),
        "fingerprint": fingerprint or label_fingerprint(as_stored(labels)),
    }
    return alert, expected


@st.composite
def payloads(draw, *, fingerprints: bool = True) -> tuple[dict, dict]:
    drawn = draw(st.lists(alerts(fingerprints=fingerprints), max_size=4))
    payload = {
        "version": "4",
        "groupKey": draw(st.text(min_size=1, max_size=60)),
        "truncatedAlerts": 0,
        "status": draw(st.sampled_from(["firing", "resolved"])),
        "receiver": draw(TEXT),
        "groupLabels": draw(LABELS),
        "commonLabels": draw(LABELS),
        "commonAnnotations": draw(LABELS),
        "externalURL": draw(TEXT),
        "alerts": [alert for alert, _ in drawn],
    }
    expected = {
        "group_key": as_stored(payload["groupKey"]),
        "status": payload["status"],
        "receiver": as_stored(payload["receiver"]),
        "common_labels": as_stored(payload["commonLabels"]),
        "common_annotations": as_stored(payload["commonAnnotations"]),
        "external_url": as_stored(payload["externalURL"]),
        "alerts": [values for _, values in drawn],
    }
    return payload, expected


def _over_the_wire(payload) -> object:
    return json.loads(json.dumps(payload))


def _as_values(parsed) -> dict:
    return {
        "group_key": parsed.group_key,
        "status": parsed.status,
        "receiver": parsed.receiver,
        "common_labels": parsed.common_labels,
        "common_annotations": parsed.common_annotations,
        "external_url": parsed.external_url,
        "alerts": [
            {
                "status": alert.status,
                "labels": alert.labels,
                "annotations": alert.annotations,
                "starts_at": alert.starts_at,
                "ends_at": alert.ends_at,
                "generator_url": alert.generator_url,
                "fingerprint": alert.fingerprint,
            }
            for alert in parsed.alerts
        ],
    }


@settings(max_examples=150)
@given(drawn=payloads())
def test_a_generated_payload_parses_into_exactly_its_values(drawn):
    payload, expected = drawn
    parsed = _as_values(parse_payload(_over_the_wire(payload)))
    assert parsed == expected
    for got, want in zip(parsed["alerts"], expected["alerts"], strict=True):
        # Same instant and the same offset as sent: a time is never shifted to another zone.
        assert got["starts_at"].utcoffset() == want["starts_at"].utcoffset()


@settings(max_examples=60)
@given(drawn=payloads(fingerprints=False), data=st.data(), indent=st.sampled_from([None, 0, 2, "\t"]))
def test_key_order_and_layout_never_change_the_meaning(drawn, data, indent):
    payload, _ = drawn
    text = json.dumps(shuffled(payload, data.draw), indent=indent, ensure_ascii=data.draw(st.booleans()))
    reordered = json.loads(text)
    original, again = parse_payload(_over_the_wire(payload)), parse_payload(reordered)
    assert again == original
    # Without Alertmanager's fingerprint, Vigil's own is the same whatever order the labels came in.
    assert [a.fingerprint for a in again.alerts] == [a.fingerprint for a in original.alerts]


def _paths(value, prefix=""):
    """Every (dotted path, container, key) in a JSON document, as the parser names fields."""
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else []
    for key, child in items:
        path = f"{prefix}.{key}" if prefix else str(key)
        yield path, value, key
        yield from _paths(child, path)


def _same_branch(named: str, mutated: str) -> bool:
    named_parts, mutated_parts = named.split("."), mutated.split(".")
    shortest = min(len(named_parts), len(mutated_parts))
    return named_parts[:shortest] == mutated_parts[:shortest]


@settings(max_examples=200)
@given(drawn=payloads(), data=st.data(), delete=st.booleans(), replacement=JSON)
def test_one_wrong_field_is_refused_naming_that_field(drawn, data, delete, replacement):
    payload, _ = drawn
    paths = list(_paths(payload))
    path, container, key = data.draw(st.sampled_from(paths))
    if delete and isinstance(container, dict):
        del container[key]
    else:
        container[key] = replacement
    try:
        parse_payload(_over_the_wire(payload))
    except ValidationFailed as exc:
        (named,) = exc.fields  # exactly one field, with a message
        assert exc.fields[named] and named in exc.message
        assert _same_branch(named, path), f"changed {path!r} but the error names {named!r}"


@settings(max_examples=200)
@given(body=JSON)
def test_any_json_is_parsed_or_refused_naming_a_field(body):
    try:
        parse_payload(body)
    except ValidationFailed as exc:
        (named,) = exc.fields
        assert exc.fields[named]
        assert named == "non_field_errors" or named.split(".")[0] in TOP_LEVEL_FIELDS


@settings(max_examples=100, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(labels=st.dictionaries(st.text(max_size=10), st.text(max_size=10), max_size=5), value=st.text(max_size=300))
def test_any_labels_map_to_a_severity_whatever_their_case(labels, value, settings):
    settings.ALERTMANAGER_SEVERITY_LABEL = "severity"
    assert severity_for(labels) in Severity.values
    for known in ("critical", "error", "warning", "info"):
        assert severity_for({**labels, "severity": known.upper()}) == severity_for({**labels, "severity": known})
    # Any groupKey, however long or strange, becomes the same fixed-size incident dedup key every time.
    assert group_dedup_key(value) == group_dedup_key(value[:])
    assert len(group_dedup_key(value)) == len(group_dedup_key("")) == len("alertmanager:") + 40


# --- through the webhook: 202 or a 400 naming the field, never a 500 ---------------------------------


@pytest.fixture
def ingest(api_client_for):
    return api_client_for("alerts:ingest")


@pytest.mark.django_db
@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(drawn=payloads(), data=st.data(), garble=st.booleans(), replacement=JSON)
def test_the_webhook_answers_202_or_400_naming_the_parsers_field(ingest, drawn, data, garble, replacement):
    payload, _ = drawn
    if garble:
        _, container, key = data.draw(st.sampled_from(list(_paths(payload))))
        container[key] = replacement
    try:
        parse_payload(_over_the_wire(payload))
        expected_field = None
    except ValidationFailed as exc:
        expected_field = next(iter(exc.fields))
    response = ingest.generic("POST", URL, json.dumps(payload), content_type="application/json")
    if expected_field is None:
        assert response.status_code == 202, response.content
        assert response.json() == {"accepted": len(payload["alerts"])}
    else:
        assert response.status_code == 400, response.content
        assert list(response.json()["error"]["fields"]) == [expected_field]


@pytest.mark.django_db
@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(drawn=payloads())
def test_an_accepted_payload_is_processed_whatever_its_text(ingest, drawn):
    """Unicode anywhere (NUL, astral planes, right-to-left) is stored and processed, not left failing."""
    payload, _ = drawn
    for alert in payload["alerts"]:  # examples share one database: each alert is a new occurrence
        alert["fingerprint"] = uuid.uuid4().hex[:16]
    response = ingest.generic("POST", URL, json.dumps(payload), content_type="application/json")
    assert response.status_code == 202, response.content
    stored = AlertmanagerPayload.objects.order_by("-pk").first()
    tasks.process_alertmanager_payload(stored.pk)
    stored.refresh_from_db()
    assert stored.processed_at is not None and stored.error == ""
    group_key = as_stored(payload["groupKey"])
    assert Alert.objects.filter(group_key=group_key).count() >= len(payload["alerts"])
    if any(alert["status"] == "firing" for alert in payload["alerts"]):
        assert Incident.objects.filter(dedup_key=group_dedup_key(group_key)).exists()


@pytest.mark.django_db
def test_a_body_nested_thousands_deep_is_a_400_not_a_500(ingest):
    """Python's JSON decoder raises RecursionError, not ValueError, on `[[[[…`: it is invalid JSON all the same."""
    response = ingest.generic("POST", URL, "[" * 100_000, content_type="application/json")
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "invalid_json"
