from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("incidents", "0005_search_indexes_without_pending_list")]

    operations = [
        migrations.AddIndex(
            model_name="incident",
            index=models.Index(
                condition=models.Q(("status__in", ["declared", "acknowledged", "mitigated"])),
                fields=["service", "-declared_at", "-id"],
                name="incident_open_by_service",
            ),
        ),
    ]
