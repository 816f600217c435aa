"""Identities, systems and their grants, imports, templates, campaigns and remediations."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Count, Q
from django.http import HttpResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django_object_actions import action

from alerting.fields import mask
from governance.admin_base import ReadOnlyAdmin, VigilModelAdmin, VigilObjectActions
from governance.audit import audit_record, diff, snapshot
from governance.errors import VigilError

from .. import evidence, selectors, services
from ..choices import CampaignStatus, Decision, ImportKind, ImportStatus
from ..models import (
    AccessGrant,
    Campaign,
    Identity,
    OrphanedGrantAlert,
    Remediation,
    ReviewTemplate,
    SnapshotImport,
    System,
)
from .uploads import upload_view


class UploadMixin:
    upload_kind = ImportKind.GRANTS
    change_list_template = "access_reviews/admin/upload_changelist.html"

    def get_urls(self):
        info = self.model._meta.app_label, self.model._meta.model_name
        return [
            path(
                "upload/",
                self.admin_site.admin_view(lambda request: upload_view(self, request, kind=self.upload_kind)),
                name="{}_{}_upload".format(*info),
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        info = self.model._meta.app_label, self.model._meta.model_name
        extra = {
            "upload_url": reverse("admin:{}_{}_upload".format(*info))
            if request.user.has_perm("access_reviews.import_snapshot")
            else None
        }
        return super().changelist_view(request, {**(extra_context or {}), **extra})


@admin.register(Identity)
class IdentityAdmin(UploadMixin, VigilModelAdmin):
    upload_kind = ImportKind.IDENTITIES
    list_display = ["email", "name", "manager", "department", "employment_status", "user"]
    list_filter = ["employment_status", "department"]
    list_select_related = ["manager", "user"]
    search_fields = ["email", "name"]
    autocomplete_fields = ["manager", "user"]
    ordering = ["email"]


class SystemForm(forms.ModelForm):
    connector_secret = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="DSN or bind password. Stored encrypted; leave empty to keep the current one.",
    )

    class Meta:
        model = System
        fields = [
            "slug",
            "name",
            "owner",
            "privileged",
            "connector",
            "connector_settings",
            "connector_secret",
            "pull_enabled",
        ]

    def clean_connector_secret(self):
        value = self.cleaned_data.get("connector_secret")
        return value if value else (self.instance.connector_secret if self.instance.pk else "")


def _masked(system: System) -> dict:
    values = snapshot(system)
    values["connector_secret"] = mask(system.connector_secret) if system.connector_secret else ""
    return values


@admin.register(System)
class SystemAdmin(VigilObjectActions, UploadMixin, VigilModelAdmin):
    form = SystemForm
    change_form_template = "admin/vigil/change_form.html"
    list_display = ["slug", "name", "owner", "privileged", "connector", "pull_enabled", "last_pulled_at", "grant_count"]
    list_filter = ["connector", "privileged", "pull_enabled"]
    search_fields = ["slug", "name"]
    autocomplete_fields = ["owner"]
    readonly_fields = ["secret_hint", "last_pulled_at", "privileged_unused", "unmatched_accounts", "recent_imports"]
    change_actions = ["pull_now"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("owner").annotate(n_grants=Count("grants"))

    def save_model(self, request, obj, form, change):
        # The house audit would record the secret in clear: record a masked value instead.
        with transaction.atomic():
            before = _masked(System.objects.get(pk=obj.pk)) if change else {}
            obj.save()
            changes = diff(before, _masked(obj))
            if changes:
                audit_record(action="update" if change else "create", obj=obj, changes=changes)

    def delete_model(self, request, obj):
        with transaction.atomic():
            audit_record(action="delete", obj=obj, changes=diff(_masked(obj), {}))
            obj.delete()

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self.delete_model(request, obj)

    @admin.display(description="grants", ordering="n_grants")
    def grant_count(self, obj):
        return obj.n_grants

    @admin.display(description="stored secret")
    def secret_hint(self, obj):
        return mask(obj.connector_secret) if obj.connector_secret else "—"

    @admin.display(description=f"privileged, unused {selectors.PRIVILEGED_UNUSED_DAYS}+ days")
    def privileged_unused(self, obj):
        rows = selectors.privileged_unused(system=obj, now=timezone.now())[:50]
        return (
            format_html_join(
                "",
                "<div>{} · {} (last login {})</div>",
                ((g.account, g.entitlement, g.last_login_at or "never") for g in rows),
            )
            or "—"
        )

    @admin.display(description="unmatched accounts")
    def unmatched_accounts(self, obj):
        rows = selectors.unmatched_grants(system=obj)[:50]
        return format_html_join("", "<div>{} · {}</div>", ((g.account, g.entitlement) for g in rows)) or "—"

    @admin.display(description="recent imports")
    def recent_imports(self, obj):
        rows = obj.imports.all()[:5]
        return (
            format_html_join(
                "",
                "<div>{} {} {}: +{} −{} ~{} {}</div>",
                ((r.imported_at, r.source, r.status, r.added, r.removed, r.changed, r.error[:200]) for r in rows),
            )
            or "—"
        )

    def has_pull_now_permission(self, request, obj=None):
        return request.user.has_perm("access_reviews.import_snapshot")

    @action(label="Pull now", description="Run the connector now", methods=("POST",), button_type="form")
    def pull_now(self, request, obj):
        record = services.system_pull(system=obj)
        if record.status == ImportStatus.FAILED:
            self.message_user(request, f"Pull failed; grants kept: {record.error}", messages.ERROR)
        else:
            self.message_user(
                request,
                f"Pulled: {record.added} added, {record.removed} removed, {record.changed} changed, "
                f"{record.remediations_verified} remediation(s) verified.",
                messages.SUCCESS,
            )


@admin.register(AccessGrant)
class AccessGrantAdmin(ReadOnlyAdmin):
    list_display = ["account", "system", "entitlement", "privileged", "identity", "last_login_at", "last_seen_at"]
    list_filter = ["system", "privileged", ("identity", admin.EmptyFieldListFilter)]
    list_select_related = ["system", "identity"]
    search_fields = ["account", "entitlement", "email"]
    ordering = ["system", "account", "entitlement", "pk"]


@admin.register(SnapshotImport)
class SnapshotImportAdmin(ReadOnlyAdmin):
    list_display = [
        "imported_at",
        "kind",
        "system",
        "source",
        "status",
        "added",
        "removed",
        "changed",
        "rows",
        "sha256",
    ]
    list_filter = ["kind", "status", "source", "system"]
    list_select_related = ["system"]


@admin.register(OrphanedGrantAlert)
class OrphanedGrantAlertAdmin(ReadOnlyAdmin):
    list_display = ["raised_at", "identity", "system", "account", "entitlement", "seen_on"]
    list_select_related = ["identity", "system"]
    list_filter = ["system"]


@admin.register(ReviewTemplate)
class ReviewTemplateAdmin(VigilObjectActions, VigilModelAdmin):
    change_form_template = "admin/vigil/change_form.html"
    list_display = ["name", "reviewer_rule", "fallback_reviewer", "owner", "due_days", "no_response_default", "active"]
    list_select_related = ["fallback_reviewer", "owner"]
    list_filter = ["active", "reviewer_rule"]
    search_fields = ["name"]
    filter_horizontal = ["systems"]
    autocomplete_fields = ["fallback_reviewer", "owner"]
    change_actions = ["launch_now"]

    def has_launch_now_permission(self, request, obj=None):
        return request.user.has_perm("access_reviews.launch_campaign")

    @action(label="Launch campaign now", description="Freeze the in-scope grants into a campaign", methods=("POST",))
    def launch_now(self, request, obj):
        try:
            campaign = services.campaign_launch(template=obj, actor=request.user)
        except VigilError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return None
        self.message_user(request, f"Launched {campaign.name}: {campaign.item_count} item(s).", messages.SUCCESS)
        return None


class SignOffForm(forms.Form):
    note = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))


@admin.register(Campaign)
class CampaignAdmin(VigilObjectActions, VigilModelAdmin):
    evidence_like = True
    change_form_template = "admin/vigil/change_form.html"
    list_display = ["name", "status", "progress", "due_at", "item_count", "owner", "signed_off_at"]
    list_filter = ["status", "template"]
    list_select_related = ["owner", "template"]
    search_fields = ["name", "period"]
    ordering = ["-launched_at", "-pk"]
    readonly_fields = [
        "template",
        "name",
        "period",
        "status",
        "progress",
        "owner",
        "launched_at",
        "launched_by",
        "due_at",
        "closes_at",
        "closed_at",
        "signed_off_at",
        "signed_off_by",
        "sign_off_note",
        "snapshot_sha256",
        "item_count",
        "launch_seconds",
        "overdue_reviewers",
    ]
    fields = readonly_fields
    change_actions = ["sign_off", "download_evidence", "close_now"]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                n_items=Count("items"),
                n_pending=Count("items", filter=Q(items__decision=Decision.PENDING)),
            )
        )

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="progress")
    def progress(self, obj):
        total = getattr(obj, "n_items", None)
        pending = getattr(obj, "n_pending", None)
        if total is None:
            total, pending = obj.items.count(), obj.items.filter(decision=Decision.PENDING).count()
        done = total - pending
        percent = round(100 * done / total) if total else 100
        return format_html('<span class="campaign-progress">{} of {} decided ({}%)</span>', done, total, percent)

    @admin.display(description="overdue reviewers")
    def overdue_reviewers(self, obj):
        if obj.status != CampaignStatus.ACTIVE or timezone.now() < obj.due_at:
            return "—"
        rows = selectors.pending_by_reviewer(campaign=obj)
        return format_html_join("", "<div>{}: {} pending</div>", rows) or "—"

    def get_change_actions(self, request, object_id, form_url):
        campaign = Campaign.objects.filter(pk=object_id).only("status").first()
        if campaign is None:
            return []
        user = request.user
        allowed = {
            "sign_off": campaign.status == CampaignStatus.CLOSING and user.has_perm("access_reviews.sign_off_campaign"),
            "download_evidence": user.has_perm("access_reviews.export_campaign_evidence"),
            "close_now": campaign.status == CampaignStatus.ACTIVE and user.has_perm("access_reviews.sign_off_campaign"),
        }
        return [name for name in self.change_actions if allowed[name]]

    @action(label="Sign off", description="Sign the closed campaign off", methods=("POST",), button_type="form")
    def sign_off(self, request, obj):
        if not request.user.has_perm("access_reviews.sign_off_campaign"):
            raise PermissionDenied
        try:
            services.campaign_sign_off(campaign=obj, actor=request.user)
        except VigilError as exc:
            self.message_user(request, exc.message, messages.ERROR)
        else:
            self.message_user(request, "Signed off.", messages.SUCCESS)

    @action(
        label="Close now (apply the no-response default)",
        description="Close before the scheduled date",
        methods=("POST",),
        button_type="form",
    )
    def close_now(self, request, obj):
        if not request.user.has_perm("access_reviews.sign_off_campaign"):
            raise PermissionDenied
        count = services.campaign_close(campaign=obj)
        self.message_user(request, f"Closed; the default was applied to {count} item(s).", messages.SUCCESS)

    @action(label="Download evidence (CSV)", description="Items, decisions, remediations, snapshot hash")
    def download_evidence(self, request, obj):
        if not request.user.has_perm("access_reviews.export_campaign_evidence"):
            raise PermissionDenied
        body = evidence.campaign_csv(obj)
        audit_record(action="campaign_evidence_export", obj=obj, changes={"bytes": [None, len(body)]})
        response = HttpResponse(body, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="access-review-{obj.pk}-{obj.period}.csv"'
        return response


class RemediationForm(forms.ModelForm):
    ticket_url = forms.URLField(required=False, assume_scheme="https")

    class Meta:
        model = Remediation
        fields = ["ticket_url", "assignee"]


@admin.register(Remediation)
class RemediationAdmin(VigilObjectActions, VigilModelAdmin):
    evidence_like = True
    form = RemediationForm
    change_form_template = "admin/vigil/change_form.html"
    list_display = ["pk", "system", "account", "entitlement", "status", "due_at", "flagged_at", "assignee", "ticket"]
    list_filter = ["status", "system", ("flagged_at", admin.EmptyFieldListFilter)]
    list_select_related = ["system", "assignee"]
    search_fields = ["account", "entitlement"]
    autocomplete_fields = ["assignee"]
    readonly_fields = [
        "item",
        "system",
        "account",
        "entitlement",
        "target_entitlement",
        "status",
        "due_at",
        "done_at",
        "verified_at",
        "verified_by_import",
        "flagged_at",
    ]
    change_actions = ["mark_done"]

    def has_add_permission(self, request):
        return False

    @admin.display(description="ticket")
    def ticket(self, obj):
        return format_html('<a href="{}">{}</a>', obj.ticket_url, "ticket") if obj.ticket_url else "—"

    def has_mark_done_permission(self, request, obj=None):
        return request.user.has_perm("access_reviews.change_remediation")

    @action(label="Mark done", description="The access is removed; a later snapshot verifies it", methods=("POST",))
    def mark_done(self, request, obj):
        try:
            services.remediation_mark_done(remediation=obj)
        except VigilError as exc:
            self.message_user(request, exc.message, messages.ERROR)
        else:
            self.message_user(request, "Marked done; the next snapshot of the system verifies it.", messages.SUCCESS)
