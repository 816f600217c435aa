from django.db import migrations

from governance.db_search import trigram_extension, trigram_indexes


class Migration(migrations.Migration):
    dependencies = [("governance", "0003_roles_and_unassigned_service")]

    operations = [
        trigram_extension(),
        trigram_indexes(
            ("audit_actor_trgm", "governance_auditevent", "actor_label"),
            ("jobrun_job_trgm", "governance_jobrun", "job"),
        ),
    ]
