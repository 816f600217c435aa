import datetime as dt

from rest_framework import serializers

from governance.api.serializers import JSONInputSerializer

from ..choices import RunKind, RunStatus
from ..models import BackupRun, BackupTarget


class UTCDateTimeField(serializers.DateTimeField):
    """Times go out in UTC with an offset; input must carry an offset."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("default_timezone", dt.UTC)
        super().__init__(*args, **kwargs)

    def to_internal_value(self, value):
        parsed = super().to_internal_value(value)
        return parsed.astimezone(dt.UTC)

    def to_representation(self, value):
        return None if value is None else super().to_representation(value.astimezone(dt.UTC))


class RunReportSerializer(JSONInputSerializer):
    target = serializers.SlugField(max_length=80)
    status = serializers.ChoiceField(choices=RunStatus.choices)
    kind = serializers.ChoiceField(choices=RunKind.choices, default=RunKind.FULL)
    started_at = UTCDateTimeField()
    finished_at = UTCDateTimeField(required=False, allow_null=True)
    size_bytes = serializers.IntegerField(required=False, allow_null=True, min_value=0, max_value=2**63 - 1)
    sha256 = serializers.RegexField(
        r"^[0-9a-fA-F]{64}$",
        required=False,
        allow_blank=True,
        error_messages={"invalid": "A SHA-256 is 64 hexadecimal characters."},
    )
    location = serializers.CharField(required=False, allow_blank=True, max_length=1000)
    tool = serializers.CharField(required=False, allow_blank=True, max_length=40)
    external_id = serializers.CharField(required=False, allow_blank=True, max_length=200)
    raw = serializers.JSONField(required=False)
    manifest = serializers.JSONField(required=False, help_text="Optional: {tables: {name: {rows, sha256}}}.")
    recovery_point_at = UTCDateTimeField(required=False, allow_null=True)
    error = serializers.CharField(required=False, allow_blank=True)

    def validate(self, attrs):
        started, finished = attrs.get("started_at"), attrs.get("finished_at")
        if started and finished and finished < started:
            raise serializers.ValidationError({"finished_at": ["finished_at is before started_at."]})
        if "raw" in attrs and not isinstance(attrs["raw"], dict):
            attrs["raw"] = {"value": attrs["raw"]}
        manifest = attrs.get("manifest")
        if manifest is not None and not (isinstance(manifest, dict) and isinstance(manifest.get("tables", {}), dict)):
            raise serializers.ValidationError({"manifest": ["An object with a `tables` object."]})
        return attrs


class BackupRunSerializer(serializers.ModelSerializer):
    target = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    started_at = UTCDateTimeField()
    finished_at = UTCDateTimeField(allow_null=True)
    recovery_point_at = UTCDateTimeField(allow_null=True)

    class Meta:
        model = BackupRun
        fields = [
            "id",
            "target",
            "external_id",
            "status",
            "kind",
            "started_at",
            "finished_at",
            "recovery_point_at",
            "size_bytes",
            "sha256",
            "location",
            "tool",
        ]


class BackupTargetSerializer(serializers.ModelSerializer):
    service = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    last_success_at = UTCDateTimeField(allow_null=True)
    rpo_breached = serializers.SerializerMethodField()
    rpo_breached_since = UTCDateTimeField(allow_null=True)
    next_drill_due = serializers.SerializerMethodField()

    class Meta:
        model = BackupTarget
        fields = [
            "slug",
            "name",
            "service",
            "kind",
            "rpo_minutes",
            "rto_minutes",
            "expected_schedule",
            "drill_interval_days",
            "automated_drills",
            "last_success_at",
            "rpo_breached",
            "rpo_breached_since",
            "next_drill_due",
        ]

    def get_rpo_breached(self, target) -> bool:
        return target.rpo_breached_since is not None

    def get_next_drill_due(self, target) -> str | None:
        due = self.context.get("next_drill_due", {}).get(target.pk)
        return due.astimezone(dt.UTC).isoformat().replace("+00:00", "Z") if due else None


class ReportCountsSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()
