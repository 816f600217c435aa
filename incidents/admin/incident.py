"""The commander's console: declare, then act from buttons on the incident's page."""

from django import forms
from django.contrib import admin, messages
from django.db import models
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from governance.admin_base import EstimatedCountPaginator, VigilModelAdmin, VigilObjectActions
from governance.errors import VigilError

from .. import services
from ..choices import OPEN_STATUSES, IncidentSource, IncidentStatus
from ..clocks import ack_clock, postmortem_clock, update_clock
from ..models import REFERENCE_PREFIX, Evidence, Incident
from ..selectors import incident_timeline
from ..services.incidents import EDITABLE_DETAILS
from .actions import IncidentActionsMixin
from .forms import DeclareIncidentForm

TIMELINE_LIMIT = 500
ALERTS_LIMIT = 100
STATE_CLASS = {"ok": "vigil-ok", "warning": "vigil-warning", "bad": "vigil-bad", "none": ""}
SEVERITY_CLASS = {"SEV1": "vigil-bad", "SEV2": "vigil-warning", "SEV3": ""}


def _clock_html(clock):
    return format_html('<span class="vigil-clock {}">{}</span>', STATE_CLASS[clock.state], clock.text)


class OpenFilter(admin.SimpleListFilter):
    title = "open"
    parameter_name = "open"

    def lookups(self, request, model_admin):
        return [("yes", "Open"), ("no", "Resolved or closed")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(status__in=OPEN_STATUSES)
        if self.value() == "no":
            return queryset.exclude(status__in=OPEN_STATUSES)
        return queryset


class EvidenceInline(admin.TabularInline):
    """Upload only: preserved files are never changed or removed."""

    model = Evidence
    fields = ["file", "description", "sha256", "size_bytes", "uploaded_by", "uploaded_at"]
    readonly_fields = ["sha256", "size_bytes", "uploaded_by", "uploaded_at"]
    extra = 1
    can_delete = False
    verbose_name_plural = "evidence (SHA-256 recorded on upload)"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("uploaded_by")

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request, obj=None):
        return obj is not None and request.user.has_perm("incidents.add_evidence")

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm("incidents.view_evidence") or request.user.has_perm("incidents.view_incident")


# Read-only lifecycle facts, shown collapsed on the change page.
LIFECYCLE_FIELDS = [
    "source",
    "dedup_key",
    "declared_at",
    "declared_by",
    "ack_due_at",
    "acknowledged_at",
    "acknowledged_by",
    "ack_breached_at",
    "mitigated_at",
    "resolved_at",
    "closed_at",
    "policy_display",
]


def recurrence_html(incident: Incident) -> str:
    """ "Recurrence of INC-12" and "Recurred as INC-15, INC-19", each a link; "" when neither."""

    def link(pk):
        return format_html('<a href="{}">{}{}</a>', reverse("admin:incidents_incident_change", args=[pk]), "INC-", pk)

    parts = []
    if incident.recurrence_of_id:
        parts.append(format_html("Recurrence of {}", link(incident.recurrence_of_id)))
    later = list(incident.recurrences.order_by("id").values_list("id", flat=True))
    if later:
        parts.append(format_html("Recurred as {}", format_html_join(", ", "{}", ((link(pk),) for pk in later))))
    return format_html_join(" · ", "{}", ((part,) for part in parts))


@admin.register(Incident)
class IncidentAdmin(IncidentActionsMixin, VigilObjectActions, VigilModelAdmin):
    evidence_like = True
    # Object actions as buttons plus the panels runbooks and changes register for an incident.
    change_form_template = "incidents/admin/incident_change_form.html"
    list_display = [
        "reference_display",
        "title",
        "severity_display",
        "status",
        "service",
        "commander",
        "declared_at",
        "ack_clock_display",
        "update_clock_display",
    ]
    list_display_links = ["reference_display", "title"]
    list_filter = ["severity", "status", OpenFilter, "ack_breached", "source", "service"]
    # Service and commander come in the page's one query, whatever the page size.
    list_select_related = ["service", "commander"]
    search_fields = ["title", "dedup_key"]
    ordering = ["-declared_at", "-id"]
    # Unfiltered lists of a long history use the planner's estimate, not COUNT(*).
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    inlines = [EvidenceInline]
    formfield_overrides = {
        models.URLField: {"assume_scheme": "https"},
        models.TextField: {"widget": forms.Textarea(attrs={"rows": 3, "cols": 80})},
    }
    add_form = DeclareIncidentForm
    change_actions = [
        "acknowledge",
        "post_update",
        "mitigate",
        "resolve",
        "close",
        "change_severity",
        "assign_roles",
    ]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "reference_display",
                    "clocks",
                    "severity",
                    "status",
                    "service",
                    "roles_display",
                    "recurrence_display",
                ]
            },
        ),
        ("Details", {"fields": list(EDITABLE_DETAILS)}),
        ("Timeline (newest first)", {"fields": ["timeline"]}),
        ("Linked alerts", {"fields": ["alerts_panel"], "classes": ["collapse"]}),
        ("Postmortem", {"fields": ["postmortem_panel"]}),
        (
            "Lifecycle",
            {
                "fields": LIFECYCLE_FIELDS,
                "classes": ["collapse"],
            },
        ),
    ]
    readonly_fields = [
        "reference_display",
        "clocks",
        "severity",
        "status",
        "service",
        "roles_display",
        "recurrence_display",
        "timeline",
        "alerts_panel",
        "postmortem_panel",
        *LIFECYCLE_FIELDS,
    ]

    # --- list -------------------------------------------------------------------------
    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip().upper()
        if term.startswith(REFERENCE_PREFIX) and term[len(REFERENCE_PREFIX) :].isdecimal():
            return queryset.filter(pk=int(term[len(REFERENCE_PREFIX) :])), False
        if term.isdecimal():
            return queryset.filter(pk=int(term)), False
        return super().get_search_results(request, queryset, search_term)

    @admin.display(description="reference", ordering="id")
    def reference_display(self, obj):
        return obj.reference

    @admin.display(description="severity", ordering="severity")
    def severity_display(self, obj):
        return format_html('<span class="{}">{}</span>', SEVERITY_CLASS.get(obj.severity, ""), obj.severity)

    @admin.display(description="acknowledgement")
    def ack_clock_display(self, obj):
        return _clock_html(ack_clock(obj))

    @admin.display(description="status update")
    def update_clock_display(self, obj):
        return _clock_html(update_clock(obj))

    # --- forms --------------------------------------------------------------------------
    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [(None, {"fields": DeclareIncidentForm.Meta.fields})]
        return self.fieldsets

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        if obj.status == IncidentStatus.CLOSED or not request.user.has_perm("incidents.change_incident"):
            return [*self.readonly_fields, *EDITABLE_DETAILS]
        return self.readonly_fields

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = self.add_form
        return super().get_form(request, obj, change=change, **kwargs)

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("service", "commander")

    def save_model(self, request, obj, form, change):
        if not change:
            data = form.cleaned_data
            incident = services.incident_declare(
                title=data["title"],
                severity=data["severity"],
                service=data["service"],
                summary=data.get("summary", ""),
                commander=data.get("commander") or request.user,
                declared_by=request.user,
                source=IncidentSource.MANUAL,
            )
            obj.pk = obj.id = incident.pk
            return
        changed = {name: form.cleaned_data[name] for name in form.changed_data if name in EDITABLE_DETAILS}
        if changed:
            try:
                services.incident_update_details(incident=obj.pk, actor=request.user, **changed)
            except VigilError as exc:
                messages.error(request, exc.message)

    def save_related(self, request, form, formsets, change):
        if change:
            for formset in formsets:
                self.save_formset(request, form, formset, change)

    def save_formset(self, request, form, formset, change):
        # Evidence goes through the service (SHA-256, timeline, audit), never formset.save().
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        if formset.model is not Evidence:
            return
        for inline_form in formset.forms:
            if inline_form.instance.pk or not inline_form.has_changed():
                continue
            upload = inline_form.cleaned_data.get("file")
            if not upload:
                continue
            evidence = services.evidence_preserve(
                incident=form.instance.pk,
                file=upload,
                description=inline_form.cleaned_data.get("description", ""),
                actor=request.user,
            )
            formset.new_objects.append(evidence)

    def add_view(self, request, form_url="", extra_context=None):
        extra_context = {**(extra_context or {}), "title": "Declare incident"}
        return super().add_view(request, form_url, extra_context)

    def response_add(self, request, obj, post_url_continue=None):
        incident = Incident.objects.get(pk=obj.pk)
        self.message_user(request, f"{incident.reference} declared ({incident.severity}).", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:incidents_incident_change", args=[obj.pk]))

    # --- read-only panels ---------------------------------------------------------------
    @admin.display(description="clocks")
    def clocks(self, obj):
        now = timezone.now()
        items = [ack_clock(obj, now), update_clock(obj, now)]
        if obj.postmortem_required or obj.postmortem_due_at:
            items.append(postmortem_clock(obj, getattr(obj, "postmortem", None), now))
        return format_html_join(" · ", "{}", ((_clock_html(c),) for c in items if c.text != "—"))

    @admin.display(description="roles")
    def roles_display(self, obj):
        def name(user):
            return user.get_full_name() or user.get_username() if user else "—"

        return format_html(
            "Commander: <strong>{}</strong> · Communications: {} · Scribe: {}",
            name(obj.commander),
            name(obj.communications_lead),
            name(obj.scribe),
        )

    @admin.display(description="policy")
    def policy_display(self, obj):
        cadence = f"every {obj.update_every_minutes} min" if obj.update_every_minutes else "none"
        return (
            f"ack within {obj.ack_minutes} min · updates {cadence} · postmortem "
            f"{'required' if obj.postmortem_required else 'optional'}, "
            f"due {obj.postmortem_due_business_days} business days after resolution"
        )

    @admin.display(description="timeline")
    def timeline(self, obj):
        events = incident_timeline(incident=obj, limit=TIMELINE_LIMIT)
        rows = format_html_join(
            "",
            '<tr class="timeline-{}"><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>',
            (
                (
                    event.kind,
                    timezone.localtime(event.occurred_at).strftime("%Y-%m-%d %H:%M:%S"),
                    event.get_kind_display(),
                    event.actor_label,
                    event.message,
                )
                for event in events
            ),
        )
        return format_html(
            '<table class="vigil-table" id="incident-timeline"><thead><tr><th>When</th><th>What</th>'
            "<th>Who</th><th>Detail</th></tr></thead><tbody>{}</tbody></table>",
            rows,
        )

    @admin.display(description="alerts")
    def alerts_panel(self, obj):
        alerts = list(obj.alerts.order_by("-starts_at", "-id")[:ALERTS_LIMIT])
        if not alerts:
            return "No alerts are linked to this incident."
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
            (
                (
                    alert.alertname or "—",
                    alert.status,
                    timezone.localtime(alert.starts_at).strftime("%Y-%m-%d %H:%M:%S"),
                    timezone.localtime(alert.ends_at).strftime("%Y-%m-%d %H:%M:%S") if alert.ends_at else "—",
                    ", ".join(f"{k}={v}" for k, v in sorted(alert.labels.items())),
                )
                for alert in alerts
            ),
        )
        return format_html(
            '<table class="vigil-table"><thead><tr><th>Alert</th><th>Status</th><th>Started</th><th>Ended</th>'
            "<th>Labels</th></tr></thead><tbody>{}</tbody></table>",
            rows,
        )

    @admin.display(description="recurrence")
    def recurrence_display(self, obj):
        return recurrence_html(obj) or "—"

    @admin.display(description="postmortem")
    def postmortem_panel(self, obj):
        from ..models import Postmortem

        postmortem = Postmortem.objects.filter(incident=obj).first()
        items = obj.action_items.count()
        items_link = reverse("admin:incidents_actionitem_changelist") + f"?incident__id__exact={obj.pk}"
        if postmortem is None:
            add = reverse("admin:incidents_postmortem_add") + f"?incident={obj.pk}"
            required = "required" if obj.postmortem_required else "optional"
            return format_html(
                'No postmortem yet ({}). <a href="{}">Start one</a> · <a href="{}">{} action item(s)</a>',
                required,
                add,
                items_link,
                items,
            )
        url = reverse("admin:incidents_postmortem_change", args=[postmortem.pk])
        return format_html(
            '<a href="{}">Postmortem: {}</a> · {} · <a href="{}">{} action item(s)</a>',
            url,
            postmortem.get_status_display(),
            _clock_html(postmortem_clock(obj, postmortem)),
            items_link,
            items,
        )
