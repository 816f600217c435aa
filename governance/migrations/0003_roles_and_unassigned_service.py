from django.db import migrations

from governance.choices import Role
from governance.roles import create_roles, grant_permissions, model_permissions


def forwards(apps, schema_editor):
    create_roles(apps)
    catalog_view = ["governance.view_team", "governance.view_service"]
    grant_permissions(
        apps,
        {
            Role.OPS_ADMIN: [
                *model_permissions("governance", "team"),
                *model_permissions("governance", "service"),
                *model_permissions("governance", "apikey", ("view", "add", "change")),
                "governance.view_jobrun",
                "governance.view_auditevent",
                *model_permissions("django_celery_beat", "periodictask", ("view", "change")),
            ],
            Role.INCIDENT_COMMANDER: catalog_view,
            Role.RESPONDER: catalog_view,
            Role.COMPLIANCE_MANAGER: [*catalog_view, "governance.view_auditevent", "governance.view_jobrun"],
            Role.AUDITOR: [
                *catalog_view,
                "governance.view_apikey",
                "governance.view_auditevent",
                "governance.view_jobrun",
                "django_celery_beat.view_periodictask",
            ],
        },
    )
    Service = apps.get_model("governance", "Service")
    Service.objects.get_or_create(
        slug="unassigned",
        defaults={"name": "Unassigned", "tier": 3, "description": "Alerts and incidents not yet mapped to a service."},
    )


class Migration(migrations.Migration):
    dependencies = [
        ("governance", "0002_audit_append_only"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
