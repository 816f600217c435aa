from django.db import migrations

from governance.db_search import trigram_indexes


class Migration(migrations.Migration):
    dependencies = [("access_reviews", "0002_roles"), ("governance", "0004_search_indexes")]

    operations = [
        trigram_indexes(
            # Names and emails: people type part of a name or an address ("alice", "@corp").
            ("identity_email_trgm", "access_reviews_identity", "email"),
            ("identity_name_trgm", "access_reviews_identity", "name"),
            ("system_slug_trgm", "access_reviews_system", "slug"),
            ("system_name_trgm", "access_reviews_system", "name"),
            # Accounts and entitlements are short identifiers searched by fragment ("admin", "db-write").
            ("accessgrant_account_trgm", "access_reviews_accessgrant", "account"),
            ("accessgrant_entitlement_trgm", "access_reviews_accessgrant", "entitlement"),
            ("accessgrant_email_trgm", "access_reviews_accessgrant", "email"),
            ("reviewtemplate_name_trgm", "access_reviews_reviewtemplate", "name"),
            ("campaign_name_trgm", "access_reviews_campaign", "name"),
            ("campaign_period_trgm", "access_reviews_campaign", "period"),
            ("remediation_account_trgm", "access_reviews_remediation", "account"),
            ("remediation_entitlement_trgm", "access_reviews_remediation", "entitlement"),
            ("reviewitem_account_trgm", "access_reviews_reviewitem", "account"),
            ("reviewitem_entitlement_trgm", "access_reviews_reviewitem", "entitlement"),
        ),
    ]
