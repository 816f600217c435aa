from django.db import migrations

from governance.choices import Role
from governance.roles import grant_permissions, model_permissions

A = "access_reviews"
VIEW_ALL = [
    f"{A}.view_identity",
    f"{A}.view_system",
    f"{A}.view_accessgrant",
    f"{A}.view_snapshotimport",
    f"{A}.view_reviewtemplate",
    f"{A}.view_campaign",
    f"{A}.view_reviewitem",
    f"{A}.view_all_reviewitem",
    f"{A}.view_remediation",
    f"{A}.view_orphanedgrantalert",
]

GRANTS = {
    # Reviewers see and decide only their own items (the admin and API scope the queryset).
    Role.ACCESS_REVIEWER: [f"{A}.view_reviewitem", f"{A}.decide_reviewitem"],
    Role.COMPLIANCE_MANAGER: [
        *VIEW_ALL,
        *model_permissions(A, "reviewtemplate", ("add", "change")),
        *model_permissions(A, "identity", ("add", "change")),
        *model_permissions(A, "system", ("add", "change")),
        f"{A}.change_remediation",
        f"{A}.launch_campaign",
        f"{A}.sign_off_campaign",
        f"{A}.export_campaign_evidence",
        f"{A}.import_snapshot",
    ],
    Role.AUDITOR: [*VIEW_ALL, f"{A}.export_campaign_evidence"],
    # Ops Admins wire systems to their connectors; they neither review nor sign off.
    Role.OPS_ADMIN: [
        f"{A}.view_system",
        f"{A}.add_system",
        f"{A}.change_system",
        f"{A}.view_snapshotimport",
        f"{A}.import_snapshot",
        f"{A}.view_remediation",
        f"{A}.change_remediation",
    ],
}


def forwards(apps, schema_editor):
    grant_permissions(apps, GRANTS)


class Migration(migrations.Migration):
    dependencies = [
        ("access_reviews", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("governance", "0003_roles_and_unassigned_service"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
