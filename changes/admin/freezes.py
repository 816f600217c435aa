"""Freeze windows, freeze exceptions (decided by another person) and the private calendar feeds."""

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django_object_actions import action

from governance.admin_base import VigilModelAdmin, VigilObjectActions
from governance.errors import VigilError

from .. import services
from ..choices import WEEKDAYS, ExceptionStatus, FreezeRecurrence
from ..models import (
    ChangeCalendarFeed,
    FreezeException,
    FreezeWindow,
)
from .common import run_service as _run


class FreezeWindowForm(forms.ModelForm):
    weekdays = forms.TypedMultipleChoiceField(
        choices=list(enumerate(WEEKDAYS)),
        coerce=int,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Weekly windows: the days.",
    )

    class Meta:
        model = FreezeWindow
        fields = [
            "name",
            "reason",
            "recurrence",
            "starts_at",
            "ends_at",
            "weekdays",
            "start_time",
            "end_time",
            "cron",
            "duration_minutes",
            "time_zone",
            "all_services",
            "services",
            "environments",
            "active",
        ]

    def clean(self):
        data = super().clean()
        if not data.get("all_services") and not data.get("services"):
            self.add_error("services", "Choose services, or tick “all services”.")
        return data


@admin.register(FreezeWindow)
class FreezeWindowAdmin(VigilModelAdmin):
    form = FreezeWindowForm
    list_display = ["name", "recurrence", "schedule", "scope", "environments", "active"]
    list_filter = ["active", "recurrence", "all_services"]
    search_fields = ["name", "reason"]
    ordering = ["name", "id"]
    autocomplete_fields = ["services"]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("services")

    @admin.display(description="when")
    def schedule(self, obj):
        if obj.recurrence == FreezeRecurrence.ONCE:
            return (
                f"{timezone.localtime(obj.starts_at):%Y-%m-%d %H:%M} – {timezone.localtime(obj.ends_at):%Y-%m-%d %H:%M}"
            )
        if obj.recurrence == FreezeRecurrence.WEEKLY:
            days = ", ".join(WEEKDAYS[d] for d in obj.weekdays or [])
            return f"{days} {obj.start_time:%H:%M}–{obj.end_time:%H:%M} {obj.time_zone}"
        return f"{obj.cron} for {obj.duration_minutes} min ({obj.time_zone})"

    @admin.display(description="services")
    def scope(self, obj):
        return "all" if obj.all_services else ", ".join(s.slug for s in obj.services.all())

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


@admin.register(FreezeException)
class FreezeExceptionAdmin(VigilObjectActions, VigilModelAdmin):
    evidence_like = True
    list_display = ["window", "change", "service", "valid_from", "valid_until", "status", "requested_by", "decided_by"]
    list_filter = ["status", "window"]
    list_select_related = ["window", "change", "service", "requested_by", "decided_by"]
    search_fields = ["reason", "window__name"]
    ordering = ["-valid_from", "-id"]
    autocomplete_fields = ["change", "service"]
    fields = [
        "window",
        "change",
        "service",
        "reason",
        "valid_from",
        "valid_until",
        "status",
        "requested_by",
        "decided_by",
        "decided_at",
    ]
    readonly_fields = ["status", "requested_by", "decided_by", "decided_at"]
    change_actions = ["approve", "reject"]

    def get_readonly_fields(self, request, obj=None):
        if obj is not None:
            return self.fields  # a decided (or requested) exception is not edited, only decided
        return self.readonly_fields

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        try:
            created = services.freeze_exception_request(
                window=data["window"],
                reason=data["reason"],
                valid_from=data["valid_from"],
                valid_until=data["valid_until"],
                change=data.get("change"),
                service=data.get("service"),
                requested_by=request.user,
            )
        except VigilError as exc:
            messages.error(request, exc.message)
            return
        obj.pk = obj.id = created.pk

    def get_change_actions(self, request, object_id, form_url):
        exception = FreezeException.objects.filter(pk=object_id).first()
        if (
            exception is None
            or exception.status != ExceptionStatus.REQUESTED
            or not request.user.has_perm("changes.approve_freezeexception")
            or exception.requested_by_id == request.user.pk
        ):
            return []
        return self.change_actions

    @action(label="Approve", description="Allow changes during the freeze", methods=("POST",), button_type="form")
    def approve(self, request, obj):
        _run(
            self,
            request,
            "Freeze exception approved.",
            lambda: services.freeze_exception_decide(exception=obj.pk, approve=True, actor=request.user),
        )

    @action(label="Reject", description="Keep the freeze", methods=("POST",), button_type="form")
    def reject(self, request, obj):
        _run(
            self,
            request,
            "Freeze exception rejected.",
            lambda: services.freeze_exception_decide(exception=obj.pk, approve=False, actor=request.user),
        )


def feed_url(feed: ChangeCalendarFeed) -> str:
    return settings.VIGIL_BASE_URL.rstrip("/") + reverse("changes:calendar", args=[feed.token])


@admin.register(ChangeCalendarFeed)
class ChangeCalendarFeedAdmin(VigilModelAdmin):
    list_display = ["name", "created_by", "created_at"]
    list_select_related = ["created_by"]
    search_fields = ["name"]
    fields = ["name", "services", "private_url"]
    readonly_fields = ["private_url"]
    autocomplete_fields = ["services"]
    actions = ["rotate_token"]

    def get_fields(self, request, obj=None):
        # The URL is a credential: only people who may change the feed see it.
        fields = super().get_fields(request, obj)
        return fields if self.has_change_permission(request, obj) else [f for f in fields if f != "private_url"]

    @admin.display(description="private URL")
    def private_url(self, obj):
        if obj.pk is None:
            return "Saved feeds get a private URL."
        return format_html('<a href="{0}">{0}</a>', feed_url(obj))

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    @admin.action(description="Rotate the private URL (the old one stops working)", permissions=["change"])
    def rotate_token(self, request, queryset):
        for feed in queryset:
            services.calendar_feed_rotate_token(feed=feed)
        messages.success(request, f"{queryset.count()} feed URL(s) replaced.")
