"""The service-levels API of CONTRACTS.md: the SLO list and pushed counts."""

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics
from rest_framework.response import Response
from rest_framework.views import APIView

from governance.api.serializers import ErrorSerializer
from governance.errors import NotFound
from incidents.api.views import SessionRolePermission

from ..models import SLO
from ..selectors import slos_with_related
from ..services import slo_push_intervals
from .serializers import SLOEventsInputSerializer, SLOEventsResultSerializer, SLOFilterSerializer, SLOSerializer

ERRORS = {
    400: OpenApiResponse(ErrorSerializer, description="validation_error"),
    401: OpenApiResponse(ErrorSerializer, description="not_authenticated"),
    403: OpenApiResponse(ErrorSerializer, description="permission_denied"),
}


class SLOListView(generics.GenericAPIView):
    permission_classes = [*APIView.permission_classes, SessionRolePermission]
    required_scopes = {"GET": "slos:read"}
    session_permissions = {"GET": "slos.view_slo"}
    serializer_class = SLOSerializer

    def get_queryset(self):
        filters = SLOFilterSerializer(data=self.request.query_params.dict())  # as incidents: no form semantics
        filters.is_valid(raise_exception=True)
        qs = slos_with_related().order_by("slug")
        if filters.validated_data.get("service"):
            qs = qs.filter(service__slug=filters.validated_data["service"])
        return qs

    @extend_schema(
        parameters=[OpenApiParameter("service", str, description="Service slug")],
        responses={200: SLOSerializer(many=True), **ERRORS},
        description="Every SLO with its latest evaluation: SLI, error budget remaining, burn rates per window, "
        "budget status (ok, warning, exhausted, unknown) and alert (page, ticket or null).",
        tags=["slos"],
    )
    def get(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(SLOSerializer(page, many=True).data)


class SLOEventsView(APIView):
    permission_classes = [*APIView.permission_classes, SessionRolePermission]
    required_scopes = {"POST": "slos:write"}
    session_permissions = {"POST": "slos.add_pushedinterval"}

    @extend_schema(
        request=SLOEventsInputSerializer,
        responses={
            200: SLOEventsResultSerializer,
            404: OpenApiResponse(ErrorSerializer, description="not_found: no SLO with this slug"),
            **ERRORS,
        },
        description="Push good/total counts per interval (at most one hour each, up to 10 000 per call). "
        "Idempotent per interval start: the same interval again is `unchanged`, different counts `updated`.",
        tags=["slos"],
    )
    def post(self, request, slug: str):
        slo = SLO.objects.filter(slug=slug).first()
        if slo is None:
            raise NotFound(f"There is no SLO {slug!r}.", fields={"slug": [f"No SLO {slug!r}."]})
        serializer = SLOEventsInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        result = slo_push_intervals(slo=slo, intervals=serializer.validated_data["intervals"])
        return Response(result)
