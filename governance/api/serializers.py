"""Serializers every app's API shares."""

import copy
from collections.abc import Mapping

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

# A JSON value of the type the schema names, checked before DRF's coercion: DRF reads 5 as the
# text "5", "5" as the integer 5 and "yes" as true, which the OpenAPI document does not promise.
_JSON_TYPES = (
    (serializers.BooleanField, (bool,), "Must be true or false."),
    (serializers.IntegerField, (int,), "Must be a whole number."),
    (serializers.FloatField, (int, float), "Must be a number."),
    (serializers.CharField, (str,), "Must be a string."),
)


# Fields that hold nothing a request changes once bound: a shallow copy of the declared one will do.
_SCALAR_FIELDS = (
    serializers.BooleanField,
    serializers.CharField,
    serializers.ChoiceField,
    serializers.DateField,
    serializers.DateTimeField,
    serializers.DecimalField,
    serializers.FloatField,
    serializers.IntegerField,
)


class JSONInputSerializer(serializers.Serializer):
    """Base for request bodies: each text, whole-number, number and true/false field takes exactly
    that JSON type (null where the field allows it), and text at most max_length as sent; anything
    else is a 400 naming the field."""

    def get_fields(self):
        # DRF deep-copies every declared field for each serializer it builds, which runs each field's
        # __init__ again (its validators and messages): a third of the release gate's validation time.
        # A scalar field is shallow-copied (bind() then sets its name and parent on the copy); related
        # fields, nested serializers and fields with a child are deep-copied as DRF does.
        return {
            name: copy.copy(field) if isinstance(field, _SCALAR_FIELDS) else copy.deepcopy(field)
            for name, field in self._declared_fields.items()
        }

    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            wrong = {}
            for name, field in self.fields.items():
                value = data.get(name)
                if field.read_only or value is None:
                    continue
                for kind, types, message in _JSON_TYPES:
                    if isinstance(field, kind):
                        is_bool = isinstance(value, bool)
                        if not isinstance(value, types) or (is_bool and kind is not serializers.BooleanField):
                            wrong[name] = [message]
                        elif kind is serializers.CharField and field.max_length and len(value) > field.max_length:
                            # The schema's maxLength counts what was sent; DRF would count it after trimming.
                            wrong[name] = [field.error_messages["max_length"].format(max_length=field.max_length)]
                        break
            if wrong:
                raise serializers.ValidationError(wrong)
        return super().to_internal_value(data)


class ErrorSerializer(serializers.Serializer):
    """The one error format: {"error": {"code", "message", "fields"}} — declared once for the OpenAPI schema."""

    class ErrorBody(serializers.Serializer):
        code = serializers.CharField()
        message = serializers.CharField()
        fields = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))

    error = ErrorBody()


@extend_schema_field(
    {
        "anyOf": [{"type": "string", "format": "uri"}, {"type": "string", "maxLength": 0}],
        "description": "A URL, or an empty string when none is set.",
    }
)
class OptionalURLField(serializers.CharField):
    """A model URLField with blank=True, read back: a URL or "" (which is not a `uri`, so the schema says both)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("read_only", True)
        super().__init__(**kwargs)
