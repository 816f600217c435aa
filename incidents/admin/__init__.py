"""The incidents admin: the commander's console and the postmortem desk."""

from .incident import IncidentAdmin
from .postmortem import ActionItemAdmin, AlertAdmin, AlertmanagerPayloadAdmin, PostmortemAdmin, SeverityPolicyAdmin

__all__ = [
    "ActionItemAdmin",
    "AlertAdmin",
    "AlertmanagerPayloadAdmin",
    "IncidentAdmin",
    "PostmortemAdmin",
    "SeverityPolicyAdmin",
]
