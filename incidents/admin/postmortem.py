from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django_object_actions import action

from governance.admin_base import ReadOnlyAdmin, VigilModelAdmin, VigilObjectActions
from governance.errors import VigilError

from .. import services
from ..choices import ACTION_ITEM_OPEN_STATUSES, ActionItemStatus, PostmortemStatus
from ..clocks import postmortem_clock
from ..models import ActionItem, Alert, AlertmanagerPayload, Incident, Postmortem, SeverityPolicy
from ..services.postmortems import ACTION_ITEM_EDITABLE, POSTMORTEM_TEXT_FIELDS
from .incident import STATE_CLASS


@admin.register(SeverityPolicy)
class SeverityPolicyAdmin(VigilModelAdmin):
    list_display = [
        "severity",
        "ack_minutes",
        "update_every_minutes",
        "postmortem_required",
        "postmortem_due_business_days",
    ]
    ordering = ["severity"]
    readonly_fields = ["severity"]
    fields = ["severity", "ack_minutes", "update_every_minutes", "postmortem_required", "postmortem_due_business_days"]

    def has_add_permission(self, request):
        return False  # one row per severity, seeded by migration

    def has_delete_permission(self, request, obj=None):
        return False


class PostmortemAddForm(forms.ModelForm):
    class Meta:
        model = Postmortem
        fields = ["incident", *POSTMORTEM_TEXT_FIELDS]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["incident"].queryset = Incident.objects.filter(postmortem__isnull=True).order_by("-declared_at")


@admin.register(Postmortem)
class PostmortemAdmin(VigilObjectActions, VigilModelAdmin):
    evidence_like = True
    list_display = ["incident", "status", "due_display", "author", "published_at"]
    list_filter = ["status"]
    list_select_related = ["incident", "author"]
    search_fields = ["incident__title", "summary"]
    ordering = ["-created_at", "-id"]
    readonly_fields = ["incident", "status", "author", "due_at", "submitted_at", "published_at", "recurrences"]
    fields = [*readonly_fields, *POSTMORTEM_TEXT_FIELDS]
    change_actions = ["submit_for_review", "return_to_draft", "publish"]

    @admin.display(description="recurrences")
    def recurrences(self, obj):
        """The closed loop: a recurrence after this incident means its action items did not prevent it."""
        later = list(obj.incident.recurrences.order_by("id"))
        if not later:
            return "No recurrence of this incident's alert group so far."
        return format_html(
            '<span class="vigil-critical">The action items did not prevent a recurrence:</span> {}',
            format_html_join(
                ", ",
                '<a href="{}">{}</a> (declared {})',
                (
                    (
                        reverse("admin:incidents_incident_change", args=[incident.pk]),
                        incident.reference,
                        timezone.localtime(incident.declared_at).strftime("%Y-%m-%d %H:%M"),
                    )
                    for incident in later
                ),
            ),
        )

    @admin.display(description="due")
    def due_display(self, obj):
        clock = postmortem_clock(obj.incident, obj)
        return format_html('<span class="{}">{}</span>', STATE_CLASS[clock.state], clock.text)

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = PostmortemAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        return PostmortemAddForm.Meta.fields if obj is None else self.fields

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        if obj.status == PostmortemStatus.PUBLISHED:
            return [*self.readonly_fields, *POSTMORTEM_TEXT_FIELDS]
        return self.readonly_fields

    def get_changeform_initial_data(self, request):
        return {"incident": request.GET.get("incident")}

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if not change:
            postmortem = services.postmortem_create(
                incident=data["incident"], actor=request.user, **{f: data.get(f, "") for f in POSTMORTEM_TEXT_FIELDS}
            )
            obj.pk = obj.id = postmortem.pk
            return
        changed = {name: data[name] for name in form.changed_data if name in POSTMORTEM_TEXT_FIELDS}
        if changed:
            try:
                services.postmortem_update(postmortem=obj.pk, actor=request.user, **changed)
            except VigilError as exc:
                messages.error(request, exc.message)

    def get_change_actions(self, request, object_id, form_url):
        postmortem = Postmortem.objects.filter(pk=object_id).only("status").first()
        if postmortem is None or not request.user.has_perm("incidents.change_postmortem"):
            return []
        return {
            PostmortemStatus.DRAFT: ["submit_for_review"],
            PostmortemStatus.IN_REVIEW: ["return_to_draft", "publish"],
        }.get(postmortem.status, [])

    def _transition(self, request, obj, service, success):
        if not request.user.has_perm("incidents.change_postmortem"):
            raise PermissionDenied
        try:
            service(postmortem=obj.pk, actor=request.user)
        except VigilError as exc:
            detail = "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.fields.items())
            self.message_user(request, f"{exc.message} {detail}".strip(), messages.ERROR)
        else:
            self.message_user(request, success, messages.SUCCESS)

    @action(label="Submit for review", methods=("POST",), button_type="form")
    def submit_for_review(self, request, obj):
        self._transition(request, obj, services.postmortem_submit, "Submitted for review.")

    @action(label="Back to draft", methods=("POST",), button_type="form")
    def return_to_draft(self, request, obj):
        self._transition(request, obj, services.postmortem_return_to_draft, "Returned to draft.")

    @action(label="Publish", methods=("POST",), button_type="form")
    def publish(self, request, obj):
        self._transition(request, obj, services.postmortem_publish, "Published.")


@admin.register(ActionItem)
class ActionItemAdmin(VigilObjectActions, VigilModelAdmin):
    evidence_like = True
    list_display = ["title", "incident", "kind", "owner", "due_display", "status"]
    list_filter = ["status", "kind"]
    list_select_related = ["incident", "owner"]
    search_fields = ["title"]
    ordering = ["due_date", "id"]
    raw_id_fields = ["incident"]
    readonly_fields = ["status", "completed_at"]
    fields = ["incident", *ACTION_ITEM_EDITABLE, "status", "completed_at"]
    change_actions = ["mark_in_progress", "mark_done", "cancel"]
    actions = ["mark_selected_done"]

    @admin.display(description="due", ordering="due_date")
    def due_display(self, obj):
        overdue = obj.status in ACTION_ITEM_OPEN_STATUSES and obj.due_date < timezone.now().date()
        return format_html('<span class="{}">{}</span>', "vigil-bad" if overdue else "", obj.due_date)

    def get_readonly_fields(self, request, obj=None):
        return [*self.readonly_fields, "incident"] if obj is not None else self.readonly_fields

    def get_changeform_initial_data(self, request):
        return {"incident": request.GET.get("incident")}

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if not change:
            item = services.action_item_create(
                incident=data["incident"],
                title=data["title"],
                kind=data["kind"],
                due_date=data["due_date"],
                owner=data.get("owner"),
                actor=request.user,
            )
            obj.pk = obj.id = item.pk
            return
        changed = {name: data[name] for name in form.changed_data if name in ACTION_ITEM_EDITABLE}
        if changed:
            services.action_item_update(item=obj.pk, actor=request.user, **changed)

    def get_change_actions(self, request, object_id, form_url):
        item = ActionItem.objects.filter(pk=object_id).only("status").first()
        if item is None or item.status not in ACTION_ITEM_OPEN_STATUSES:
            return []
        if not request.user.has_perm("incidents.change_actionitem"):
            return []
        names = ["mark_done", "cancel"]
        return ["mark_in_progress", *names] if item.status == ActionItemStatus.OPEN else names

    def _set(self, request, obj, status):
        if not request.user.has_perm("incidents.change_actionitem"):
            raise PermissionDenied
        try:
            services.action_item_set_status(item=obj.pk, status=status, actor=request.user)
        except VigilError as exc:
            self.message_user(request, exc.message, messages.ERROR)

    @action(label="In progress", methods=("POST",), button_type="form")
    def mark_in_progress(self, request, obj):
        self._set(request, obj, ActionItemStatus.IN_PROGRESS)

    @action(label="Done", methods=("POST",), button_type="form")
    def mark_done(self, request, obj):
        self._set(request, obj, ActionItemStatus.DONE)

    @action(label="Cancel", methods=("POST",), button_type="form")
    def cancel(self, request, obj):
        self._set(request, obj, ActionItemStatus.CANCELLED)

    @admin.action(description="Mark selected action items done", permissions=["change"])
    def mark_selected_done(self, request, queryset):
        for item in queryset.filter(status__in=ACTION_ITEM_OPEN_STATUSES):
            services.action_item_set_status(item=item, status=ActionItemStatus.DONE, actor=request.user)


@admin.register(Alert)
class AlertAdmin(ReadOnlyAdmin):
    list_display = ["alertname", "status", "incident", "starts_at", "ends_at", "fingerprint", "last_seen_at"]
    list_filter = ["status"]
    list_select_related = ["incident"]
    search_fields = ["fingerprint__exact", "alertname"]
    ordering = ["-starts_at", "-id"]
    readonly_fields = [f.name for f in Alert._meta.fields]


@admin.register(AlertmanagerPayload)
class AlertmanagerPayloadAdmin(ReadOnlyAdmin):
    list_display = ["id", "received_at", "alert_count", "processed_at", "attempts", "error"]
    list_filter = [("processed_at", admin.EmptyFieldListFilter)]
    ordering = ["-received_at", "-id"]
    readonly_fields = [f.name for f in AlertmanagerPayload._meta.fields]
    actions = ["reprocess"]

    def has_change_permission(self, request, obj=None):
        return False

    def has_reprocess_permission(self, request):
        # Processing a payload opens or joins incidents: the Ops Admin's (alert intake), never a viewer's.
        return self.has_view_permission(request) and request.user.has_perm("alerting.change_routingrule")

    @admin.action(description="Process selected payloads now", permissions=["reprocess"])
    def reprocess(self, request, queryset):
        done = 0
        for pk in queryset.filter(processed_at__isnull=True).values_list("pk", flat=True):
            try:
                services.alertmanager_payload_process(payload=pk)
                done += 1
            except Exception as exc:  # shown, and recorded on the row
                self.message_user(request, f"Payload {pk}: {exc}", messages.ERROR)
        self.message_user(request, f"{done} payload(s) processed.")
