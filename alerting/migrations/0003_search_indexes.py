from django.db import migrations

from governance.db_search import trigram_indexes


class Migration(migrations.Migration):
    dependencies = [("alerting", "0002_roles"), ("governance", "0004_search_indexes")]

    operations = [
        trigram_indexes(
            ("notification_subject_trgm", "alerting_notification", "subject"),
            ("escalation_subject_trgm", "alerting_escalation", "subject"),
        ),
    ]
