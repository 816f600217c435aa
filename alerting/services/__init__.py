"""Every write of the alerting app. Other apps call `notify`, `escalation_start` and `escalation_stop`."""

from .config import channel_create, contact_method_create, escalation_policy_create, routing_rule_create
from .escalations import escalation_advance, escalation_start, escalation_stop, escalations_sweep
from .notifications import (
    dispatch,
    notification_deliver,
    notification_discard,
    notification_retry,
    notifications_sweep,
    notify,
)
from .oncall import (
    calendar_feed_for,
    calendar_feed_rotate_token,
    coverage_check,
    override_create,
    render_calendar,
    rotation_create,
)

__all__ = [
    "calendar_feed_for",
    "calendar_feed_rotate_token",
    "channel_create",
    "contact_method_create",
    "coverage_check",
    "dispatch",
    "escalation_advance",
    "escalation_policy_create",
    "escalation_start",
    "escalation_stop",
    "escalations_sweep",
    "notification_deliver",
    "notification_discard",
    "notification_retry",
    "notifications_sweep",
    "notify",
    "override_create",
    "render_calendar",
    "rotation_create",
    "routing_rule_create",
]
