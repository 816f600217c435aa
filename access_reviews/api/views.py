"""The access API of CONTRACTS.md, plus the reviewer's own items. Views call the same services as the admin.

Scoping: a person sees only the items assigned to them (unless their role sees all); another
reviewer's item answers 404, exactly as if it did not exist. API keys read (`access:read`) but
never decide: decisions belong to a person.
"""

import json

from django.contrib.auth import get_user_model
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, permissions
from rest_framework.response import Response
from rest_framework.views import APIView

from governance.api.serializers import ErrorSerializer
from governance.errors import ValidationFailed
from governance.models import ApiKey

from .. import selectors, services
from ..choices import ImportSource
from ..models import ReviewItem, System
from ..parsing import grants_from_json, identities_from_json, sha256_of
from .serializers import (
    CampaignSerializer,
    DecideSerializer,
    DelegateSerializer,
    IdentitiesInSerializer,
    ItemFilterSerializer,
    ReviewItemSerializer,
    SnapshotInSerializer,
    SnapshotResultSerializer,
)

ERRORS = {
    400: OpenApiResponse(ErrorSerializer, description="validation_error (fields name grants[i].column)"),
    401: OpenApiResponse(ErrorSerializer, description="not_authenticated"),
    403: OpenApiResponse(ErrorSerializer, description="permission_denied"),
    404: OpenApiResponse(ErrorSerializer, description="not_found"),
}


class SessionRolePermission(permissions.BasePermission):
    """Keys are checked by scope; people also need the role's permission for the method."""

    def has_permission(self, request, view) -> bool:
        if isinstance(request.auth, ApiKey):
            return True
        perm = getattr(view, "session_permissions", {}).get(request.method)
        return perm is None or request.user.has_perm(perm)


class AccessView:
    permission_classes = [*APIView.permission_classes, SessionRolePermission]


def _body(request, key: str) -> list:
    if not isinstance(request.data, dict) or key not in request.data:
        raise ValidationFailed(f"The body needs a `{key}` list.", fields={key: ["Required."]})
    return request.data[key]


class SnapshotView(AccessView, APIView):
    required_scopes = {"POST": "access:import"}
    session_permissions = {"POST": "access_reviews.import_snapshot"}

    @extend_schema(
        request=SnapshotInSerializer,
        responses={200: SnapshotResultSerializer, **ERRORS},
        description="Replace the system's grants with this snapshot. Reports added / removed / changed / "
        "unchanged and the remediations it verified. Invalid rows: 400 naming `grants[i].field`; nothing changes.",
    )
    def post(self, request, slug: str):
        system = get_object_or_404(System, slug=slug)
        rows = grants_from_json(_body(request, "grants"))
        digest = sha256_of(json.dumps(request.data["grants"], sort_keys=True, default=str).encode())
        record = services.snapshot_import(system=system, rows=rows, source=ImportSource.API, sha256=digest)
        return Response(
            {
                "added": record.added,
                "removed": record.removed,
                "changed": record.changed,
                "unchanged": record.unchanged,
                "remediations_verified": record.remediations_verified,
                "sha256": record.sha256,
                "import_id": record.pk,
            }
        )


class IdentitiesView(AccessView, APIView):
    required_scopes = {"POST": "access:import"}
    session_permissions = {"POST": "access_reviews.import_snapshot"}

    @extend_schema(
        request=IdentitiesInSerializer,
        responses={200: SnapshotResultSerializer, **ERRORS},
        description="Identities from the HR source, upserted by email; leavers holding grants raise orphaned grants.",
    )
    def post(self, request):
        items = _body(request, "identities")
        if not isinstance(items, list):
            raise ValidationFailed("`identities` must be a list.", fields={"identities": ["Expected a list."]})
        rows = identities_from_json(items)
        record = services.identities_import(
            rows=rows, source=ImportSource.API, sha256=sha256_of(json.dumps(items, sort_keys=True).encode())
        )
        return Response(
            {
                "added": record.added,
                "removed": 0,
                "changed": record.changed,
                "unchanged": record.unchanged,
                "remediations_verified": 0,
                "sha256": record.sha256,
                "import_id": record.pk,
            }
        )


class CampaignListView(AccessView, generics.GenericAPIView):
    required_scopes = {"GET": "access:read"}
    session_permissions = {"GET": "access_reviews.view_campaign"}
    serializer_class = CampaignSerializer

    def get_queryset(self):
        return selectors.campaigns_with_progress().order_by("-launched_at", "-pk")

    @extend_schema(responses={200: CampaignSerializer(many=True), **ERRORS})
    def get(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(CampaignSerializer(page, many=True).data)


def items_for(request):
    qs = ReviewItem.objects.select_related("campaign", "system", "identity", "reviewer").order_by(
        "campaign_id", "system__slug", "account", "entitlement", "pk"
    )
    if isinstance(request.auth, ApiKey):
        return qs  # a machine reader with access:read (evidence tooling), never a reviewer
    user = request.user
    if user.is_superuser or user.has_perm("access_reviews.view_all_reviewitem"):
        return qs
    return qs.filter(reviewer=user)


class ItemListView(AccessView, generics.GenericAPIView):
    required_scopes = {"GET": "access:read"}
    session_permissions = {"GET": "access_reviews.view_reviewitem"}
    serializer_class = ReviewItemSerializer

    @extend_schema(
        parameters=[ItemFilterSerializer],
        responses={200: ReviewItemSerializer(many=True), **ERRORS},
        description="Your review items.",
    )
    def get(self, request):
        filters = ItemFilterSerializer(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        qs = items_for(request)
        pending = filters.validated_data.get("pending")
        if pending is not None:
            qs = qs.filter(decision="pending") if pending else qs.exclude(decision="pending")
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(ReviewItemSerializer(page, many=True).data)


class ItemDetailView(AccessView, APIView):
    required_scopes = {"GET": "access:read"}
    session_permissions = {"GET": "access_reviews.view_reviewitem"}

    @extend_schema(responses={200: ReviewItemSerializer, **ERRORS})
    def get(self, request, pk: int):
        return Response(ReviewItemSerializer(get_object_or_404(items_for(request), pk=pk)).data)


class PersonOnly(permissions.BasePermission):
    message = "Review decisions are made by a person signed in, not by an API key."

    def has_permission(self, request, view) -> bool:
        return not isinstance(request.auth, ApiKey)


class ItemDecideView(AccessView, APIView):
    permission_classes = [*AccessView.permission_classes, PersonOnly]
    required_scopes = {"POST": "access:read"}
    session_permissions = {"POST": "access_reviews.decide_reviewitem"}

    @extend_schema(request=DecideSerializer, responses={200: ReviewItemSerializer, **ERRORS})
    def post(self, request, pk: int):
        item = get_object_or_404(ReviewItem.objects.filter(reviewer=request.user), pk=pk)
        serializer = DecideSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        item = services.item_decide(item=item, reviewer=request.user, **serializer.validated_data)
        return Response(ReviewItemSerializer(items_for(request).get(pk=item.pk)).data)


class ItemDelegateView(AccessView, APIView):
    permission_classes = [*AccessView.permission_classes, PersonOnly]
    required_scopes = {"POST": "access:read"}
    session_permissions = {"POST": "access_reviews.decide_reviewitem"}

    @extend_schema(request=DelegateSerializer, responses={200: ReviewItemSerializer, **ERRORS})
    def post(self, request, pk: int):
        item = get_object_or_404(ReviewItem.objects.filter(reviewer=request.user), pk=pk)
        serializer = DelegateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        to = get_user_model().objects.filter(username=serializer.validated_data["to"]).first()
        if to is None:
            raise ValidationFailed("No such user.", fields={"to": ["Unknown user name."]})
        services.item_delegate(item=item, reviewer=request.user, to=to, reason=serializer.validated_data["reason"])
        return Response(ReviewItemSerializer(ReviewItem.objects.get(pk=item.pk)).data)
