from django.db import migrations

from governance.db_search import trigram_fastupdate_off


class Migration(migrations.Migration):
    dependencies = [("incidents", "0004_daily_stats_and_search_indexes")]

    operations = [
        trigram_fastupdate_off(
            "incident_title_trgm",
            "incident_dedup_key_trgm",
            "postmortem_summary_trgm",
            "actionitem_title_trgm",
            "alert_alertname_trgm",
        ),
    ]
