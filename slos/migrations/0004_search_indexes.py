from django.db import migrations

from governance.db_search import trigram_indexes


class Migration(migrations.Migration):
    dependencies = [("slos", "0003_raw_retention"), ("governance", "0004_search_indexes")]

    operations = [
        trigram_indexes(
            # Short names and slugs people type fragments of; status history and burn episodes search the slug through the join.
            ("prometheussource_name_trgm", "slos_prometheussource", "name"),
            ("slo_slug_trgm", "slos_slo", "slug"),
            ("slo_name_trgm", "slos_slo", "name"),
        ),
    ]
