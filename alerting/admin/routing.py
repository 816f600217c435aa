from django import forms
from django.contrib import admin
from django.template.response import TemplateResponse
from django.urls import path

from governance.admin_base import VigilModelAdmin
from governance.choices import Severity

from ..choices import EventType
from ..models import EscalationPolicy, EscalationStep, RoutingRule
from ..selectors import matrix


class RoutingRuleForm(forms.ModelForm):
    event_types = forms.MultipleChoiceField(
        choices=[(e, e) for e in EventType.values if e != EventType.CHANNEL_TEST],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every event type.",
    )

    class Meta:
        model = RoutingRule
        fields = [
            "name",
            "position",
            "enabled",
            "event_types",
            "min_severity",
            "service",
            "team",
            "channels",
            "escalation_policy",
        ]


@admin.register(RoutingRule)
class RoutingRuleAdmin(VigilModelAdmin):
    form = RoutingRuleForm
    list_display = ["name", "position", "enabled", "events", "min_severity", "service", "team", "escalation_policy"]
    list_filter = ["enabled", "min_severity", "team"]
    list_select_related = ["service", "team", "escalation_policy"]
    search_fields = ["name"]
    autocomplete_fields = ["service", "team", "escalation_policy"]
    filter_horizontal = ["channels"]
    ordering = ["position", "pk"]
    change_list_template = "alerting/routingrule_changelist.html"

    @admin.display(description="events")
    def events(self, obj):
        return ", ".join(obj.event_types) if obj.event_types else "all"

    def get_urls(self):
        return [
            path("matrix/", self.admin_site.admin_view(self.matrix_view), name="alerting_routingrule_matrix"),
            *super().get_urls(),
        ]

    def matrix_view(self, request):
        if not self.has_view_permission(request):
            from django.core.exceptions import PermissionDenied

            raise PermissionDenied
        rows, unrouted = matrix()
        context = {
            **self.admin_site.each_context(request),
            "title": "Who gets paged for what",
            "opts": self.opts,
            "rows": rows,
            "unrouted": unrouted,
            "severities": Severity.values,
        }
        return TemplateResponse(request, "alerting/matrix.html", context)


class EscalationStepInline(admin.TabularInline):
    model = EscalationStep
    extra = 1
    autocomplete_fields = ["user", "channel"]
    ordering = ["position", "pk"]


@admin.register(EscalationPolicy)
class EscalationPolicyAdmin(VigilModelAdmin):
    list_display = ["name", "repeat", "step_summary"]
    search_fields = ["name"]
    ordering = ["name"]
    inlines = [EscalationStepInline]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("steps__user", "steps__channel")

    @admin.display(description="steps")
    def step_summary(self, obj):
        return " → ".join(str(step) for step in obj.steps.all())
