"""Configuration writes used by code (demo data, tests); the admin writes through its forms."""

from django.db import transaction

from governance.audit import audit_record, diff, snapshot

from ..fields import mask
from ..models import Channel, ContactMethod, EscalationPolicy, EscalationStep, RoutingRule
from .oncall import _full_clean

SECRET_FIELDS = ("url", "routing_key", "signing_secret", "headers")


def masked_snapshot(channel: Channel) -> dict:
    """A channel's audit snapshot with its secrets masked."""
    values = snapshot(channel)
    for name in SECRET_FIELDS:
        values[name] = mask(getattr(channel, name) or "")
    return values


@transaction.atomic
def channel_create(*, name: str, kind: str, enabled: bool = True, **config) -> Channel:
    channel = Channel(name=name, kind=kind, enabled=enabled, **config)
    _full_clean(channel)
    channel.save()
    audit_record(action="create", obj=channel, changes=diff({}, masked_snapshot(channel)))
    return channel


@transaction.atomic
def contact_method_create(*, user, channel: Channel | None = None, email: str = "", position: int = 0) -> ContactMethod:
    method = ContactMethod.objects.create(user=user, channel=channel, email=email, position=position)
    audit_record(action="create", obj=method, changes=diff({}, snapshot(method)))
    return method


@transaction.atomic
def escalation_policy_create(
    *, name: str, steps: list[dict], repeat: int = 0, description: str = ""
) -> EscalationPolicy:
    """`steps`: [{"wait_minutes": 5, "target": "primary"}, {"target": "user", "user": u}, ...]"""
    policy = EscalationPolicy.objects.create(name=name, repeat=repeat, description=description)
    for position, spec in enumerate(steps):
        step = EscalationStep(policy=policy, position=position, **spec)
        _full_clean(step)
        step.save()
    audit_record(
        action="create", obj=policy, changes={**diff({}, snapshot(policy)), "steps": [None, [str(s) for s in steps]]}
    )
    return policy


@transaction.atomic
def routing_rule_create(
    *,
    name: str,
    event_types: list[str] | None = None,
    min_severity: str = "",
    service=None,
    team=None,
    channels=(),
    escalation_policy: EscalationPolicy | None = None,
    position: int = 100,
    enabled: bool = True,
) -> RoutingRule:
    rule = RoutingRule(
        name=name,
        event_types=list(event_types or []),
        min_severity=min_severity or "",
        service=service,
        team=team,
        escalation_policy=escalation_policy,
        position=position,
        enabled=enabled,
    )
    _full_clean(rule)
    rule.save()
    rule.channels.set(channels)
    audit_record(
        action="create", obj=rule, changes={**diff({}, snapshot(rule)), "channels": [None, [c.pk for c in channels]]}
    )
    return rule
