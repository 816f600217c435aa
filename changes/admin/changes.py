"""The change manager's console: changes with lifecycle buttons, the change calendar and the incident page's
"suspected cause" button."""

from datetime import date, timedelta

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import Prefetch
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django_object_actions import action

from governance.admin_base import EstimatedCountPaginator, VigilModelAdmin, VigilObjectActions
from governance.errors import VigilError
from governance.models import Service

from .. import services
from ..calendar import all_service_slugs, calendar_rows
from ..choices import ChangeKind, ChangeStatus
from ..models import (
    REFERENCE_PREFIX,
    Change,
    Deployment,
)
from ..services.changes import EDITABLE
from .common import run_service as _run

TIMELINE_LIMIT = 300


class ChangeForm(forms.ModelForm):
    pull_request_url = forms.URLField(max_length=500, required=False, assume_scheme="https", label="Pull request")
    pipeline_url = forms.URLField(max_length=500, required=False, assume_scheme="https", label="Pipeline run")

    class Meta:
        model = Change
        fields = [
            "title",
            "kind",
            "risk",
            "services",
            "description",
            "planned_start",
            "planned_end",
            "implementer",
            "approvers",
            "rollback_plan",
            "pull_request_url",
            "pipeline_url",
            "release_tag",
            "migration_hash",
        ]


@admin.register(Change)
class ChangeAdmin(VigilObjectActions, VigilModelAdmin):
    change_form_template = "admin/vigil/change_form.html"  # the next step as the primary button
    evidence_like = True
    form = ChangeForm
    list_display = [
        "reference_display",
        "title",
        "kind",
        "risk",
        "status",
        "services_display",
        "implementer",
        "planned_start",
        "approved_at",
    ]
    list_display_links = ["reference_display", "title"]
    list_filter = ["status", "kind", "risk", "services"]
    list_select_related = ["implementer"]
    search_fields = ["title", "release_tag"]
    ordering = ["-created_at", "-id"]
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    autocomplete_fields = ["implementer", "approvers", "services"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    change_actions = ["submit", "approve", "start", "complete", "fail", "roll_back", "return_to_draft", "cancel"]
    readonly_fields = [
        "reference_display",
        "status",
        "kind",
        "submitted_at",
        "approved_at",
        "approved_by",
        "approval_due_at",
        "actual_start",
        "actual_end",
        "deployments_panel",
        "timeline",
    ]

    def get_queryset(self, request):
        # Services are prefetched: one extra query per page, whatever its size.
        return (
            super()
            .get_queryset(request)
            .prefetch_related(Prefetch("services", queryset=Service.objects.only("pk", "slug").order_by("slug")))
        )

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip().upper()
        if term.startswith(REFERENCE_PREFIX) and term[len(REFERENCE_PREFIX) :].isdecimal():
            return queryset.filter(pk=int(term[len(REFERENCE_PREFIX) :])), False
        return super().get_search_results(request, queryset, search_term)

    @admin.display(description="reference", ordering="id")
    def reference_display(self, obj):
        return obj.reference

    @admin.display(description="services")
    def services_display(self, obj):
        return ", ".join(s.slug for s in obj.services.all())

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [(None, {"fields": ChangeForm.Meta.fields})]
        return [
            (None, {"fields": ["reference_display", "status", "kind", "title", "risk", "services", "description"]}),
            ("Window and people", {"fields": ["planned_start", "planned_end", "implementer", "approvers"]}),
            (
                "Rollback and links",
                {"fields": ["rollback_plan", "pull_request_url", "pipeline_url", "release_tag", "migration_hash"]},
            ),
            (
                "Lifecycle",
                {
                    "fields": [
                        "submitted_at",
                        "approved_at",
                        "approved_by",
                        "approval_due_at",
                        "actual_start",
                        "actual_end",
                    ]
                },
            ),
            ("Deployments", {"fields": ["deployments_panel"]}),
            ("Timeline (newest first)", {"fields": ["timeline"]}),
        ]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        if obj.status not in (ChangeStatus.DRAFT, ChangeStatus.SUBMITTED):
            return [*self.readonly_fields, "planned_start", "planned_end", "implementer", "services"]
        return self.readonly_fields

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        try:
            if not change:
                created = services.change_create(
                    title=data["title"],
                    services=list(data["services"]),
                    kind=data["kind"],
                    risk=data["risk"],
                    description=data.get("description", ""),
                    planned_start=data.get("planned_start"),
                    planned_end=data.get("planned_end"),
                    implementer=data.get("implementer"),
                    approvers=list(data.get("approvers") or []),
                    rollback_plan=data.get("rollback_plan", ""),
                    pull_request_url=data.get("pull_request_url", ""),
                    pipeline_url=data.get("pipeline_url", ""),
                    release_tag=data.get("release_tag", ""),
                    migration_hash=data.get("migration_hash", ""),
                    created_by=request.user,
                )
                obj.pk = obj.id = created.pk
                return
            fields = {name: data[name] for name in form.changed_data if name in EDITABLE}
            services.change_update(
                change=obj.pk,
                actor=request.user,
                approvers=list(data["approvers"]) if "approvers" in form.changed_data else None,
                services=list(data["services"]) if "services" in form.changed_data else None,
                **fields,
            )
        except VigilError as exc:
            messages.error(request, exc.message)

    def save_related(self, request, form, formsets, change):
        pass  # services and approvers are written by the services above

    # --- buttons ----------------------------------------------------------------------------------
    def get_change_actions(self, request, object_id, form_url):
        change = Change.objects.filter(pk=object_id).first()
        if change is None:
            return []
        user = request.user
        can_change = user.has_perm("changes.change_change")
        status = change.status
        own = user.pk in (change.implementer_id, change.created_by_id)
        allowed = {
            "submit": can_change and status == ChangeStatus.DRAFT,
            "approve": user.has_perm("changes.approve_change")
            and not own
            and change.approved_at is None
            and (status == ChangeStatus.SUBMITTED or (change.kind == ChangeKind.EMERGENCY and status != "cancelled")),
            "start": can_change
            and (status == ChangeStatus.APPROVED or (status == ChangeStatus.SUBMITTED and change.kind == "emergency")),
            "complete": can_change and status == ChangeStatus.IN_PROGRESS,
            "fail": can_change and status == ChangeStatus.IN_PROGRESS,
            "roll_back": can_change and status == ChangeStatus.IN_PROGRESS,
            "return_to_draft": user.has_perm("changes.approve_change") and status == ChangeStatus.SUBMITTED,
            "cancel": can_change and status in (ChangeStatus.DRAFT, ChangeStatus.SUBMITTED, ChangeStatus.APPROVED),
        }
        return [name for name in self.change_actions if allowed[name]]

    def _require(self, request, perm):
        if not request.user.has_perm(perm):
            raise PermissionDenied

    @action(label="Submit", description="Submit for approval", methods=("POST",), button_type="form")
    def submit(self, request, obj):
        self._require(request, "changes.change_change")
        _run(
            self,
            request,
            f"{obj.reference} submitted.",
            lambda: services.change_submit(change=obj.pk, actor=request.user),
        )

    @action(label="Approve", description="Approve (never your own change)", methods=("POST",), button_type="form")
    def approve(self, request, obj):
        self._require(request, "changes.approve_change")
        _run(
            self,
            request,
            f"{obj.reference} approved.",
            lambda: services.change_approve(change=obj.pk, actor=request.user),
        )

    @action(label="Start", description="Implementation has begun", methods=("POST",), button_type="form")
    def start(self, request, obj):
        self._require(request, "changes.change_change")
        _run(
            self,
            request,
            f"{obj.reference} in progress.",
            lambda: services.change_start(change=obj.pk, actor=request.user),
        )

    def _finish(self, request, obj, outcome, label):
        self._require(request, "changes.change_change")
        _run(
            self,
            request,
            f"{obj.reference} {label}.",
            lambda: services.change_finish(change=obj.pk, outcome=outcome, actor=request.user),
        )

    @action(label="Complete", description="Done, as planned", methods=("POST",), button_type="form")
    def complete(self, request, obj):
        self._finish(request, obj, ChangeStatus.COMPLETED, "completed")

    @action(label="Failed", description="The change failed", methods=("POST",), button_type="form")
    def fail(self, request, obj):
        self._finish(request, obj, ChangeStatus.FAILED, "failed")

    @action(label="Rolled back", description="The change was rolled back", methods=("POST",), button_type="form")
    def roll_back(self, request, obj):
        self._finish(request, obj, ChangeStatus.ROLLED_BACK, "rolled back")

    @action(label="Return to draft", description="Send back to the requester", methods=("POST",), button_type="form")
    def return_to_draft(self, request, obj):
        self._require(request, "changes.approve_change")
        _run(
            self,
            request,
            f"{obj.reference} returned to draft.",
            lambda: services.change_return_to_draft(change=obj.pk, actor=request.user),
        )

    @action(label="Cancel", description="Cancel the change", methods=("POST",), button_type="form")
    def cancel(self, request, obj):
        self._require(request, "changes.change_change")
        _run(
            self,
            request,
            f"{obj.reference} cancelled.",
            lambda: services.change_cancel(change=obj.pk, actor=request.user),
        )

    # --- panels ---------------------------------------------------------------------------------------
    @admin.display(description="deployments")
    def deployments_panel(self, obj):
        rows = obj.deployments.select_related("service", "suspect_incident").order_by("-started_at", "-id")[:100]
        if not rows:
            return "No deployments reported for this change."
        return format_html(
            '<table class="vigil-table"><thead><tr><th>Started</th><th>Service</th><th>Version</th><th>Environment</th>'
            "<th>Status</th><th>Flags</th></tr></thead><tbody>{}</tbody></table>",
            format_html_join(
                "",
                "<tr><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                (
                    (
                        timezone.localtime(d.started_at).strftime("%Y-%m-%d %H:%M"),
                        d.service.slug,
                        d.version,
                        d.environment,
                        d.status,
                        ", ".join(
                            f
                            for f in (
                                "in freeze" if d.in_freeze else "",
                                f"suspect ({d.suspect_incident.reference})" if d.suspect_incident else "",
                            )
                            if f
                        )
                        or "—",
                    )
                    for d in rows
                ),
            ),
        )

    @admin.display(description="timeline")
    def timeline(self, obj):
        events = obj.events.order_by("-occurred_at", "-id")[:TIMELINE_LIMIT]
        return format_html(
            '<table class="vigil-table" id="change-timeline"><thead><tr><th>When</th><th>What</th><th>Who</th>'
            "<th>Detail</th></tr></thead><tbody>{}</tbody></table>",
            format_html_join(
                "",
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                (
                    (
                        timezone.localtime(e.occurred_at).strftime("%Y-%m-%d %H:%M:%S"),
                        e.get_kind_display(),
                        e.actor_label,
                        e.message,
                    )
                    for e in events
                ),
            ),
        )

    # --- extra pages: the calendar and the incident page's "suspected cause" button ----------------------
    def get_urls(self):
        extra = [
            path("calendar/", self.admin_site.admin_view(self.calendar_view), name="changes_change_calendar"),
            path(
                "<int:change_id>/cause-of/<int:incident_id>/",
                self.admin_site.admin_view(self.link_cause_view),
                name="changes_change_link_cause",
            ),
        ]
        return extra + super().get_urls()

    def calendar_view(self, request):
        if not self.has_view_permission(request) and not request.user.has_perm("changes.view_freezewindow"):
            raise PermissionDenied
        today = timezone.localdate()
        try:
            start = date.fromisoformat(request.GET["week"]) if request.GET.get("week") else today
        except ValueError:
            start = today
        slug = request.GET.get("service") or ""
        selected = list(Service.objects.filter(slug=slug)) if slug else None
        days, rows = calendar_rows(start, 7, selected)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Change calendar",
            "days": days,
            "rows": rows,
            "today": today,
            "start": start,
            "previous": (start - timedelta(days=7)).isoformat(),
            "next": (start + timedelta(days=7)).isoformat(),
            "service": slug,
            "services": all_service_slugs(),
            "feeds_url": reverse("admin:changes_changecalendarfeed_changelist"),
        }
        return TemplateResponse(request, "changes/admin/calendar.html", context)

    def link_cause_view(self, request, change_id: int, incident_id: int):
        from incidents.models import Incident

        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not request.user.has_perm("changes.add_suspectedcause"):
            raise PermissionDenied
        change = get_object_or_404(Change, pk=change_id)
        incident = get_object_or_404(Incident, pk=incident_id)
        deployment = None
        if request.GET.get("deployment", "").isdecimal():
            deployment = get_object_or_404(Deployment, pk=int(request.GET["deployment"]), change=change)
        _run(
            self,
            request,
            f"{change.reference} recorded as the suspected cause of {incident.reference}.",
            lambda: services.suspected_cause_link(
                incident=incident, change=change, deployment=deployment, actor=request.user
            ),
        )
        return HttpResponseRedirect(
            reverse("admin:incidents_incident_change", args=[incident.pk]) + "#panel-changes.what_changed"
        )
