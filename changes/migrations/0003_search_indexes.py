from django.db import migrations

from governance.db_search import trigram_indexes


class Migration(migrations.Migration):
    dependencies = [("changes", "0002_roles"), ("governance", "0004_search_indexes")]

    operations = [
        trigram_indexes(
            # Titles, names and version strings: people type fragments ("payments", "v2.3"); CHG-n stays a pk lookup.
            ("change_title_trgm", "changes_change", "title"),
            ("change_release_tag_trgm", "changes_change", "release_tag"),
            ("deployment_version_trgm", "changes_deployment", "version"),
            ("gatedecision_version_trgm", "changes_gatedecision", "version"),
            ("freezewindow_name_trgm", "changes_freezewindow", "name"),
            # Reasons are free text, but people search them for a word they remember: a substring, as icontains finds it.
            ("freezewindow_reason_trgm", "changes_freezewindow", "reason"),
            ("freezeexception_reason_trgm", "changes_freezeexception", "reason"),
            ("calendarfeed_name_trgm", "changes_changecalendarfeed", "name"),
        ),
    ]
