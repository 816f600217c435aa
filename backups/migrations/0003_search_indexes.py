from django.db import migrations

from governance.db_search import trigram_indexes


class Migration(migrations.Migration):
    dependencies = [("backups", "0002_roles"), ("governance", "0004_search_indexes")]

    operations = [
        trigram_indexes(
            # Short names and slugs people type fragments of; the runs and drills changelists search the slug through the join.
            ("backuptarget_slug_trgm", "backups_backuptarget", "slug"),
            ("backuptarget_name_trgm", "backups_backuptarget", "name"),
            # The tool's snapshot id: people paste part of it from a log line.
            ("backuprun_external_id_trgm", "backups_backuprun", "external_id"),
            # Free-text findings searched for a word they remember: a substring, as icontains finds it.
            ("restoredrill_findings_trgm", "backups_restoredrill", "findings"),
        ),
    ]
