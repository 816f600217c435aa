from django.db import migrations

from governance.db_search import trigram_fastupdate_off


class Migration(migrations.Migration):
    dependencies = [("alerting", "0004_event_types_of_changes_and_slos")]

    operations = [trigram_fastupdate_off("notification_subject_trgm", "escalation_subject_trgm")]
