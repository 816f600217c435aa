from django.contrib.auth import get_user_model
from rest_framework import serializers

from governance.api.serializers import JSONInputSerializer, OptionalURLField
from governance.models import Service
from incidents.api.serializers import UTCDateTimeField

from ..choices import ChangeKind, ChangeRisk, DeploymentStatus
from ..models import Change, Deployment


class ServiceSlugField(serializers.SlugRelatedField):
    def __init__(self, **kwargs):
        super().__init__(slug_field="slug", queryset=Service.objects.all(), **kwargs)


class UsernameField(serializers.SlugRelatedField):
    def __init__(self, **kwargs):
        super().__init__(slug_field="username", queryset=get_user_model().objects.filter(is_active=True), **kwargs)


class DeploymentInputSerializer(JSONInputSerializer):
    service = ServiceSlugField()
    environment = serializers.CharField(max_length=64)
    version = serializers.CharField(max_length=200, help_text="Version, tag or commit SHA.")
    status = serializers.ChoiceField(choices=DeploymentStatus.choices)
    started_at = UTCDateTimeField()
    finished_at = UTCDateTimeField(required=False, allow_null=True)
    pipeline_url = serializers.URLField(max_length=500, required=False, allow_blank=True, default="")
    change = serializers.CharField(required=False, allow_blank=True, default="", help_text="CHG-<n>")
    implementer = UsernameField(required=False, allow_null=True, default=None)
    watch_minutes = serializers.IntegerField(required=False, min_value=1, max_value=7 * 24 * 60, allow_null=True)


class ChangeSummarySerializer(serializers.ModelSerializer):
    reference = serializers.CharField(read_only=True)
    services = serializers.SlugRelatedField(slug_field="slug", many=True, read_only=True)
    implementer = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    approvers = serializers.SlugRelatedField(slug_field="username", many=True, read_only=True)
    submitted_at = UTCDateTimeField(read_only=True, allow_null=True)
    approved_at = UTCDateTimeField(read_only=True, allow_null=True)
    planned_start = UTCDateTimeField(read_only=True, allow_null=True)
    planned_end = UTCDateTimeField(read_only=True, allow_null=True)
    actual_start = UTCDateTimeField(read_only=True, allow_null=True)
    actual_end = UTCDateTimeField(read_only=True, allow_null=True)
    approval_due_at = UTCDateTimeField(read_only=True, allow_null=True)
    pull_request_url = OptionalURLField()
    pipeline_url = OptionalURLField()

    class Meta:
        model = Change
        fields = [
            "id",
            "reference",
            "title",
            "kind",
            "risk",
            "status",
            "services",
            "implementer",
            "approvers",
            "planned_start",
            "planned_end",
            "actual_start",
            "actual_end",
            "submitted_at",
            "approved_at",
            "approval_due_at",
            "release_tag",
            "pull_request_url",
            "pipeline_url",
            "migration_hash",
            "rollback_plan",
        ]


class DeploymentSerializer(serializers.ModelSerializer):
    service = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    change = ChangeSummarySerializer(read_only=True)
    started_at = UTCDateTimeField(read_only=True)
    finished_at = UTCDateTimeField(read_only=True, allow_null=True)
    pipeline_url = OptionalURLField()
    suspect_incident = serializers.SerializerMethodField()

    class Meta:
        model = Deployment
        fields = [
            "id",
            "service",
            "environment",
            "version",
            "status",
            "started_at",
            "finished_at",
            "pipeline_url",
            "watch_minutes",
            "in_freeze",
            "suspect_incident",
            "reported_by",
            "change",
        ]

    def get_suspect_incident(self, obj) -> str | None:
        return f"INC-{obj.suspect_incident_id}" if obj.suspect_incident_id else None


class GateInputSerializer(JSONInputSerializer):
    # The gate looks the slug up in its one round trip (changes.selectors.gate_facts); an unknown one is a
    # 400 on this field, as elsewhere.
    service = serializers.SlugField(max_length=80, help_text="The service's slug.")
    environment = serializers.CharField(max_length=64)
    version = serializers.CharField(max_length=200)
    change = serializers.CharField(required=False, allow_blank=True, default="", help_text="CHG-<n> (optional)")


class GateReasonSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="freeze_window, open_incident, not_approved, ack_breach, rpo_breach, ...")
    message = serializers.CharField()


class GateAllowedSerializer(serializers.Serializer):
    allowed = serializers.BooleanField()
    decision = serializers.IntegerField()
    service = serializers.CharField()
    environment = serializers.CharField()
    version = serializers.CharField()
    checks = serializers.ListField(child=serializers.CharField())
    reasons = GateReasonSerializer(many=True)


class GateRefusedSerializer(serializers.Serializer):
    class Body(serializers.Serializer):
        code = serializers.CharField()
        message = serializers.CharField()
        fields = serializers.DictField()

    error = Body()
    allowed = serializers.BooleanField()
    decision = serializers.IntegerField()
    reasons = GateReasonSerializer(many=True)


class ChangeCreateSerializer(JSONInputSerializer):
    title = serializers.CharField(max_length=200)
    services = serializers.ListField(child=ServiceSlugField(), min_length=1)
    kind = serializers.ChoiceField(choices=ChangeKind.choices, default=ChangeKind.NORMAL)
    risk = serializers.ChoiceField(choices=ChangeRisk.choices, default=ChangeRisk.MEDIUM)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    planned_start = UTCDateTimeField(required=False, allow_null=True, default=None)
    planned_end = UTCDateTimeField(required=False, allow_null=True, default=None)
    implementer = UsernameField(required=False, allow_null=True, default=None)
    approvers = serializers.ListField(child=UsernameField(), required=False, default=list)
    rollback_plan = serializers.CharField(required=False, allow_blank=True, default="")
    pull_request_url = serializers.URLField(max_length=500, required=False, allow_blank=True, default="")
    pipeline_url = serializers.URLField(max_length=500, required=False, allow_blank=True, default="")
    release_tag = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    migration_hash = serializers.CharField(max_length=128, required=False, allow_blank=True, default="")


class TransitionSerializer(JSONInputSerializer):
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)
