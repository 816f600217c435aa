from django.db import migrations

from governance.choices import Role
from governance.roles import grant_permissions, model_permissions

MODELS = [
    "oncallrotation",
    "rotationmember",
    "oncalloverride",
    "calendarfeed",
    "coveragegap",
    "channel",
    "contactmethod",
    "escalationpolicy",
    "escalationstep",
    "escalation",
    "routingrule",
    "notification",
    "deliveryattempt",
]


def forwards(apps, schema_editor):
    view = [f"alerting.view_{model}" for model in MODELS]
    # Responders see who is on call and what was sent, and swap shifts.
    responder = [
        "alerting.view_oncallrotation",
        "alerting.view_oncalloverride",
        "alerting.view_escalation",
        "alerting.view_notification",
        "alerting.view_deliveryattempt",
        "alerting.view_routingrule",
        *model_permissions("alerting", "oncalloverride", ("add", "change")),
    ]
    grant_permissions(
        apps,
        {
            Role.OPS_ADMIN: [perm for model in MODELS for perm in model_permissions("alerting", model)],
            Role.AUDITOR: view,
            Role.COMPLIANCE_MANAGER: ["alerting.view_notification", "alerting.view_deliveryattempt"],
            Role.INCIDENT_COMMANDER: [*responder, "alerting.change_escalation"],
            Role.RESPONDER: responder,
        },
    )


class Migration(migrations.Migration):
    dependencies = [
        ("alerting", "0001_initial"),
        ("governance", "0003_roles_and_unassigned_service"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
