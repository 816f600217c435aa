from django.db import migrations

from governance.choices import Role
from governance.roles import grant_permissions, model_permissions

VIEW_ALL = [
    "slos.view_slo",
    "slos.view_prometheussource",
    "slos.view_slostatus",
    "slos.view_burnepisode",
    "slos.view_budgetexception",
    "slos.view_pushedinterval",
    "slos.view_hourlycount",
]

GRANTS = {
    # Ops Admin configures SLOs and their data sources (and pushes counts from the session).
    Role.OPS_ADMIN: [
        *VIEW_ALL,
        *model_permissions("slos", "slo", ("add", "change", "delete")),
        *model_permissions("slos", "prometheussource", ("add", "change", "delete")),
        "slos.add_pushedinterval",
        "slos.add_budgetexception",
    ],
    # Change Managers decide budget exceptions (never their own request).
    Role.CHANGE_MANAGER: [
        "slos.view_slo",
        "slos.view_burnepisode",
        "slos.view_budgetexception",
        "slos.add_budgetexception",
        "slos.approve_budgetexception",
    ],
    Role.INCIDENT_COMMANDER: ["slos.view_slo", "slos.view_burnepisode"],
    Role.RESPONDER: ["slos.view_slo", "slos.view_burnepisode"],
    Role.AUDITOR: list(VIEW_ALL),
    Role.COMPLIANCE_MANAGER: list(VIEW_ALL),
}


def forwards(apps, schema_editor):
    grant_permissions(apps, GRANTS)


class Migration(migrations.Migration):
    dependencies = [("slos", "0001_initial")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
