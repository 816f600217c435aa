import datetime as dt

from django.contrib.auth import get_user_model
from django.db import models
from django.urls import reverse
from rest_framework import serializers

from governance.api.serializers import JSONInputSerializer, OptionalURLField
from governance.choices import Severity
from governance.links import admin_url
from governance.models import Service

from ..models import REFERENCE_PREFIX, Incident, IncidentEvent


class UTCDateTimeField(serializers.DateTimeField):
    """Times go out in UTC with an offset, whatever TIME_ZONE says."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("default_timezone", dt.UTC)
        super().__init__(*args, **kwargs)

    def enforce_timezone(self, value):
        value = super().enforce_timezone(value)
        return value.astimezone(dt.UTC) if value.tzinfo else value

    def to_representation(self, value):
        if value is None:
            return None
        return super().to_representation(value.astimezone(dt.UTC))


class UTCModelSerializer(serializers.ModelSerializer):
    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.DateTimeField: UTCDateTimeField,
    }


class TimelineEventSerializer(UTCModelSerializer):
    actor = serializers.CharField(source="actor_label")

    class Meta:
        model = IncidentEvent
        fields = ["id", "kind", "occurred_at", "actor", "message", "data"]


def _username(user) -> str | None:
    return user.get_username() if user else None


class IncidentSerializer(UTCModelSerializer):
    reference = serializers.CharField(read_only=True)
    service = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    commander = serializers.SerializerMethodField()
    communications_lead = serializers.SerializerMethodField()
    scribe = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField()
    recurrence_of = serializers.SerializerMethodField()
    chat_url = OptionalURLField()

    class Meta:
        model = Incident
        fields = [
            "id",
            "reference",
            "title",
            "summary",
            "severity",
            "status",
            "service",
            "commander",
            "communications_lead",
            "scribe",
            "customer_impact",
            "source",
            "chat_url",
            "dedup_key",
            "declared_at",
            "ack_due_at",
            "acknowledged_at",
            "ack_breached",
            "ack_breached_at",
            "mitigated_at",
            "resolved_at",
            "closed_at",
            "next_update_due_at",
            "postmortem_due_at",
            "recurrence_of",
            "url",
        ]
        read_only_fields = fields

    def get_recurrence_of(self, obj) -> str | None:
        """The earlier incident of the same alert group this one recurs (its reference), from the id alone."""
        return f"{REFERENCE_PREFIX}{obj.recurrence_of_id}" if obj.recurrence_of_id else None

    def get_commander(self, obj) -> str | None:
        return _username(obj.commander)

    def get_communications_lead(self, obj) -> str | None:
        return _username(obj.communications_lead)

    def get_scribe(self, obj) -> str | None:
        return _username(obj.scribe)

    def get_url(self, obj) -> str:
        request = self.context.get("request")
        if request is not None:
            return request.build_absolute_uri(reverse("admin:incidents_incident_change", args=[obj.pk]))
        return admin_url(obj)


class IncidentDetailSerializer(IncidentSerializer):
    timeline = serializers.SerializerMethodField()
    recurrences = serializers.SerializerMethodField()

    class Meta(IncidentSerializer.Meta):
        fields = [*IncidentSerializer.Meta.fields, "recurrences", "timeline"]
        read_only_fields = fields

    def get_recurrences(self, obj) -> list[str]:
        """References of the later incidents of the same alert group, oldest first."""
        return [f"{REFERENCE_PREFIX}{pk}" for pk in obj.recurrences.order_by("id").values_list("id", flat=True)]

    def get_timeline(self, obj) -> list[dict]:
        events = obj.events.order_by("-occurred_at", "-id")
        return TimelineEventSerializer(events, many=True).data


class IncidentDeclareSerializer(JSONInputSerializer):
    title = serializers.CharField(max_length=200)
    severity = serializers.ChoiceField(choices=Severity.choices)
    service = serializers.SlugRelatedField(slug_field="slug", queryset=Service.objects.all())
    summary = serializers.CharField(required=False, allow_blank=True, default="")
    commander = serializers.SlugRelatedField(
        slug_field="username", queryset=get_user_model().objects.filter(is_active=True), required=False
    )
    dedup_key = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")
    customer_impact = serializers.CharField(required=False, allow_blank=True, default="")
    chat_url = serializers.URLField(required=False, allow_blank=True, default="")


class NoteSerializer(JSONInputSerializer):
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)


class StatusUpdateSerializer(JSONInputSerializer):
    message = serializers.CharField(max_length=5000)


class SeverityChangeSerializer(JSONInputSerializer):
    severity = serializers.ChoiceField(choices=Severity.choices)
    reason = serializers.CharField(max_length=1000)


class IncidentFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=[], required=False)
    severity = serializers.ChoiceField(choices=Severity.choices, required=False)
    service = serializers.SlugField(required=False, allow_blank=True)  # `?service=` filters nothing
    # Absent means both; "null" or "" are not booleans (DRF's allow_null would read them as absent).
    open = serializers.BooleanField(required=False)

    def __init__(self, *args, **kwargs):
        from ..choices import IncidentStatus

        super().__init__(*args, **kwargs)
        self.fields["status"].choices = IncidentStatus.choices
