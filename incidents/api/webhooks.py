"""The Alertmanager webhook (CONTRACTS.md "Alert ingestion"): store the payload, answer 202.

A plain Django view through the kernel's `webhook_view` (see governance/webhooks.py for why
not DRF). It is never rate-limited: in an alert storm every page matters, and storing one
is a single INSERT; the key, its scope and the body limit guard it.
"""

from django.http import JsonResponse

from governance.registries import Webhook
from governance.webhooks import read_json, webhook_view

from .. import services
from ..ingest import max_body_bytes, parse_payload


@webhook_view(scope="alerts:ingest")
def alertmanager_webhook(request, *, api_key):
    raw, data = read_json(request, limit=max_body_bytes())
    parsed = parse_payload(data)
    services.alertmanager_payload_store(body=raw.decode("utf-8", errors="replace"), parsed=parsed)
    return JsonResponse({"accepted": len(parsed.alerts)}, status=202)


# What the parser (incidents.ingest.parse_payload) accepts: an optional field may be null, which
# reads as absent; fields Vigil does not use take any value.
_STRINGS = {"type": "object", "additionalProperties": {"type": "string"}}
_OPTIONAL_STRINGS = {**_STRINGS, "nullable": True}
_OPTIONAL_STRING = {"type": "string", "nullable": True}
_UNUSED = {"description": "Accepted and not used."}
_ALERT = {
    "type": "object",
    "required": ["status", "labels", "startsAt"],
    "properties": {
        "status": {"type": "string", "enum": ["firing", "resolved"]},
        "labels": _STRINGS,
        "annotations": _OPTIONAL_STRINGS,
        "startsAt": {"type": "string", "format": "date-time"},
        "endsAt": {
            "type": "string",
            "format": "date-time",
            "nullable": True,
            "description": "Alertmanager's 0001-01-01T00:00:00Z means not ended.",
        },
        "generatorURL": _OPTIONAL_STRING,
        "fingerprint": _OPTIONAL_STRING,
    },
}

ALERTMANAGER_WEBHOOK = Webhook(
    path="/api/v1/alerts/alertmanager/",
    scope="alerts:ingest",
    operation_id="alerts_alertmanager_create",
    summary="Prometheus Alertmanager webhook (payload version 4)",
    description=(
        "Stores the payload and answers 202 at once; a task applies it. Firing alerts open or join "
        "the incident of their `groupKey`; repeated deliveries (`fingerprint`, `startsAt`) are recorded "
        "once; resolved alerts go on the incident's timeline. Alertmanager sends the key through "
        "`http_config.authorization` (type Bearer)."
    ),
    request_schema={
        "type": "object",
        "required": ["groupKey", "alerts"],
        "properties": {
            "version": {"type": "string", "enum": ["4", None], "nullable": True},
            "groupKey": {"type": "string", "minLength": 1},
            "truncatedAlerts": _UNUSED,
            "status": {"type": "string", "enum": ["firing", "resolved"]},
            "receiver": _OPTIONAL_STRING,
            "groupLabels": _UNUSED,
            "commonLabels": _OPTIONAL_STRINGS,
            "commonAnnotations": _OPTIONAL_STRINGS,
            "externalURL": _OPTIONAL_STRING,
            "alerts": {"type": "array", "items": _ALERT},
        },
    },
    accepted_schema={"type": "object", "required": ["accepted"], "properties": {"accepted": {"type": "integer"}}},
    tag="alerts",
)
