"""The SLO admin: list with budget bars and burn rates, a page with the budget chart and its episodes."""

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.http import HttpResponseRedirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django_object_actions import action

from governance.admin_base import VigilModelAdmin, VigilObjectActions
from governance.audit import audit_record
from governance.errors import VigilError

from . import charts, reports
from .choices import BURN_WINDOWS
from .models import SLO, BudgetException, BurnEpisode, PrometheusSource, SLOStatus


def budget_bar(remaining: float | None) -> str:
    # An SVG bar, not styled spans: the Content-Security-Policy refuses style="" attributes, while an SVG's
    # width and fill are plain attributes.
    if remaining is None:
        return format_html('<span class="vigil-budget-unknown">unknown</span>')
    width = max(0.0, min(1.0, remaining)) * 100
    colour = "#1a7f37" if remaining > 0.2 else "#9a6700" if remaining > 0 else "#cf222e"
    return format_html(
        '<svg class="vigil-budget-bar" width="100" height="10" role="img" aria-label="{0}"><title>{0}</title>'
        '<rect width="100" height="10" fill="#eaeef2"></rect><rect width="{1}" height="10" fill="{2}"></rect>'
        "</svg> {3}",
        f"{remaining * 100:.2f} % of the error budget remains",
        f"{width:.1f}",
        colour,
        f"{remaining * 100:.1f} %",
    )


class PrometheusSourceForm(forms.ModelForm):
    url = forms.URLField(max_length=500, assume_scheme="http", help_text="e.g. http://prometheus:9090")
    bearer_token = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Leave empty to keep the stored token. Encrypted at rest.",
    )
    clear_token = forms.BooleanField(required=False, help_text="Remove the stored token.")

    class Meta:
        model = PrometheusSource
        fields = ["name", "url", "bearer_token", "timeout_seconds"]


@admin.register(PrometheusSource)
class PrometheusSourceAdmin(VigilModelAdmin):
    form = PrometheusSourceForm
    list_display = ["name", "url", "has_token", "timeout_seconds"]
    search_fields = ["name"]
    ordering = ["name"]

    @admin.display(boolean=True, description="Bearer token")
    def has_token(self, obj):
        return bool(obj.bearer_token)

    def save_model(self, request, obj, form, change):
        token = form.cleaned_data.get("bearer_token")
        changed = [f for f in form.changed_data if f not in ("bearer_token", "clear_token")]
        secret_changed = bool(token) or form.cleaned_data.get("clear_token")
        if form.cleaned_data.get("clear_token"):
            obj.bearer_token = ""
        elif token:
            obj.bearer_token = token
        elif change:
            obj.bearer_token = PrometheusSource.objects.get(pk=obj.pk).bearer_token
        with transaction.atomic():
            obj.save()
            fields = {name: [form.initial.get(name), form.cleaned_data.get(name)] for name in changed}
            if secret_changed:
                fields["bearer_token"] = ["…", "… (changed)"]  # the secret never enters the audit trail
            audit_record(action="update" if change else "create", obj=obj, changes=fields)


@admin.register(SLO)
class SLOAdmin(VigilObjectActions, VigilModelAdmin):
    list_display = [
        "slug",
        "name",
        "service",
        "objective_pct",
        "sli_pct",
        "budget",
        "burn",
        "status_badge",
        "alert",
        "evaluated_at",
    ]
    list_filter = ["budget_status", "alert", "window", "source_kind"]
    list_select_related = ["service", "owner_team", "prometheus_source"]
    search_fields = ["slug", "name", "service__slug"]
    autocomplete_fields = ["service", "owner_team"]
    ordering = ["slug"]
    change_form_template = "admin/slos/slo/change_form.html"
    change_list_template = "admin/slos/slo/change_list.html"
    readonly_fields = [
        "budget_status",
        "alert",
        "sli",
        "error_budget_remaining",
        "burn_rates_display",
        "evaluated_at",
        "last_error",
        "failing_since",
        "warning_since",
        "exhausted_since",
    ]
    fieldsets = [
        (None, {"fields": ["slug", "name", "description", "service", "owner_team", "enabled"]}),
        ("Indicator", {"fields": ["sli_kind", "latency_threshold_ms", "objective", "window"]}),
        ("Source", {"fields": ["source_kind", "prometheus_source", "good_query", "total_query"]}),
        ("Budget policy", {"fields": ["warning_threshold", "incident_severity"]}),
        ("Latest evaluation", {"fields": readonly_fields}),
    ]
    change_actions = ["evaluate_now"]

    @admin.display(description="Objective", ordering="objective")
    def objective_pct(self, obj):
        return f"{float(obj.objective) * 100:g} % / {obj.get_window_display().lower()}"

    @admin.display(description="SLI")
    def sli_pct(self, obj):
        return "—" if obj.sli is None else f"{obj.sli * 100:.4f} %"

    @admin.display(description="Budget remaining", ordering="error_budget_remaining")
    def budget(self, obj):
        return budget_bar(obj.error_budget_remaining)

    @admin.display(description="Burn rates")
    def burn(self, obj):
        rates = obj.burn_rates or {}
        return format_html_join(
            " ",
            '<span title="{}">{}</span>',
            (
                (f"burn rate over {name}", f"{name} {rates[name]:.1f}×" if rates.get(name) is not None else f"{name} —")
                for name in BURN_WINDOWS
                if name in ("5m", "1h", "6h", "1d", "3d")
            ),
        )

    @admin.display(description="Burn rates")
    def burn_rates_display(self, obj):
        rates = obj.burn_rates or {}
        return ", ".join(
            f"{name} {rates[name]:.2f}×" if rates.get(name) is not None else f"{name} —" for name in BURN_WINDOWS
        )

    @admin.display(description="Status", ordering="budget_status")
    def status_badge(self, obj):
        return format_html(
            '<strong class="vigil-budget-{}">{}</strong>',
            obj.budget_status,
            obj.get_budget_status_display(),
        )

    @action(label="Evaluate now", description="Ask the source now, as the scheduled job does")
    def evaluate_now(self, request, obj):
        from .services import slo_evaluate

        result = slo_evaluate(slo=obj)
        messages.info(request, result.line())
        return HttpResponseRedirect(reverse("admin:slos_slo_change", args=[obj.pk]))

    def has_evaluate_now_permission(self, request, obj=None):
        return request.user.has_perm("slos.change_slo")

    def get_urls(self):
        return [
            path("review/", self.admin_site.admin_view(reports.review_view), name="slos_review"),
            path("review.csv", self.admin_site.admin_view(reports.review_csv), name="slos_review_csv"),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = extra_context or {}
        slo = SLO.objects.filter(pk=object_id).first() if str(object_id).isdecimal() else None
        if slo is not None:
            extra_context["slo_chart"] = charts.budget_chart(slo, now=timezone.now())
            extra_context["slo_episodes"] = list(
                BurnEpisode.objects.filter(slo=slo)
                .select_related("incident", "suspect_deployment")
                .order_by("-started_at")[:20]
            )
        return super().change_view(request, object_id, form_url, extra_context)


@admin.register(SLOStatus)
class SLOStatusAdmin(VigilModelAdmin):
    evidence_like = True
    list_display = ["slo", "evaluated_at", "budget_status", "alert", "sli", "error_budget_remaining", "succeeded"]
    list_filter = ["budget_status", "succeeded"]
    list_select_related = ["slo"]
    search_fields = ["slo__slug"]
    ordering = ["-evaluated_at", "-id"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(BurnEpisode)
class BurnEpisodeAdmin(VigilModelAdmin):
    evidence_like = True
    list_display = ["slo", "level", "started_at", "ended_at", "incident", "suspect_deployment"]
    list_filter = ["level"]
    list_select_related = ["slo", "incident", "suspect_deployment"]
    search_fields = ["slo__slug"]
    ordering = ["-started_at", "-id"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(BudgetException)
class BudgetExceptionAdmin(VigilObjectActions, VigilModelAdmin):
    evidence_like = True
    list_display = ["slo", "status", "valid_from", "valid_until", "requested_by", "decided_by"]
    list_filter = ["status"]
    list_select_related = ["slo", "requested_by", "decided_by"]
    autocomplete_fields = ["slo"]
    fields = ["slo", "reason", "valid_from", "valid_until", "status", "requested_by", "decided_by", "decided_at"]
    readonly_fields = ["status", "requested_by", "decided_by", "decided_at"]
    ordering = ["-valid_from", "-id"]
    change_actions = ["approve", "reject"]

    def save_model(self, request, obj, form, change):
        from .services import budget_exception_request

        if change:
            return super().save_model(request, obj, form, change)
        created = budget_exception_request(
            slo=obj.slo, reason=obj.reason, valid_from=obj.valid_from, valid_until=obj.valid_until, actor=request.user
        )
        obj.pk = created.pk

    def _decide(self, request, obj, approve: bool):
        from .services import budget_exception_decide

        try:
            budget_exception_decide(exception=obj, approve=approve, actor=request.user)
        except VigilError as exc:
            messages.error(request, exc.message)
        return HttpResponseRedirect(reverse("admin:slos_budgetexception_change", args=[obj.pk]))

    @action(label="Approve", description="Approve this budget exception")
    def approve(self, request, obj):
        return self._decide(request, obj, True)

    @action(label="Reject", description="Reject this budget exception")
    def reject(self, request, obj):
        return self._decide(request, obj, False)

    def has_approve_permission(self, request, obj=None):
        return request.user.has_perm("slos.approve_budgetexception")

    def has_reject_permission(self, request, obj=None):
        return request.user.has_perm("slos.approve_budgetexception")
