from django.db import migrations

from governance.db_guard import install_append_only, remove_append_only


def forwards(apps, schema_editor):
    install_append_only(schema_editor, "governance_auditevent")


def backwards(apps, schema_editor):
    remove_append_only(schema_editor, "governance_auditevent")


class Migration(migrations.Migration):
    dependencies = [("governance", "0001_initial")]

    operations = [migrations.RunPython(forwards, backwards)]
