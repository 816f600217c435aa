import datetime as dt

from rest_framework import serializers

from governance.api.serializers import JSONInputSerializer

from ..choices import Decision
from ..models import Campaign, ReviewItem


class UTCDateTimeField(serializers.DateTimeField):
    def to_representation(self, value):
        return None if value is None else super().to_representation(value.astimezone(dt.UTC))


class GrantInSerializer(serializers.Serializer):
    account = serializers.CharField(max_length=200)
    email = serializers.EmailField(required=False, allow_blank=True)
    entitlement = serializers.CharField(max_length=300)
    privileged = serializers.BooleanField(required=False, default=False)
    # Read by the same rules as the CSV column: an ISO 8601 time or date, UTC without an offset.
    last_login = serializers.CharField(
        required=False, allow_null=True, allow_blank=True, help_text="ISO 8601 time or date; empty or null: never."
    )


class SnapshotInSerializer(serializers.Serializer):
    """Documents the body; rows are validated by the same parser as CSV (errors name grants[i].field)."""

    grants = GrantInSerializer(many=True)


class SnapshotResultSerializer(serializers.Serializer):
    added = serializers.IntegerField()
    removed = serializers.IntegerField()
    changed = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    remediations_verified = serializers.IntegerField()
    sha256 = serializers.CharField()
    import_id = serializers.IntegerField()


class IdentityInSerializer(serializers.Serializer):
    email = serializers.EmailField()
    name = serializers.CharField(required=False, allow_blank=True)
    manager_email = serializers.EmailField(required=False, allow_blank=True)
    department = serializers.CharField(required=False, allow_blank=True)
    employment_status = serializers.ChoiceField(
        choices=["active", "leave", "terminated"], required=False, allow_blank=True, help_text="Empty: active."
    )


class IdentitiesInSerializer(serializers.Serializer):
    identities = IdentityInSerializer(many=True)


class CampaignSerializer(serializers.ModelSerializer):
    template = serializers.CharField(source="template.name")
    owner = serializers.CharField(source="owner.username")
    launched_at = UTCDateTimeField()
    due_at = UTCDateTimeField()
    closes_at = UTCDateTimeField()
    closed_at = UTCDateTimeField(allow_null=True)
    signed_off_at = UTCDateTimeField(allow_null=True)
    progress = serializers.SerializerMethodField()

    class Meta:
        model = Campaign
        fields = [
            "id",
            "name",
            "period",
            "template",
            "status",
            "owner",
            "launched_at",
            "due_at",
            "closes_at",
            "closed_at",
            "signed_off_at",
            "snapshot_sha256",
            "item_count",
            "progress",
        ]

    def get_progress(self, obj) -> dict:
        total, pending = obj.n_items, obj.n_pending
        return {
            "total": total,
            "decided": total - pending,
            "pending": pending,
            "ratio": round((total - pending) / total, 4) if total else 1.0,
        }


class ReviewItemSerializer(serializers.ModelSerializer):
    campaign = serializers.CharField(source="campaign.name")
    system = serializers.CharField(source="system.slug")
    identity = serializers.SerializerMethodField()
    reviewer = serializers.CharField(source="reviewer.username")
    last_login_at = UTCDateTimeField(allow_null=True)
    decided_at = UTCDateTimeField(allow_null=True)

    class Meta:
        model = ReviewItem
        fields = [
            "id",
            "campaign",
            "system",
            "account",
            "identity",
            "entitlement",
            "privileged",
            "last_login_at",
            "change",
            "reviewer",
            "decision",
            "defaulted",
            "modified_entitlement",
            "justification",
            "decided_at",
        ]

    def get_identity(self, obj) -> str | None:
        return obj.identity.email if obj.identity_id else None


class ItemFilterSerializer(serializers.Serializer):
    pending = serializers.BooleanField(required=False, help_text="true: undecided items only; false: decided only.")


class DecideSerializer(JSONInputSerializer):
    decision = serializers.ChoiceField(choices=[Decision.KEEP, Decision.REVOKE, Decision.MODIFY])
    justification = serializers.CharField(required=False, allow_blank=True, default="")
    modified_entitlement = serializers.CharField(required=False, allow_blank=True, default="", max_length=300)


class DelegateSerializer(JSONInputSerializer):
    to = serializers.CharField(help_text="User name of the new reviewer.")
    reason = serializers.CharField()
