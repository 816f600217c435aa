"""The incidents API of CONTRACTS.md. Views translate HTTP to service calls, nothing more."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, permissions, status
from rest_framework.response import Response
from rest_framework.views import APIView

from governance.api.serializers import ErrorSerializer
from governance.models import ApiKey

from .. import services
from ..choices import OPEN_STATUSES, IncidentSource
from ..models import Incident
from .serializers import (
    IncidentDeclareSerializer,
    IncidentDetailSerializer,
    IncidentFilterSerializer,
    IncidentSerializer,
    NoteSerializer,
    SeverityChangeSerializer,
    StatusUpdateSerializer,
    TimelineEventSerializer,
)

ERRORS = {
    400: OpenApiResponse(ErrorSerializer, description="validation_error"),
    401: OpenApiResponse(ErrorSerializer, description="not_authenticated"),
    403: OpenApiResponse(ErrorSerializer, description="permission_denied"),
    404: OpenApiResponse(ErrorSerializer, description="not_found"),
}
CONFLICT = {409: OpenApiResponse(ErrorSerializer, description="invalid_transition or postmortem_required")}


class SessionRolePermission(permissions.BasePermission):
    """Keys are checked by scope (HasScope); people also need the role's permission for the action."""

    def has_permission(self, request, view) -> bool:
        if isinstance(request.auth, ApiKey):
            return True
        perm = getattr(view, "session_permissions", {}).get(request.method)
        return perm is None or request.user.has_perm(perm)


def _actor(request):
    user = request.user
    return user if getattr(user, "pk", None) else None


def _incidents():
    return Incident.objects.select_related("service", "commander", "communications_lead", "scribe")


class IncidentViewMixin:
    permission_classes = [*APIView.permission_classes, SessionRolePermission]

    def get_incident(self, pk) -> Incident:
        return get_object_or_404(_incidents(), pk=pk)

    def incident_response(self, incident: Incident, *, code=status.HTTP_200_OK, detail=False) -> Response:
        incident = _incidents().get(pk=incident.pk)
        serializer = IncidentDetailSerializer if detail else IncidentSerializer
        return Response(serializer(incident, context={"request": self.request}).data, status=code)


class IncidentListCreateView(IncidentViewMixin, generics.GenericAPIView):
    required_scopes = {"GET": "incidents:read", "POST": "incidents:write"}
    session_permissions = {"GET": "incidents.view_incident", "POST": "incidents.add_incident"}
    serializer_class = IncidentSerializer

    def get_queryset(self):
        # A plain dict, not the QueryDict: DRF reads an empty form value as "not given", and `?status=`
        # is not a status (the schema's enum says so); it is a 400 naming the parameter.
        filters = IncidentFilterSerializer(data=self.request.query_params.dict())
        filters.is_valid(raise_exception=True)
        qs = _incidents().order_by("-declared_at", "-id")
        values = filters.validated_data
        if values.get("status"):
            qs = qs.filter(status=values["status"])
        if values.get("severity"):
            qs = qs.filter(severity=values["severity"])
        if values.get("service"):
            qs = qs.filter(service__slug=values["service"])
        if values.get("open") is True:
            qs = qs.filter(status__in=OPEN_STATUSES)
        elif values.get("open") is False:
            qs = qs.exclude(status__in=OPEN_STATUSES)
        return qs

    @extend_schema(
        parameters=[
            OpenApiParameter("status", str, enum=["declared", "acknowledged", "mitigated", "resolved", "closed"]),
            OpenApiParameter("severity", str, enum=["SEV1", "SEV2", "SEV3"]),
            OpenApiParameter("service", str, description="Service slug"),
            OpenApiParameter("open", bool, description="true: declared, acknowledged or mitigated"),
        ],
        responses={200: IncidentSerializer(many=True), **ERRORS},
    )
    def get(self, request):
        page = self.paginate_queryset(self.get_queryset())
        data = IncidentSerializer(page, many=True, context={"request": request}).data
        return self.get_paginated_response(data)

    @extend_schema(
        request=IncidentDeclareSerializer,
        responses={
            201: IncidentSerializer,
            200: OpenApiResponse(IncidentSerializer, description="The open incident with this dedup_key"),
            **ERRORS,
        },
        description="Declare an incident. With the `dedup_key` of an open incident: 200 and that incident.",
    )
    def post(self, request):
        serializer = IncidentDeclareSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        values = dict(serializer.validated_data)
        incident, created = services.incident_declare_or_get(
            declared_by=_actor(request), source=IncidentSource.API, **values
        )
        return self.incident_response(incident, code=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class IncidentDetailView(IncidentViewMixin, APIView):
    required_scopes = {"GET": "incidents:read"}
    session_permissions = {"GET": "incidents.view_incident"}

    @extend_schema(responses={200: IncidentDetailSerializer, **ERRORS})
    def get(self, request, pk: int):
        return self.incident_response(self.get_incident(pk), detail=True)


class IncidentAcknowledgeView(IncidentViewMixin, APIView):
    required_scopes = {"POST": "incidents:write"}
    session_permissions = {"POST": "incidents.acknowledge_incident"}

    @extend_schema(
        request=None,
        responses={200: IncidentSerializer, **ERRORS, **CONFLICT},
        description="Idempotent: a second acknowledgement changes nothing and returns the same acknowledged_at.",
    )
    def post(self, request, pk: int):
        incident = services.incident_acknowledge(incident=self.get_incident(pk), actor=_actor(request))
        return self.incident_response(incident)


class IncidentUpdateView(IncidentViewMixin, APIView):
    required_scopes = {"POST": "incidents:write"}
    session_permissions = {"POST": "incidents.post_incident_update"}

    @extend_schema(request=StatusUpdateSerializer, responses={201: TimelineEventSerializer, **ERRORS, **CONFLICT})
    def post(self, request, pk: int):
        serializer = StatusUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        event = services.incident_post_update(
            incident=self.get_incident(pk), message=serializer.validated_data["message"], actor=_actor(request)
        )
        return Response(TimelineEventSerializer(event).data, status=status.HTTP_201_CREATED)


class _TransitionView(IncidentViewMixin, APIView):
    required_scopes = {"POST": "incidents:write"}
    service = None

    @extend_schema(request=NoteSerializer, responses={200: IncidentSerializer, **ERRORS, **CONFLICT})
    def post(self, request, pk: int):
        serializer = NoteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        incident = type(self).service(
            incident=self.get_incident(pk), actor=_actor(request), note=serializer.validated_data["note"]
        )
        return self.incident_response(incident)


class IncidentMitigateView(_TransitionView):
    session_permissions = {"POST": "incidents.resolve_incident"}
    service = staticmethod(services.incident_mitigate)


class IncidentResolveView(_TransitionView):
    session_permissions = {"POST": "incidents.resolve_incident"}
    service = staticmethod(services.incident_resolve)


class IncidentCloseView(_TransitionView):
    session_permissions = {"POST": "incidents.close_incident"}
    service = staticmethod(services.incident_close)


class IncidentSeverityView(IncidentViewMixin, APIView):
    required_scopes = {"POST": "incidents:write"}
    session_permissions = {"POST": "incidents.command_incident"}

    @extend_schema(request=SeverityChangeSerializer, responses={200: IncidentSerializer, **ERRORS, **CONFLICT})
    def post(self, request, pk: int):
        serializer = SeverityChangeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        incident = services.incident_change_severity(
            incident=self.get_incident(pk), actor=_actor(request), **serializer.validated_data
        )
        return self.incident_response(incident)
