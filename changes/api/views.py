"""The changes API of CONTRACTS.md: deployments, the release gate, changes and their transitions."""

from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from governance.api.errors import error_body
from governance.api.serializers import ErrorSerializer
from governance.models import ApiKey
from incidents.api.views import SessionRolePermission

from .. import services
from ..calendar import render_ical
from ..choices import ChangeStatus
from ..models import Change, ChangeCalendarFeed, Deployment
from ..services.gate import UnknownService, gate_evaluate
from .serializers import (
    ChangeCreateSerializer,
    ChangeSummarySerializer,
    DeploymentInputSerializer,
    DeploymentSerializer,
    GateAllowedSerializer,
    GateInputSerializer,
    GateRefusedSerializer,
    TransitionSerializer,
)

ERRORS = {
    400: OpenApiResponse(ErrorSerializer, description="validation_error"),
    401: OpenApiResponse(ErrorSerializer, description="not_authenticated"),
    403: OpenApiResponse(ErrorSerializer, description="permission_denied or self_approval"),
}
CONFLICT = {409: OpenApiResponse(ErrorSerializer, description="invalid_transition or freeze_exception_required")}


def _actor(request):
    user = request.user
    return user if getattr(user, "pk", None) else None


def _change_or_400(reference: str, field: str = "change") -> Change | None:
    return services.change_by_reference(reference, field=field) if reference else None


class ChangesView(APIView):
    permission_classes = [*APIView.permission_classes, SessionRolePermission]


class DeploymentCreateView(ChangesView):
    required_scopes = {"POST": "changes:write"}
    session_permissions = {"POST": "changes.add_deployment"}

    @extend_schema(
        request=DeploymentInputSerializer,
        responses={
            201: DeploymentSerializer,
            200: OpenApiResponse(DeploymentSerializer, description="The same run reported again: updated"),
            **ERRORS,
        },
        description="Record a deployment from CI/CD. It is attached to `change`, else to the open change whose "
        "release tag is this version, else to a new standard change. The same service, environment, version and "
        "started_at again updates that deployment (200).",
        tags=["changes"],
        operation_id="changes_deployment_record",
    )
    def post(self, request):
        serializer = DeploymentInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        values = dict(serializer.validated_data)
        change = _change_or_400(values.pop("change"))
        recorded = services.deployment_record(change=change, actor=_actor(request), **values)
        deployment = (
            Deployment.objects.select_related("service", "change", "change__implementer")
            .prefetch_related("change__services", "change__approvers")
            .get(pk=recorded.deployment.pk)
        )
        return Response(
            DeploymentSerializer(deployment).data,
            status=status.HTTP_201_CREATED if recorded.created else status.HTTP_200_OK,
        )


class GateView(ChangesView):
    required_scopes = {"POST": "changes:gate"}
    session_permissions = {"POST": "changes.ask_release_gate"}

    @extend_schema(
        request=GateInputSerializer,
        responses={
            200: GateAllowedSerializer,
            409: OpenApiResponse(
                GateRefusedSerializer, description="Refused: the error format with allowed and reasons"
            ),
            **ERRORS,
        },
        description="Ask before deploying. Every registered gate check answers; each refusal reason has a "
        "machine-readable `code` (freeze_window with `ends_at`, open_incident with `incident`, not_approved with "
        "`change`, ack_breach, rpo_breach, error_budget_exhausted, ...). Every decision is recorded.",
        tags=["changes"],
        operation_id="changes_gate",
    )
    def post(self, request):
        from governance.registries import gate_checks

        serializer = GateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        values = serializer.validated_data
        change = _change_or_400(values["change"])
        try:
            result = gate_evaluate(
                service=values["service"],
                environment=values["environment"].strip(),
                version=values["version"].strip(),
                change=change,
                actor=_actor(request),
            )
        except UnknownService:
            raise ValidationError({"service": [f"Object with slug={values['service']} does not exist."]}) from None
        if result.allowed:
            return Response(
                {
                    "allowed": True,
                    "decision": result.decision.pk,
                    "service": result.decision.service.slug,
                    "environment": result.decision.environment,
                    "version": result.decision.version,
                    "checks": [check.name for check in gate_checks],
                    "reasons": [],
                }
            )
        codes = ", ".join(sorted({r["code"] for r in result.reasons}))
        body = error_body("gate_refused", f"The release gate refuses this deployment: {codes}.")
        body.update({"allowed": False, "decision": result.decision.pk, "reasons": result.reasons})
        return Response(body, status=status.HTTP_409_CONFLICT)


class ChangeCreateView(ChangesView):
    required_scopes = {"POST": "changes:write"}
    session_permissions = {"POST": "changes.add_change"}

    @extend_schema(
        request=ChangeCreateSerializer,
        responses={201: ChangeSummarySerializer, **ERRORS},
        tags=["changes"],
        operation_id="changes_change_create",
    )
    def post(self, request):
        serializer = ChangeCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        creator = services.approver_for(_actor(request), request.auth if isinstance(request.auth, ApiKey) else None)
        change = services.change_create(created_by=creator, **serializer.validated_data)
        return Response(ChangeSummarySerializer(change).data, status=status.HTTP_201_CREATED)


class ChangeDetailView(ChangesView):
    required_scopes = {"GET": "changes:write"}
    session_permissions = {"GET": "changes.view_change"}

    @extend_schema(
        responses={200: ChangeSummarySerializer, **ERRORS}, tags=["changes"], operation_id="changes_change_get"
    )
    def get(self, request, reference: str):
        return Response(ChangeSummarySerializer(_get_change(reference)).data)


def _get_change(reference: str) -> Change:
    text = reference.upper().removeprefix("CHG-")
    if not text.isdecimal():  # not isdigit(): "³" is a digit that int() refuses
        raise Http404
    return get_object_or_404(Change.objects.prefetch_related("services", "approvers"), pk=int(text))


TRANSITIONS = {
    "submit": ("changes.change_change", lambda change, actor, note: services.change_submit(change=change, actor=actor)),
    "approve": ("changes.approve_change", None),
    "start": ("changes.change_change", lambda change, actor, note: services.change_start(change=change, actor=actor)),
    "complete": (
        "changes.change_change",
        lambda change, actor, note: services.change_finish(
            change=change, outcome=ChangeStatus.COMPLETED, actor=actor, note=note
        ),
    ),
    "fail": (
        "changes.change_change",
        lambda change, actor, note: services.change_finish(
            change=change, outcome=ChangeStatus.FAILED, actor=actor, note=note
        ),
    ),
    "roll-back": (
        "changes.change_change",
        lambda change, actor, note: services.change_finish(
            change=change, outcome=ChangeStatus.ROLLED_BACK, actor=actor, note=note
        ),
    ),
    "cancel": (
        "changes.change_change",
        lambda change, actor, note: services.change_cancel(change=change, actor=actor, note=note),
    ),
}


class ChangeTransitionView(ChangesView):
    """POST /changes/CHG-n/<action>/: submit, approve, start, complete, fail, roll-back, cancel."""

    required_scopes = {"POST": "changes:write"}

    @property
    def session_permissions(self):
        action = self.kwargs.get("action", "")
        return {"POST": TRANSITIONS[action][0]} if action in TRANSITIONS else {}

    @extend_schema(
        parameters=[
            OpenApiParameter("reference", str, OpenApiParameter.PATH, description="CHG-<n>"),
            OpenApiParameter("action", str, OpenApiParameter.PATH, enum=list(TRANSITIONS)),
        ],
        request=TransitionSerializer,
        responses={200: ChangeSummarySerializer, **ERRORS, **CONFLICT},
        tags=["changes"],
        operation_id="changes_change_transition",
        description="Approval is made by the session user or the person who created the API key, never by the "
        "change's implementer or requester (403 self_approval).",
    )
    def post(self, request, reference: str, action: str):
        if action not in TRANSITIONS:
            raise Http404
        serializer = TransitionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        change = _get_change(reference)
        if action == "approve":
            key = request.auth if isinstance(request.auth, ApiKey) else None
            services.change_approve(change=change, actor=services.approver_for(_actor(request), key))
        else:
            TRANSITIONS[action][1](change, _actor(request), serializer.validated_data["note"])
        return Response(ChangeSummarySerializer(_get_change(reference)).data)


@require_GET
def calendar(request, token: str):
    """The private iCalendar feed: the token in the URL is the credential (like the on-call feeds)."""
    feed = ChangeCalendarFeed.objects.filter(token=token).first()
    if feed is None:
        raise Http404("No such calendar.")
    response = HttpResponse(render_ical(feed=feed), content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = 'inline; filename="changes.ics"'
    response["Cache-Control"] = "private, max-age=300"
    return response
