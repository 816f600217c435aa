from rest_framework import serializers

from governance.api.serializers import JSONInputSerializer
from incidents.api.serializers import UTCDateTimeField

from ..choices import BURN_WINDOWS
from ..models import SLO


class SLOBurnRatesSerializer(serializers.Serializer):
    """Burn rate per window (error ratio over the window ÷ the error budget); null without data."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in BURN_WINDOWS:
            self.fields[name] = serializers.FloatField(allow_null=True, read_only=True)

    def to_representation(self, instance):
        return {name: (instance or {}).get(name) for name in BURN_WINDOWS}


class SLOSerializer(serializers.ModelSerializer):
    service = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    owner_team = serializers.SlugRelatedField(slug_field="slug", read_only=True, allow_null=True)
    objective = serializers.FloatField(read_only=True, help_text="Fraction, e.g. 0.999.")
    window = serializers.CharField(read_only=True, help_text="28d, 30d or month.")
    sli = serializers.FloatField(read_only=True, allow_null=True, help_text="good/total over the window.")
    error_budget_remaining = serializers.FloatField(
        read_only=True, allow_null=True, help_text="Fraction of the budget; negative when overspent; null: unknown."
    )
    burn_rates = SLOBurnRatesSerializer(read_only=True)
    alert = serializers.SerializerMethodField()
    evaluated_at = UTCDateTimeField(read_only=True, allow_null=True)

    class Meta:
        model = SLO
        fields = [
            "slug",
            "name",
            "service",
            "owner_team",
            "sli_kind",
            "objective",
            "window",
            "source_kind",
            "sli",
            "error_budget_remaining",
            "burn_rates",
            "budget_status",
            "alert",
            "evaluated_at",
        ]

    def get_alert(self, obj) -> str | None:
        return obj.alert or None


class SLOFilterSerializer(serializers.Serializer):
    service = serializers.SlugField(required=False, allow_blank=True)  # `?service=` filters nothing


class SLOIntervalSerializer(JSONInputSerializer):
    start = UTCDateTimeField()
    end = UTCDateTimeField()
    good = serializers.IntegerField(min_value=0, max_value=2**62)
    total = serializers.IntegerField(min_value=0, max_value=2**62)

    def validate(self, attrs):
        if attrs["good"] > attrs["total"]:
            raise serializers.ValidationError(
                {"good": [f"good ({attrs['good']}) must not exceed total ({attrs['total']})."]}
            )
        if attrs["end"] <= attrs["start"]:
            raise serializers.ValidationError({"end": ["Must be after start."]})
        return attrs


class SLOEventsInputSerializer(serializers.Serializer):
    intervals = SLOIntervalSerializer(many=True, allow_empty=False, max_length=10_000)


class SLOEventsResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()
