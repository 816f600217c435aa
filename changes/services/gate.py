"""The release gate: asks every registered gate check and records the decision.

Checks are `governance.registries.gate_checks` entries called as
`check(service, environment, version, now)`; changes registers freeze_window,
not_approved, open_incident and ack_breach; backups and SLOs add theirs.
"""

import contextvars
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.utils import timezone

from governance.audit import current_context
from governance.db_prepared import fetch_prepared
from governance.models import Service
from governance.registries import GateCheck, GateReason, gate_checks

from ..choices import ChangeKind, ChangeStatus
from ..models import Change, GateDecision

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class GateResult:
    allowed: bool
    reasons: list[dict]
    decision: GateDecision
    change: Change | None


def reason_dict(reason: GateReason) -> dict:
    return {**reason.details, "code": reason.code, "message": reason.message}


# --- the checks changes owns ---------------------------------------------------------------------


# gate_evaluate fetches what changes' own checks read in one round trip and leaves it here; a check
# called on its own (another caller, a test) reads for itself.
_facts: contextvars.ContextVar = contextvars.ContextVar("gate_facts", default=None)


def _prefetched(service, version, now):
    facts = _facts.get()
    if facts is not None and (facts.service_id, facts.version, facts.at) == (service.pk, version, now):
        return facts
    return None


def check_freeze_window(service, environment, version, now) -> list[GateReason]:
    from ..selectors import active_freezes, approved_exception

    facts = _prefetched(service, version, now)
    reasons = []
    windows = facts.windows if facts else None
    for window, start, end in active_freezes(service=service, environment=environment, at=now, windows=windows):
        found = (
            facts.exception_for(window=window, service=service, at=now)
            if facts
            else approved_exception(window=window, service=service, at=now)
        )
        if found is not None:
            continue
        reasons.append(
            GateReason(
                "freeze_window",
                f"{service.slug} is frozen by “{window.name}” until {end.astimezone(UTC):%Y-%m-%d %H:%M} UTC: "
                f"{window.reason}",
                {"window": window.name, "window_id": window.pk, "starts_at": _iso(start), "ends_at": _iso(end)},
            )
        )
    return reasons


def not_approved_reasons(change: Change | None) -> list[GateReason]:
    if change is None or change.kind == ChangeKind.STANDARD:
        return []
    if change.kind == ChangeKind.EMERGENCY or change.approved_at is not None:
        return []  # emergency changes are approved after the fact
    return [
        GateReason(
            "not_approved",
            f"{change.reference} is a normal change and is {change.get_status_display().lower()}, not approved.",
            {"change": change.reference, "status": change.status},
        )
    ]


def release_change(service, version, now) -> Change | None:
    """The release's open normal or emergency change: from the gate's facts when asked inside the gate."""
    from ..selectors import change_for_release

    facts = _prefetched(service, version, now)
    return facts.change if facts else change_for_release(service=service, version=version)


def check_not_approved(service, environment, version, now) -> list[GateReason]:
    return not_approved_reasons(release_change(service, version, now))


def check_open_incident(service, environment, version, now) -> list[GateReason]:
    from governance.links import admin_urls
    from incidents.models import Incident

    from ..selectors import open_severe_incidents

    facts = _prefetched(service, version, now)
    incidents = facts.incidents if facts else open_severe_incidents(service=service)
    return [
        GateReason(
            "open_incident",
            f"{incident.reference} ({incident.severity}, {incident.status}) is open on {service.slug}: "
            f"{incident.title}",
            {"incident": incident.reference, "severity": incident.severity, "url": url},
        )
        for incident, url in zip(incidents, admin_urls(Incident, [i.pk for i in incidents]), strict=True)
    ]


def check_ack_breach(service, environment, version, now) -> list[GateReason]:
    """Only where configured (CHANGES_GATE_ACK_BREACH): an open incident on the service that breached its ack SLA."""
    if not getattr(settings, "CHANGES_GATE_ACK_BREACH", False):
        return []
    from incidents.choices import OPEN_STATUSES
    from incidents.models import Incident

    breached = Incident.objects.filter(service=service, status__in=OPEN_STATUSES, ack_breached=True).order_by(
        "-declared_at"
    )[:10]
    return [
        GateReason(
            "ack_breach",
            f"{incident.reference} on {service.slug} breached its acknowledgement deadline and is still open.",
            {"incident": incident.reference, "severity": incident.severity},
        )
        for incident in breached
    ]


OWN_CHECKS = {
    "freeze_window": check_freeze_window,
    "not_approved": check_not_approved,
    "open_incident": check_open_incident,
    "ack_breach": check_ack_breach,
}


def register_gate_checks() -> None:
    for name, check in OWN_CHECKS.items():
        gate_checks.register(name, GateCheck(name, check))


# --- the gate ------------------------------------------------------------------------------------------


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


# Column → its type: a prepared statement binds parameters on the server, so each is cast.
DECISION_COLUMNS = {
    "asked_at": "timestamptz",
    "service_id": "bigint",
    "environment": "text",
    "version": "text",
    "change_id": "bigint",
    "allowed": "boolean",
    "reasons": "jsonb",
    "actor_user_id": "bigint",
    "actor_api_key_id": "bigint",
    "actor_label": "text",
}

_INSERT_DECISION = (
    "WITH async AS (SELECT set_config('synchronous_commit', 'off', true)) "
    f"INSERT INTO {GateDecision._meta.db_table} ({', '.join(DECISION_COLUMNS)}) "
    f"SELECT {', '.join(f'%s::{kind}' for kind in DECISION_COLUMNS.values())} FROM async RETURNING id"
)


def _record(decision: GateDecision) -> GateDecision:
    """Insert the decision in one round trip without waiting for the WAL flush: in autocommit the
    statement is its own transaction, and `set_config(..., true)` turns synchronous_commit off for
    that transaction only. The pipeline's answer does not wait on the disk; a database crash could lose
    at most the last fraction of a second of decisions, never corrupt them. Inside an outer transaction
    (tests, a caller's atomic block) and on SQLite it is a plain insert."""
    connection = connections[DEFAULT_DB_ALIAS]
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        decision.save(force_insert=True)
        return decision
    values = [
        decision.asked_at,
        decision.service_id,
        decision.environment,
        decision.version,
        decision.change_id,
        decision.allowed,
        json.dumps(decision.reasons),
        decision.actor_user_id,
        decision.actor_api_key_id,
        decision.actor_label,
    ]
    ((decision.pk,),) = fetch_prepared(_INSERT_DECISION, values)
    decision._state.adding = False
    return decision


class UnknownService(LookupError):
    """No service has the slug the gate was asked about."""


def gate_evaluate(
    *,
    service: Service | str,
    environment: str,
    version: str,
    change: Change | None = None,
    actor=None,
    now: datetime | None = None,
) -> GateResult:
    """Ask every registered check about `service` (a Service, or its slug: UnknownService when none has it);
    a check that crashes refuses (fail closed) with `check_failed`. What the checks read comes in one
    round trip (changes.selectors.gate_facts); the decision is recorded in a second."""
    from ..selectors import gate_facts

    now = now or timezone.now()
    checks = list(gate_checks)
    facts = gate_facts(service=service, version=version, at=now, checks=checks)
    if facts is None:
        raise UnknownService(f"No service has the slug “{service}”.")
    token = _facts.set(facts)
    try:
        reasons = _ask_checks(checks, facts, environment, version, now, change)
    finally:
        _facts.reset(token)
    return _decide(facts.service, environment, version, now, change, actor, reasons)


def _ask_checks(checks, facts, environment, version, now, change) -> list[dict]:
    reasons: list[dict] = []
    for check in checks:
        if change is not None and check.name == "not_approved":
            found = not_approved_reasons(change)
        else:
            try:
                if check.facts is None:
                    found = check.check(facts.service, environment, version, now)
                else:
                    rows = facts.check_rows.get(check.name)
                    found = check.check(facts.service, environment, version, now, rows=rows)
            except Exception:  # a broken check must refuse, not crash the pipeline's call
                logger.exception("release gate check %s failed", check.name)
                found = [
                    GateReason(
                        "check_failed", f"The gate check {check.name} failed; see the logs.", {"check": check.name}
                    )
                ]
        reasons.extend(reason_dict(r) for r in found or [])
    return reasons


def _decide(service, environment, version, now, change, actor, reasons) -> GateResult:
    ctx = current_context()
    user = actor if getattr(actor, "pk", None) else (ctx.user if getattr(ctx.user, "pk", None) else None)
    label = (
        user.get_username()
        if user is not None
        else f"api-key:{ctx.api_key.name}"
        if ctx.api_key
        else ctx.label or "system"
    )
    # The decision row is the record of who asked and what they were told (append-only in practice).
    decision = _record(
        GateDecision(
            asked_at=now,
            service=service,
            environment=environment,
            version=version,
            change=change,
            allowed=not reasons,
            reasons=reasons,
            actor_user=user,
            actor_api_key_id=ctx.api_key.pk if ctx.api_key is not None else None,
            actor_label=label[:200],
        )
    )
    return GateResult(allowed=not reasons, reasons=reasons, decision=decision, change=change)


__all__ = ["ChangeStatus", "GateResult", "UnknownService", "gate_evaluate", "register_gate_checks"]
