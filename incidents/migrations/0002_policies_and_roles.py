from django.db import migrations

from governance.choices import Role
from governance.roles import grant_permissions, model_permissions

# (severity, ack minutes, update cadence minutes or None, postmortem required)
SEEDED_POLICIES = [("SEV1", 5, 30, True), ("SEV2", 15, 60, True), ("SEV3", 60, None, False)]

VIEW_ALL = [
    "incidents.view_incident",
    "incidents.view_incidentevent",
    "incidents.view_evidence",
    "incidents.view_alert",
    "incidents.view_postmortem",
    "incidents.view_actionitem",
    "incidents.view_severitypolicy",
]


GRANTS = {
    Role.INCIDENT_COMMANDER: [
        *VIEW_ALL,
        "incidents.add_incident",
        "incidents.change_incident",
        "incidents.acknowledge_incident",
        "incidents.post_incident_update",
        "incidents.command_incident",
        "incidents.resolve_incident",
        "incidents.close_incident",
        "incidents.add_evidence",
        *model_permissions("incidents", "postmortem", ("add", "change")),
        *model_permissions("incidents", "actionitem", ("add", "change")),
    ],
    Role.RESPONDER: [
        *VIEW_ALL,
        "incidents.acknowledge_incident",
        "incidents.post_incident_update",
    ],
    Role.AUDITOR: [*VIEW_ALL, "incidents.view_alertmanagerpayload"],
    Role.COMPLIANCE_MANAGER: list(VIEW_ALL),
    Role.OPS_ADMIN: [
        "incidents.view_severitypolicy",
        "incidents.change_severitypolicy",
        "incidents.view_alertmanagerpayload",
        "incidents.view_alert",
    ],
}


def forwards(apps, schema_editor):
    SeverityPolicy = apps.get_model("incidents", "SeverityPolicy")
    for severity, ack, cadence, required in SEEDED_POLICIES:
        SeverityPolicy.objects.get_or_create(
            severity=severity,
            defaults={
                "ack_minutes": ack,
                "update_every_minutes": cadence,
                "postmortem_required": required,
                "postmortem_due_business_days": 5,
            },
        )
    grant_permissions(apps, GRANTS)


class Migration(migrations.Migration):
    dependencies = [
        ("incidents", "0001_initial"),
        ("governance", "0003_roles_and_unassigned_service"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
