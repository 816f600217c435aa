from django.db import migrations

from governance.choices import Role
from governance.roles import grant_permissions


def grant(apps, schema_editor):
    # Ops Admin unlocks accounts (deletes failed-login records) and resets a lost authenticator
    # (deletes the device, so its owner enrols again). No other role sees either.
    grant_permissions(
        apps,
        {
            Role.OPS_ADMIN: [
                "axes.view_accessattempt",
                "axes.delete_accessattempt",
                "axes.view_accesslog",
                "otp_totp.view_totpdevice",
                "otp_totp.delete_totpdevice",
            ],
        },
    )


class Migration(migrations.Migration):
    dependencies = [
        ("governance", "0008_search_indexes_without_pending_list"),
        ("axes", "0010_accessattemptexpiration"),
        ("otp_totp", "0003_add_timestamps"),
    ]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
