from django.db import migrations

from governance.choices import Role
from governance.roles import grant_permissions, model_permissions

VIEW_ALL = [
    "runbooks.view_runbook",
    "runbooks.view_runbookversion",
    "runbooks.view_runbookreview",
    "runbooks.view_runbookexecution",
    "runbooks.view_stepresult",
]

# CONTRACTS.md: commanders run runbooks, responders run runbook steps, Ops Admins configure
# runbooks; auditors and compliance managers read everything.
GRANTS = {
    Role.INCIDENT_COMMANDER: [*VIEW_ALL, "runbooks.run_runbook"],
    Role.RESPONDER: [*VIEW_ALL, "runbooks.run_runbook"],
    Role.OPS_ADMIN: [
        *VIEW_ALL,
        *model_permissions("runbooks", "runbook", ("add", "change")),
        "runbooks.publish_runbook",
        "runbooks.review_runbook",
        "runbooks.run_runbook",
    ],
    Role.AUDITOR: list(VIEW_ALL),
    Role.COMPLIANCE_MANAGER: list(VIEW_ALL),
}


def forwards(apps, schema_editor):
    grant_permissions(apps, GRANTS)


class Migration(migrations.Migration):
    dependencies = [
        ("runbooks", "0002_published_versions_immutable"),
        ("governance", "0003_roles_and_unassigned_service"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
