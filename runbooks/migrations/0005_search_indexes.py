from django.db import migrations

from governance.db_search import trigram_indexes


class Migration(migrations.Migration):
    dependencies = [("runbooks", "0004_runbook_service_optional"), ("governance", "0004_search_indexes")]

    operations = [
        trigram_indexes(
            # Short names people type fragments of; the executions and versions changelists search them through the join.
            ("runbook_title_trgm", "runbooks_runbook", "title"),
            ("runbook_slug_trgm", "runbooks_runbook", "slug"),
            # The list shows a short SHA; people paste it, so the search is a substring of the hex digest.
            ("runbookversion_sha_trgm", "runbooks_runbookversion", "content_sha256"),
        ),
    ]
