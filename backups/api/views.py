"""The backups API of CONTRACTS.md. Views translate HTTP to service calls, nothing more."""

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.response import Response
from rest_framework.views import APIView

from governance.api.serializers import ErrorSerializer
from governance.errors import ValidationFailed

from .. import services
from ..models import BackupTarget
from ..selectors import next_drill_due_by_target
from ..tools import PARSERS
from .serializers import (
    BackupRunSerializer,
    BackupTargetSerializer,
    ReportCountsSerializer,
    RunReportSerializer,
)

ERRORS = {
    400: OpenApiResponse(ErrorSerializer, description="validation_error / wrong_format"),
    401: OpenApiResponse(ErrorSerializer, description="not_authenticated"),
    403: OpenApiResponse(ErrorSerializer, description="permission_denied"),
    404: OpenApiResponse(ErrorSerializer, description="not_found (unknown target)"),
}


class BackupTargetListView(generics.GenericAPIView):
    required_scopes = {"GET": "backups:read"}
    serializer_class = BackupTargetSerializer

    def get_queryset(self):
        return BackupTarget.objects.select_related("service").order_by("slug", "id")

    @extend_schema(responses={200: BackupTargetSerializer(many=True), **ERRORS})
    def get(self, request):
        page = self.paginate_queryset(self.get_queryset())
        context = {"request": request, "next_drill_due": next_drill_due_by_target(page)}
        return self.get_paginated_response(BackupTargetSerializer(page, many=True, context=context).data)


class BackupRunReportView(APIView):
    required_scopes = {"POST": "backups:report"}

    @extend_schema(
        request=RunReportSerializer,
        responses={
            201: BackupRunSerializer,
            200: OpenApiResponse(BackupRunSerializer, description="The run with this external_id, updated"),
            **ERRORS,
        },
        description="Record a backup run. The same `external_id` for the same target again updates that run (200).",
    )
    def post(self, request):
        serializer = RunReportSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        values = dict(serializer.validated_data)
        target = services.target_by_slug(values.pop("target"))
        run, outcome = services.backup_run_report(target=target, **values)
        code = status.HTTP_201_CREATED if outcome == "created" else status.HTTP_200_OK
        return Response(BackupRunSerializer(run).data, status=code)


class BackupToolReportView(APIView):
    required_scopes = {"POST": "backups:report"}

    def perform_content_negotiation(self, request, force=False):
        # `?format=` names the backup tool here (CONTRACTS.md), not DRF's renderer override: always JSON.
        renderer = self.get_renderers()[0]
        return renderer, renderer.media_type

    @extend_schema(
        parameters=[OpenApiParameter("format", str, enum=sorted(PARSERS), required=True)],
        request={"application/json": {"type": "object"}},
        responses={200: ReportCountsSerializer, **ERRORS},
        description="The tool's own JSON output as the body: restic `snapshots --json` (or `backup --json`), "
        "pgBackRest `info --output=json`, WAL-G `backup-list --json --detail`, Barman `-f json list-backups` / "
        "`show-backup`. Idempotent: the tool's snapshot id / backup label is the run's external_id.",
    )
    def post(self, request, slug: str):
        tool = request.query_params.get("format", "")
        if tool not in PARSERS:
            raise ValidationFailed(
                f"Unknown or missing format {tool!r}.", fields={"format": [f"Choose from: {', '.join(PARSERS)}."]}
            )
        target = services.target_by_slug(slug)
        # The raw body, as the tool printed it (restic's `backup --json` is JSON lines, not one document);
        # Django's body size limit applies (413).
        body = request._request.body.decode("utf-8", errors="replace")
        counts = services.backup_tool_report(target=target, tool=tool, data=body)
        return Response(counts, status=status.HTTP_200_OK)
