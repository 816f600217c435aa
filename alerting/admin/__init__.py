"""The alerting admin: on-call, escalation, channels, routing (with its matrix) and the outbox."""

from . import channels, oncall, outbox, routing  # noqa: F401
