from django.db import migrations

from governance.choices import Role
from governance.roles import grant_permissions, model_permissions

VIEW_ALL = [
    "changes.view_change",
    "changes.view_changeevent",
    "changes.view_deployment",
    "changes.view_freezewindow",
    "changes.view_freezeexception",
    "changes.view_gatedecision",
    "changes.view_suspectedcause",
]

GRANTS = {
    Role.CHANGE_MANAGER: [
        *VIEW_ALL,
        "changes.add_change",
        "changes.change_change",
        "changes.approve_change",
        *model_permissions("changes", "freezewindow", ("add", "change", "delete")),
        "changes.add_freezeexception",
        "changes.approve_freezeexception",
        "changes.add_suspectedcause",
        "changes.add_deployment",
        "changes.ask_release_gate",
        *model_permissions("changes", "changecalendarfeed"),
    ],
    Role.OPS_ADMIN: [
        *VIEW_ALL,
        *model_permissions("changes", "freezewindow", ("add", "change", "delete")),
        "changes.add_freezeexception",
        "changes.approve_freezeexception",
        "changes.add_deployment",
        "changes.ask_release_gate",
        *model_permissions("changes", "changecalendarfeed"),
    ],
    # Commanders decide what caused their incident: the "suspected cause" button.
    Role.INCIDENT_COMMANDER: [
        "changes.view_change",
        "changes.view_deployment",
        "changes.view_freezewindow",
        "changes.view_suspectedcause",
        "changes.add_suspectedcause",
    ],
    Role.RESPONDER: ["changes.view_change", "changes.view_deployment", "changes.view_freezewindow"],
    Role.AUDITOR: list(VIEW_ALL),
    Role.COMPLIANCE_MANAGER: list(VIEW_ALL),
}


def forwards(apps, schema_editor):
    grant_permissions(apps, GRANTS)


class Migration(migrations.Migration):
    dependencies = [("changes", "0001_initial")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
