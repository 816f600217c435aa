"""Read-only records: deployments, suspected causes, gate decisions."""

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from governance.admin_base import ReadOnlyAdmin

from ..models import (
    Deployment,
    GateDecision,
    SuspectedCause,
)


@admin.register(Deployment)
class DeploymentAdmin(ReadOnlyAdmin):
    list_display = [
        "started_at",
        "service",
        "version",
        "environment",
        "status",
        "change_link",
        "in_freeze",
        "suspect_incident",
    ]
    list_filter = ["status", "environment", "in_freeze", "service"]
    list_select_related = ["service", "change", "suspect_incident"]
    search_fields = ["version"]
    ordering = ["-started_at", "-id"]

    @admin.display(description="change")
    def change_link(self, obj):
        return format_html(
            '<a href="{}">CHG-{}</a>', reverse("admin:changes_change_change", args=[obj.change_id]), obj.change_id
        )


@admin.register(SuspectedCause)
class SuspectedCauseAdmin(ReadOnlyAdmin):
    list_display = ["incident", "change", "deployment", "linked_by", "linked_at"]
    list_select_related = ["incident", "change", "deployment", "deployment__service", "linked_by"]
    ordering = ["-linked_at", "-id"]


@admin.register(GateDecision)
class GateDecisionAdmin(ReadOnlyAdmin):
    list_display = ["asked_at", "service", "environment", "version", "allowed", "reason_codes", "actor_label"]
    list_filter = ["allowed", "environment", "service"]
    list_select_related = ["service"]
    search_fields = ["version"]
    ordering = ["-asked_at", "-id"]

    @admin.display(description="reasons")
    def reason_codes(self, obj):
        return ", ".join(r.get("code", "?") for r in obj.reasons) or "—"
