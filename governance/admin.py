import ipaddress

from django import forms
from django.contrib import admin, messages
from django.db.models import Q
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.html import format_html
from django_celery_beat import admin as beat_admin
from django_celery_beat.models import PeriodicTask

from .admin_base import ReadOnlyAdmin, VigilModelAdmin, distinct_values_filter
from .choices import Scope
from .models import (
    ApiKey,
    AuditCheckpoint,
    AuditEvent,
    AuditSeal,
    AuditSigningKey,
    JobRun,
    ScorecardSnapshot,
    SecurityEvent,
    Service,
    Team,
)
from .services import api_key_create, api_key_revoke


@admin.register(Team)
class TeamAdmin(VigilModelAdmin):
    list_display = ["name", "slug", "manager", "member_count"]
    list_select_related = ["manager"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    autocomplete_fields = ["manager"]
    filter_horizontal = ["members"]
    ordering = ["name"]

    def get_queryset(self, request):
        from django.db.models import Count

        return super().get_queryset(request).annotate(_member_count=Count("members", distinct=True))

    @admin.display(description="members", ordering="_member_count")
    def member_count(self, obj):
        return obj._member_count


@admin.register(Service)
class ServiceAdmin(VigilModelAdmin):
    list_display = ["name", "slug", "tier", "owner_team"]
    list_filter = ["tier", "owner_team"]
    list_select_related = ["owner_team"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    autocomplete_fields = ["owner_team"]
    ordering = ["slug"]


class ApiKeyCreateForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(choices=Scope.choices, widget=forms.CheckboxSelectMultiple)
    expires_days = forms.IntegerField(
        min_value=1, required=False, help_text="Leave empty for a key that does not expire."
    )

    class Meta:
        model = ApiKey
        fields = ["name"]


@admin.register(ApiKey)
class ApiKeyAdmin(VigilModelAdmin):
    list_display = ["name", "prefix", "scope_list", "state", "expires_at", "last_used_at", "created_by"]
    list_filter = ["revoked_at"]
    list_select_related = ["created_by"]
    search_fields = ["name", "prefix"]
    readonly_fields = ["prefix", "scopes", "created_by", "expires_at", "revoked_at", "last_used_at", "last_used_ip"]
    fields = ["name", *readonly_fields]
    actions = ["revoke"]
    evidence_like = True  # revoke, never delete: audit events point at keys

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = ApiKeyCreateForm
            kwargs["fields"] = ["name", "scopes", "expires_days"]
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request, obj=None):
        return ["name", "scopes", "expires_days"] if obj is None else self.fields

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.readonly_fields

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        issued = api_key_create(
            name=form.cleaned_data["name"],
            scopes=form.cleaned_data["scopes"],
            expires_days=form.cleaned_data.get("expires_days"),
            created_by=request.user,
        )
        obj.pk = issued.api_key.pk
        obj._raw_key = issued.raw_key

    def save_related(self, request, form, formsets, change):
        if change:
            super().save_related(request, form, formsets, change)

    def response_add(self, request, obj, post_url_continue=None):
        # The secret is rendered straight into this response and stored nowhere else.
        context = {
            **self.admin_site.each_context(request),
            "title": "API key created",
            "api_key": ApiKey.objects.get(pk=obj.pk),
            "raw_key": obj._raw_key,
            "opts": self.opts,
        }
        response = TemplateResponse(request, "governance/apikey_created.html", context)
        response["Cache-Control"] = "no-store"
        return response

    @admin.display(description="scopes")
    def scope_list(self, obj):
        return ", ".join(obj.scopes)

    @admin.display(description="state")
    def state(self, obj):
        if obj.revoked_at:
            return format_html('<span class="vigil-bad">revoked</span>')
        if obj.expires_at and obj.expires_at <= timezone.now():
            return format_html('<span class="vigil-bad">expired</span>')
        return "active"

    @admin.action(description="Revoke selected API keys", permissions=["change"])
    def revoke(self, request, queryset):
        for api_key in queryset:
            api_key_revoke(api_key=api_key)
        messages.success(request, f"Revoked {queryset.count()} key(s).")


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ["occurred_at", "actor_label", "action", "object_type", "object_id", "object_repr", "request_id"]
    list_filter = [distinct_values_filter("action", "action"), distinct_values_filter("object_type", "object type")]
    # object_id and request_id are exact (each has its index); actor_label is a substring (trigram index).
    search_fields = ["object_id__exact", "request_id__exact", "actor_label"]
    date_hierarchy = None
    ordering = ["-occurred_at", "-id"]
    readonly_fields = [f.name for f in AuditEvent._meta.fields]


@admin.register(AuditSeal)
class AuditSealAdmin(ReadOnlyAdmin):
    list_display = ["seq", "event_id", "hash", "sealed_at"]
    search_fields = ["hash__exact"]
    ordering = ["-seq"]
    readonly_fields = [f.name for f in AuditSeal._meta.fields]


@admin.register(AuditCheckpoint)
class AuditCheckpointAdmin(ReadOnlyAdmin):
    list_display = ["seq", "hash", "signed_at", "key"]
    list_select_related = ["key"]
    ordering = ["-seq", "-id"]
    readonly_fields = [f.name for f in AuditCheckpoint._meta.fields]


@admin.register(AuditSigningKey)
class AuditSigningKeyAdmin(ReadOnlyAdmin):
    """Every key that signed a checkpoint; the current one is also at /.well-known/vigil-audit-key.pem."""

    list_display = ["key_id", "first_used_at"]
    ordering = ["first_used_at"]
    readonly_fields = ["key_id", "first_used_at", "public_key"]
    fields = readonly_fields

    @admin.display(description="public key (PEM)")
    def public_key(self, obj):
        return format_html("<pre>{}</pre>", obj.public_key_pem)


@admin.register(ScorecardSnapshot)
class ScorecardSnapshotAdmin(ReadOnlyAdmin):
    list_display = ["quarter", "title", "score", "taken_at"]
    list_filter = ["quarter"]
    ordering = ["-quarter", "dimension"]
    readonly_fields = [f.name for f in ScorecardSnapshot._meta.fields]


@admin.register(JobRun)
class JobRunAdmin(ReadOnlyAdmin):
    list_display = ["job", "outcome", "started_at", "finished_at", "duration", "summary", "worker"]
    list_filter = ["outcome", distinct_values_filter("job", "job")]
    search_fields = ["job"]
    ordering = ["-started_at", "-id"]
    readonly_fields = [f.name for f in JobRun._meta.fields]

    @admin.display(description="seconds")
    def duration(self, obj):
        seconds = obj.duration_seconds
        return "—" if seconds is None else f"{seconds:.1f}"


@admin.register(SecurityEvent)
class SecurityEventAdmin(ReadOnlyAdmin):
    """Refused logins, keys, scopes, roles and outbound URLs (governance.security): read, never written here."""

    list_display = ["occurred_at", "kind", "username", "api_key_prefix", "ip_address", "path", "detail"]
    # The kind filter lists the choices (no query); searches are exact, each on its own index.
    list_filter = ["kind"]
    search_fields = ["username", "api_key_prefix", "ip_address"]
    search_help_text = "An exact user name, API key prefix or IP address."
    ordering = ["-occurred_at", "-id"]
    readonly_fields = [f.name for f in SecurityEvent._meta.fields]

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        condition = Q(username=term) | Q(api_key_prefix=term)
        try:  # an address column compared with a word is an error on PostgreSQL: only addresses are matched
            condition |= Q(ip_address=str(ipaddress.ip_address(term)))
        except ValueError:
            pass
        return queryset.filter(condition), False


# django-celery-beat's schedules, with the house audit on every toggle and edit.
admin.site.unregister(PeriodicTask)


@admin.register(PeriodicTask)
class PeriodicTaskAdmin(VigilModelAdmin, beat_admin.PeriodicTaskAdmin):
    def get_actions(self, request):
        # django-celery-beat's actions (enable, disable, toggle, run now) declare no permission:
        # they change the schedule, so only those who may change periodic tasks see them.
        actions = super().get_actions(request)
        if not self.has_change_permission(request):
            actions = {name: action for name, action in actions.items() if name == "delete_selected"}
        return actions


from . import admin_login  # noqa: E402, F401  (login protection's admin pages)
