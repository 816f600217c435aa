from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.template.response import TemplateResponse

from governance.admin_base import VigilModelAdmin
from governance.errors import VigilError

from ..choices import EscalationStatus
from ..models import DeliveryAttempt, Escalation, Notification
from ..services import escalation_stop, notification_discard, notification_retry


class DeliveryAttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    extra = 0
    can_delete = False
    fields = ["number", "started_at", "outcome", "status_code", "duration_ms", "error"]
    readonly_fields = fields
    ordering = ["number", "pk"]

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class DiscardForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3, "cols": 60}), max_length=500)


@admin.register(Notification)
class NotificationAdmin(VigilModelAdmin):
    evidence_like = True  # the proof that the page went out
    list_display = ["created_at", "event_type", "severity", "subject", "destination_label", "status", "attempts"]
    list_filter = ["status", "event_type", "kind", "channel", "severity"]
    list_select_related = ["channel", "recipient"]
    search_fields = ["idempotency_key__exact", "key__exact", "subject"]
    ordering = ["-created_at", "-id"]
    date_hierarchy = None
    inlines = [DeliveryAttemptInline]
    readonly_fields = [
        "key",
        "idempotency_key",
        "created_at",
        "event_type",
        "severity",
        "subject",
        "kind",
        "channel",
        "recipient",
        "to_address",
        "escalation",
        "status",
        "attempts",
        "attempt_limit",
        "next_attempt_at",
        "claimed_until",
        "swept_at",
        "delivered_at",
        "last_error",
        "discard_reason",
        "context",
    ]
    actions = ["retry", "discard"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        # The change page is read-only; actions need change permission on the list.
        return obj is None and super().has_change_permission(request, obj)

    @admin.display(description="destination")
    def destination_label(self, obj):
        return obj.destination

    @admin.action(description="Retry (send again now)", permissions=["change"])
    def retry(self, request, queryset):
        done, refused = 0, 0
        for notification in queryset:
            try:
                notification_retry(notification=notification)
                done += 1
            except VigilError:
                refused += 1
        messages.success(request, f"{done} notification(s) queued again.")
        if refused:
            messages.warning(request, f"{refused} delivered or discarded notification(s) left alone.")

    @admin.action(description="Discard with a reason", permissions=["change"])
    def discard(self, request, queryset):
        form = DiscardForm(request.POST if "reason" in request.POST else None)
        if form.is_bound and form.is_valid():
            done, refused = 0, 0
            for notification in queryset:
                try:
                    notification_discard(notification=notification, reason=form.cleaned_data["reason"])
                    done += 1
                except VigilError:
                    refused += 1
            messages.success(request, f"{done} notification(s) discarded.")
            if refused:
                messages.warning(request, f"{refused} delivered or discarded notification(s) left alone.")
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": "Discard notifications",
            "opts": self.opts,
            "form": form,
            "queryset": queryset,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "action": "discard",
        }
        return TemplateResponse(request, "alerting/discard.html", context)


@admin.register(Escalation)
class EscalationAdmin(VigilModelAdmin):
    evidence_like = True
    list_display = ["key", "status", "policy", "event_type", "severity", "team", "next_step_index", "next_due_at"]
    list_filter = ["status", "policy", "event_type"]
    list_select_related = ["policy", "team"]
    search_fields = ["key__exact", "subject"]
    ordering = ["-started_at", "-id"]
    readonly_fields = [
        "key",
        "policy",
        "status",
        "event_type",
        "severity",
        "subject",
        "body",
        "service",
        "team",
        "links",
        "data",
        "dedup_key",
        "started_at",
        "next_step_index",
        "next_due_at",
        "stopped_at",
        "stop_reason",
        "log",
    ]
    actions = ["stop"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Stop (acknowledged by hand)", permissions=["change"])
    def stop(self, request, queryset):
        stopped = sum(
            escalation_stop(key=e.key, reason=f"stopped in the admin by {request.user.get_username()}")
            for e in queryset.filter(status=EscalationStatus.RUNNING)
        )
        messages.success(request, f"{stopped} escalation(s) stopped.")
