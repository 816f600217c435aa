from django.db import migrations

from governance.db_search import trigram_fastupdate_off


class Migration(migrations.Migration):
    dependencies = [("governance", "0007_scorecard_and_evidence_permission")]

    operations = [trigram_fastupdate_off("audit_actor_trgm", "jobrun_job_trgm")]
