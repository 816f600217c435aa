"""A tiny echo endpoint to exercise the kernel's API error format."""

from django.urls import include, path
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from config.urls import urlpatterns as project_urlpatterns


class EchoSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=10)
    count = serializers.IntegerField(min_value=0)
    tags = serializers.ListField(child=serializers.CharField(), required=False)


class EchoView(APIView):
    required_scopes = "incidents:write"

    def post(self, request):
        serializer = EchoSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response(serializer.validated_data, status=201)


urlpatterns = [
    path("api/v1/test-echo/", EchoView.as_view()),
    path("", include(project_urlpatterns)),
]
handler404 = "config.urls.handler404"
handler500 = "config.urls.handler500"
handler400 = "config.urls.handler400"
