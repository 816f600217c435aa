"""Every write of the incidents app. Import from here: `from incidents.services import incident_declare`."""

from .alertmanager import alertmanager_payload_process, alertmanager_payload_store, alertmanager_payloads_drain
from .deadlines import incident_record_ack_breach, incident_remind_update_due
from .evidence import evidence_preserve
from .incidents import (
    incident_acknowledge,
    incident_add_note,
    incident_assign_roles,
    incident_change_severity,
    incident_close,
    incident_declare,
    incident_declare_or_get,
    incident_mitigate,
    incident_post_update,
    incident_resolve,
    incident_update_details,
)
from .postmortems import (
    action_item_create,
    action_item_remind_overdue,
    action_item_set_status,
    action_item_update,
    postmortem_create,
    postmortem_publish,
    postmortem_remind_due,
    postmortem_return_to_draft,
    postmortem_submit,
    postmortem_update,
)
from .runbook_steps import incident_record_runbook_step

__all__ = [
    "action_item_create",
    "action_item_remind_overdue",
    "action_item_set_status",
    "action_item_update",
    "alertmanager_payload_process",
    "alertmanager_payload_store",
    "alertmanager_payloads_drain",
    "evidence_preserve",
    "incident_acknowledge",
    "incident_add_note",
    "incident_assign_roles",
    "incident_change_severity",
    "incident_close",
    "incident_declare",
    "incident_declare_or_get",
    "incident_mitigate",
    "incident_post_update",
    "incident_record_ack_breach",
    "incident_record_runbook_step",
    "incident_remind_update_due",
    "incident_resolve",
    "incident_update_details",
    "postmortem_create",
    "postmortem_publish",
    "postmortem_remind_due",
    "postmortem_return_to_draft",
    "postmortem_submit",
    "postmortem_update",
]
