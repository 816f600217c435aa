"""Serializers every app's API shares."""

from rest_framework import serializers


class ErrorSerializer(serializers.Serializer):
    """The one error format: {"error": {"code", "message", "fields"}} — declared once for the OpenAPI schema."""

    class ErrorBody(serializers.Serializer):
        code = serializers.CharField()
        message = serializers.CharField()
        fields = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))

    error = ErrorBody()
