from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.utils import timezone

from governance.admin_base import VigilModelAdmin
from governance.audit import audit_record, diff

from ..choices import EventType
from ..fields import mask
from ..models import Channel, ContactMethod
from ..services.config import SECRET_FIELDS, masked_snapshot


class ChannelForm(forms.ModelForm):
    """Secrets are never sent back to the browser: a blank field on change keeps the stored value."""

    clear_secrets = forms.MultipleChoiceField(
        choices=[(name, name.replace("_", " ")) for name in SECRET_FIELDS],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Tick to erase a stored secret (a blank field keeps it).",
    )

    class Meta:
        model = Channel
        fields = ["name", "kind", "enabled", "url", "routing_key", "signing_secret", "headers", "source", "addresses"]
        widgets = {
            "url": forms.PasswordInput(render_value=False, attrs={"size": 80, "autocomplete": "off"}),
            "routing_key": forms.PasswordInput(render_value=False, attrs={"size": 40, "autocomplete": "off"}),
            "signing_secret": forms.PasswordInput(render_value=False, attrs={"size": 40, "autocomplete": "off"}),
            "headers": forms.Textarea(attrs={"rows": 3, "cols": 80, "placeholder": "Authorization: Bearer …"}),
            "addresses": forms.Textarea(attrs={"rows": 2, "cols": 80}),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._stored = {}
        if self.instance.pk:
            for name in SECRET_FIELDS:
                stored = getattr(self.instance, name) or ""
                self._stored[name] = stored
                if stored and name in self.fields:  # a view-only page has no form fields
                    self.fields[name].help_text = f"Stored: {mask(stored)} — leave empty to keep it."
            self.initial["headers"] = ""  # headers may hold credentials too

    def clean(self):
        cleaned = super().clean()
        clear = set(cleaned.get("clear_secrets") or [])
        for name in SECRET_FIELDS:
            if name in clear:
                cleaned[name] = ""
            elif not cleaned.get(name) and self._stored.get(name):
                cleaned[name] = self._stored[name]
                setattr(self.instance, name, self._stored[name])
        return cleaned


@admin.register(Channel)
class ChannelAdmin(VigilModelAdmin):
    form = ChannelForm
    list_display = ["name", "kind", "enabled", "target"]
    list_filter = ["kind", "enabled"]
    search_fields = ["name"]
    ordering = ["name"]
    actions = ["send_test"]

    @admin.display(description="target")
    def target(self, obj):
        return obj.target_masked

    def save_model(self, request, obj, form, change):
        # The house audit would record secrets in clear: record masked values instead.
        with transaction.atomic():
            before = masked_snapshot(Channel.objects.get(pk=obj.pk)) if change else {}
            obj.save()
            changes = diff(before, masked_snapshot(obj))
            if changes or not change:
                audit_record(action="update" if change else "create", obj=obj, changes=changes)

    def delete_model(self, request, obj):
        with transaction.atomic():
            audit_record(action="delete", obj=obj, changes=diff(masked_snapshot(obj), {}))
            obj.delete()

    def delete_queryset(self, request, queryset):
        with transaction.atomic():
            for obj in queryset:
                audit_record(action="delete", obj=obj, changes=diff(masked_snapshot(obj), {}))
            queryset.delete()

    @admin.action(description="Send a test notification", permissions=["change"])
    def send_test(self, request, queryset):
        import uuid

        from ..services.notifications import Target, _context, write_notifications

        sent = 0
        for channel in queryset:
            with transaction.atomic():
                context = _context(
                    event_type=EventType.CHANNEL_TEST,
                    subject=f"Test notification from Vigil to {channel.name}",
                    body=f"Sent by {request.user.get_username()} from the admin.",
                    severity=None,
                    service=None,
                    team=None,
                    links=[],
                    data={"test": True},
                    dedup_key=None,
                    action="trigger",
                    now=timezone.now(),
                )
                write_notifications(
                    event_type=EventType.CHANNEL_TEST,
                    idempotency_key=f"test:{channel.pk}:{uuid.uuid4().hex}",
                    targets=[Target(kind=channel.kind, channel=channel)],
                    context=context,
                )
            sent += 1
        messages.success(request, f"Queued a test notification to {sent} channel(s); see Notifications for the result.")


@admin.register(ContactMethod)
class ContactMethodAdmin(VigilModelAdmin):
    list_display = ["user", "position", "channel", "email"]
    list_select_related = ["user", "channel"]
    search_fields = ["user__username", "user__email", "email"]
    autocomplete_fields = ["user", "channel"]
    ordering = ["user__username", "position"]
