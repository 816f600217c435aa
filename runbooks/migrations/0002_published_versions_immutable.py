from django.db import migrations

from runbooks.db_guard import install_published_guard, remove_published_guard


def forwards(apps, schema_editor):
    install_published_guard(schema_editor)


def backwards(apps, schema_editor):
    remove_published_guard(schema_editor)


class Migration(migrations.Migration):
    dependencies = [("runbooks", "0001_initial"), ("governance", "0002_audit_append_only")]

    operations = [migrations.RunPython(forwards, backwards)]
