"""Alertmanager webhook payloads (version 4): validation and label mapping. No writes here."""

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.utils.dateparse import parse_datetime

from governance.choices import Severity
from governance.errors import ValidationFailed
from governance.models import UNASSIGNED_SERVICE_SLUG
from governance.text import is_storable

from .choices import AlertStatus

# Alertmanager sends this for "not ended yet".
ZERO_TIME_PREFIX = "0001-01-01"
DEFAULT_SEVERITY_MAP = {"critical": Severity.SEV1, "error": Severity.SEV2, "info": Severity.SEV3}


@dataclass(frozen=True)
class ParsedAlert:
    status: str
    labels: dict
    annotations: dict
    starts_at: datetime
    ends_at: datetime | None
    generator_url: str
    fingerprint: str

    @property
    def alertname(self) -> str:
        return str(self.labels.get("alertname", ""))[:200]


@dataclass(frozen=True)
class ParsedPayload:
    group_key: str
    status: str
    receiver: str
    common_labels: dict
    common_annotations: dict
    external_url: str
    alerts: list[ParsedAlert] = field(default_factory=list)


def _text(value: str) -> str:
    # PostgreSQL's text and jsonb cannot hold NUL nor a lone UTF-16 surrogate (a JSON `\ud800` escape):
    # each becomes U+FFFD, so the alert is stored, not lost.
    if is_storable(value):
        return value
    return "".join("\ufffd" if char == "\x00" or "\ud800" <= char <= "\udfff" else char for char in value)


def _fail(path: str, message: str):
    raise ValidationFailed(f"The Alertmanager payload is invalid at '{path}': {message}", fields={path: [message]})


def _object(value, path: str, *, required: bool = True) -> dict:
    if value is None and not required:
        return {}
    if not isinstance(value, dict):
        _fail(path, "Must be an object.")
    if not all(isinstance(v, str) for v in value.values()):
        _fail(path, "Every value must be a string.")
    return {_text(key): _text(text) for key, text in value.items()}


def _string(value, path: str, *, required: bool = True) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value):
        _fail(path, "Must be a non-empty string." if required else "Must be a string.")
    return _text(value)


def _time(value, path: str, *, required: bool = True) -> datetime | None:
    if value is None and not required:
        return None
    if not isinstance(value, str):
        _fail(path, "Must be an RFC 3339 time.")
    if value.startswith(ZERO_TIME_PREFIX):
        if required:
            _fail(path, "Must be a real time.")
        return None
    try:
        parsed = parse_datetime(value)
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        _fail(path, "Must be an RFC 3339 time with an offset.")
    return parsed


def label_fingerprint(labels: dict) -> str:
    """A stable fingerprint for payloads that omit Alertmanager's own."""
    return hashlib.sha256(json.dumps(labels, sort_keys=True).encode()).hexdigest()[:16]


def parse_payload(data) -> ParsedPayload:
    """Validate a decoded webhook body; raises ValidationFailed naming the offending field."""
    if not isinstance(data, dict):
        _fail("non_field_errors", "The body must be a JSON object.")
    version = data.get("version")
    if version is not None and version != "4":
        _fail("version", "Only webhook payload version 4 is supported.")
    group_key = _string(data.get("groupKey"), "groupKey")
    alerts_in = data.get("alerts")
    if not isinstance(alerts_in, list):
        _fail("alerts", "Must be a list.")
    status = data.get("status", AlertStatus.FIRING)
    if status not in AlertStatus.values:
        _fail("status", "Must be 'firing' or 'resolved'.")
    alerts = []
    for index, raw in enumerate(alerts_in):
        path = f"alerts.{index}"
        if not isinstance(raw, dict):
            _fail(path, "Must be an object.")
        alert_status = raw.get("status")
        if alert_status not in AlertStatus.values:
            _fail(f"{path}.status", "Must be 'firing' or 'resolved'.")
        labels = _object(raw.get("labels"), f"{path}.labels")
        fingerprint = _string(raw.get("fingerprint"), f"{path}.fingerprint", required=False)
        alerts.append(
            ParsedAlert(
                status=alert_status,
                labels=labels,
                annotations=_object(raw.get("annotations"), f"{path}.annotations", required=False),
                starts_at=_time(raw.get("startsAt"), f"{path}.startsAt"),
                ends_at=_time(raw.get("endsAt"), f"{path}.endsAt", required=False),
                generator_url=_string(raw.get("generatorURL"), f"{path}.generatorURL", required=False),
                fingerprint=(fingerprint or label_fingerprint(labels))[:64],
            )
        )
    return ParsedPayload(
        group_key=group_key,
        status=status,
        receiver=_string(data.get("receiver"), "receiver", required=False),
        common_labels=_object(data.get("commonLabels"), "commonLabels", required=False),
        common_annotations=_object(data.get("commonAnnotations"), "commonAnnotations", required=False),
        external_url=_string(data.get("externalURL"), "externalURL", required=False),
        alerts=alerts,
    )


# --- label mapping (settings: ALERTMANAGER_*) -------------------------------------------


def severity_map() -> dict[str, str]:
    mapping = {**DEFAULT_SEVERITY_MAP, "warning": getattr(settings, "ALERTMANAGER_WARNING_SEVERITY", Severity.SEV2)}
    mapping.update(getattr(settings, "ALERTMANAGER_SEVERITY_MAP", {}) or {})
    return {str(k).lower(): str(v) for k, v in mapping.items()}


def severity_for(labels: dict) -> str:
    label = getattr(settings, "ALERTMANAGER_SEVERITY_LABEL", "severity")
    value = str(labels.get(label, "")).lower()
    default = getattr(settings, "ALERTMANAGER_DEFAULT_SEVERITY", Severity.SEV3)
    severity = severity_map().get(value, default)
    return severity if severity in Severity.values else Severity.SEV3


def service_slug_for(labels: dict) -> str:
    label = getattr(settings, "ALERTMANAGER_SERVICE_LABEL", "service")
    value = str(labels.get(label, "")).strip()
    aliases = getattr(settings, "ALERTMANAGER_SERVICE_MAP", {}) or {}
    return aliases.get(value, value) or UNASSIGNED_SERVICE_SLUG


def group_dedup_key(group_key: str) -> str:
    # groupKey can be long; the incident's dedup key is a fixed-size digest of it.
    return "alertmanager:" + hashlib.sha256(group_key.encode()).hexdigest()[:40]


def max_body_bytes() -> int:
    """The endpoint's limit, never above Django's own DATA_UPLOAD_MAX_MEMORY_SIZE."""
    django_limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    own = getattr(settings, "ALERTMANAGER_MAX_BODY_BYTES", None) or django_limit
    if django_limit is None:
        return int(own) if own else 2**63
    return int(min(own, django_limit))
