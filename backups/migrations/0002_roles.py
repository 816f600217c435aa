from django.db import migrations

from governance.choices import Role
from governance.roles import grant_permissions, model_permissions

VIEW_ALL = [
    "backups.view_backuptarget",
    "backups.view_backuprun",
    "backups.view_rpobreach",
    "backups.view_restoredrill",
    "backups.view_drillcheck",
    "backups.view_drillevidence",
    "backups.view_drillactionitem",
]
RUN_DRILLS = [
    "backups.run_restoredrill",
    "backups.add_restoredrill",
    *model_permissions("backups", "drillcheck", ("add", "change")),
    *model_permissions("backups", "drillevidence", ("add",)),
    *model_permissions("backups", "drillactionitem", ("add", "change")),
]

GRANTS = {
    Role.OPS_ADMIN: [
        *VIEW_ALL,
        *model_permissions("backups", "backuptarget", ("add", "change", "delete")),
        "backups.add_backuprun",
        "backups.change_restoredrill",
        "backups.signoff_restoredrill",
        *RUN_DRILLS,
    ],
    Role.INCIDENT_COMMANDER: [*VIEW_ALL, "backups.change_restoredrill", *RUN_DRILLS],
    Role.RESPONDER: list(VIEW_ALL),
    Role.AUDITOR: list(VIEW_ALL),
    Role.COMPLIANCE_MANAGER: [*VIEW_ALL, "backups.signoff_restoredrill"],
}


def grant_backup_roles(apps, schema_editor):
    grant_permissions(apps, GRANTS)


class Migration(migrations.Migration):
    dependencies = [("backups", "0001_initial"), ("governance", "0003_roles_and_unassigned_service")]

    operations = [migrations.RunPython(grant_backup_roles, migrations.RunPython.noop)]
