"""The exact outbound payloads of CONTRACTS.md, rendered from a notification's stored context."""

import json

from .choices import ChannelKind, PagerDutyAction

PAGERDUTY_SEVERITY = {"SEV1": "critical", "SEV2": "error", "SEV3": "warning"}
PAGERDUTY_SUMMARY_MAX = 1024
SLACK_TEXT_MAX = 3000


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def summary_line(ctx: dict) -> str:
    """`[SEV1] INC-12 Checkout is down` — severity, reference (dedup key) and title on one line."""
    parts = []
    if ctx.get("severity") and f"[{ctx['severity']}]" not in ctx["subject"]:
        parts.append(f"[{ctx['severity']}]")
    reference = ctx.get("dedup_key") or ""
    if reference and reference not in ctx["subject"]:
        parts.append(reference)
    parts.append(ctx["subject"])
    if ctx.get("action") and ctx["action"] != PagerDutyAction.TRIGGER:
        parts.append(f"({ctx['action']}d)")
    if ctx.get("recipient"):
        parts.append(f"— for {ctx['recipient']}")
    return _one_line(" ".join(parts))


def _links(ctx: dict) -> list[dict]:
    return [link for link in ctx.get("links") or [] if link.get("url")]


def slack(ctx: dict) -> dict:
    text = summary_line(ctx)[:SLACK_TEXT_MAX]
    facts = [f"*Event:* `{ctx['event']}`"]
    if ctx.get("service"):
        facts.append(f"*Service:* {ctx.get('service_name') or ctx['service']}")
    if ctx.get("team"):
        facts.append(f"*Team:* {ctx['team']}")
    blocks: list[dict] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*{text}*"}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "  ·  ".join(facts)}]},
    ]
    if ctx.get("body"):
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": str(ctx["body"])[:SLACK_TEXT_MAX]}})
    links = _links(ctx)
    if links:
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": link.get("label") or "Open"},
                        "url": link["url"],
                    }
                    for link in links[:5]
                ],
            }
        )
    return {"text": text, "blocks": blocks}


def pagerduty(ctx: dict, *, routing_key: str, source: str = "") -> dict:
    body = {
        "routing_key": routing_key,
        "event_action": ctx.get("action") or PagerDutyAction.TRIGGER,
        "dedup_key": ctx.get("dedup_key") or ctx["idempotency_key"],
    }
    if body["event_action"] != PagerDutyAction.TRIGGER:
        return body
    details = dict(ctx.get("data") or {})
    if ctx.get("body"):
        details.setdefault("body", ctx["body"])
    details.setdefault("event", ctx["event"])
    body["payload"] = {
        "summary": summary_line(ctx)[:PAGERDUTY_SUMMARY_MAX],
        "source": source or ctx.get("service") or "vigil",
        "severity": PAGERDUTY_SEVERITY.get(ctx.get("severity") or "", "info"),
        "timestamp": ctx["occurred_at"],
        "component": ctx.get("service") or "",
        "group": ctx.get("team") or "",
        "class": ctx["event"],
        "custom_details": details,
    }
    links = _links(ctx)
    if links:
        body["links"] = [{"href": link["url"], "text": link.get("label") or link["url"]} for link in links]
    body["client"] = "Vigil"
    if links:
        body["client_url"] = links[0]["url"]
    return body


def webhook(ctx: dict) -> dict:
    data = {
        "subject": ctx["subject"],
        "summary": summary_line(ctx),
        "body": ctx.get("body") or "",
        "severity": ctx.get("severity"),
        "service": ctx.get("service"),
        "team": ctx.get("team"),
        "dedup_key": ctx.get("dedup_key"),
        "action": ctx.get("action"),
        "links": _links(ctx),
        "recipient": ctx.get("recipient"),
        "details": ctx.get("data") or {},
    }
    return {
        "event": ctx["event"],
        "occurred_at": ctx["occurred_at"],
        "idempotency_key": ctx["idempotency_key"],
        "data": data,
    }


def email(ctx: dict) -> tuple[str, str]:
    lines = [summary_line(ctx), ""]
    if ctx.get("body"):
        lines += [str(ctx["body"]), ""]
    lines.append(f"Event: {ctx['event']}")
    if ctx.get("service"):
        lines.append(f"Service: {ctx.get('service_name') or ctx['service']}")
    for link in _links(ctx):
        lines.append(f"{link.get('label') or 'Link'}: {link['url']}")
    return summary_line(ctx)[:200], "\n".join(lines) + "\n"


def encode(payload: dict) -> bytes:
    """The exact bytes sent (and signed)."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False, sort_keys=True).encode()


def render(kind: str, ctx: dict, channel=None) -> dict:
    if kind == ChannelKind.SLACK_WEBHOOK:
        return slack(ctx)
    if kind == ChannelKind.PAGERDUTY_EVENTS_V2:
        return pagerduty(ctx, routing_key=channel.routing_key, source=channel.source)
    if kind == ChannelKind.GENERIC_WEBHOOK:
        return webhook(ctx)
    raise ValueError(f"no JSON payload for {kind}")
