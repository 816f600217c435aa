"""Targets with their freshness, runs, breaches, and drills run step by step from buttons."""

import datetime as dt

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django_object_actions import action

from governance.admin_base import EstimatedCountPaginator, VigilModelAdmin, VigilObjectActions
from governance.errors import VigilError

from . import services
from .choices import DrillMode, DrillStatus, RunStatus
from .models import BackupRun, BackupTarget, DrillActionItem, DrillCheck, DrillEvidence, RestoreDrill, RpoBreach
from .selectors import next_drill_due_by_target


def ago(when: dt.datetime | None, now: dt.datetime | None = None) -> str:
    if when is None:
        return "never"
    seconds = ((now or timezone.now()) - when).total_seconds()
    return f"{_span(abs(seconds))} {'ago' if seconds >= 0 else 'from now'}"


def _span(seconds: float) -> str:
    minutes = int(seconds // 60)
    if minutes < 120:
        return f"{minutes} min"
    hours = minutes // 60
    return f"{hours} h" if hours < 72 else f"{hours // 24} d"


def freshness_text(target: BackupTarget, now: dt.datetime | None = None) -> tuple[str, bool]:
    """("last good backup 3 h ago, RPO 1 h: BREACHED", breached)."""
    now = now or timezone.now()
    rpo = f"{target.rpo_minutes // 60} h" if target.rpo_minutes % 60 == 0 else f"{target.rpo_minutes} min"
    breached = target.rpo_breached_since is not None or (
        target.enabled and now > (target.last_success_at or target.created_at) + target.rpo
    )
    text = f"last good backup {ago(target.last_success_at, now)}, RPO {rpo}"
    return (f"{text}: BREACHED", True) if breached else (f"{text}: ok", False)


POST_BUTTON = {"methods": ("POST",), "button_type": "form"}
WITH_FORM = {"methods": ("GET", "POST"), "button_type": "a"}


def _require(request, perm: str) -> None:
    # django-object-actions' view only checks staff; the role check is ours.
    if not request.user.has_perm(perm):
        raise PermissionDenied


def _minutes(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


@admin.register(BackupTarget)
class BackupTargetAdmin(VigilObjectActions, VigilModelAdmin):
    change_form_template = "admin/vigil/change_form.html"  # the next step as the primary button
    list_display = ["name", "slug", "service", "kind", "freshness", "next_drill", "automated_drills", "enabled"]
    list_filter = ["kind", "enabled", "automated_drills"]
    list_select_related = ["service"]
    search_fields = ["slug", "name", "service__slug"]
    ordering = ["slug"]
    autocomplete_fields = ["service", "owner", "owner_team"]
    readonly_fields = ["freshness", "next_drill", "last_success_at", "rpo_breached_since"]
    fieldsets = [
        (None, {"fields": ["slug", "name", "service", "kind", "owner", "owner_team", "description"]}),
        ("Objectives", {"fields": ["rpo_minutes", "rto_minutes", "expected_schedule", "retention_days"]}),
        (
            "Drills",
            {
                "fields": [
                    "drill_interval_days",
                    "restore_runbook",
                    "automated_drills",
                    "canary_query",
                    "canary_expected",
                ]
            },
        ),
        ("On breach", {"fields": ["open_incident_on_breach", "incident_severity"]}),
        ("State", {"fields": ["enabled", "freshness", "next_drill", "last_success_at", "rpo_breached_since"]}),
    ]
    change_actions = ["start_drill", "run_automated_drill"]

    def get_changelist_instance(self, request):
        changelist = super().get_changelist_instance(request)
        # One grouped query for every row's next drill, not one per row.
        self._due = next_drill_due_by_target(list(changelist.result_list))
        return changelist

    @admin.display(description="freshness")
    def freshness(self, obj):
        if obj.pk is None:
            return "—"
        text, breached = freshness_text(obj)
        return format_html('<span class="{}">{}</span>', "vigil-bad" if breached else "vigil-ok", text)

    @admin.display(description="next drill")
    def next_drill(self, obj):
        if obj.pk is None:
            return "—"
        due = getattr(self, "_due", {}).get(obj.pk) or next_drill_due_by_target([obj])[obj.pk]
        late = due < timezone.now()
        label = f"late by {ago(due).removesuffix(' ago')}" if late else f"due in {ago(due).removesuffix(' from now')}"
        return format_html('<span class="{}">{}</span>', "vigil-warning" if late else "", label)

    def save_model(self, request, obj, form, change):
        data = {name: form.cleaned_data[name] for name in form.changed_data if name in services.runs.TARGET_EDITABLE}
        try:
            if change:
                services.backup_target_update(target=obj, **data)
            else:
                fields = {k: form.cleaned_data[k] for k in services.runs.TARGET_EDITABLE if k in form.cleaned_data}
                for key in ("name", "service", "kind"):
                    fields.pop(key, None)
                created = services.backup_target_create(
                    slug=form.cleaned_data["slug"],
                    name=form.cleaned_data["name"],
                    service=form.cleaned_data["service"],
                    kind=form.cleaned_data["kind"],
                    **{k: v for k, v in fields.items() if k not in ("rpo_minutes", "rto_minutes")},
                    rpo_minutes=form.cleaned_data["rpo_minutes"],
                    rto_minutes=form.cleaned_data["rto_minutes"],
                )
                obj.pk = obj.id = created.pk
        except VigilError as exc:
            messages.error(request, f"{exc.message} {exc.fields or ''}")

    def get_change_actions(self, request, object_id, form_url):
        if not request.user.has_perm("backups.run_restoredrill"):
            return []
        target = BackupTarget.objects.filter(pk=object_id).only("automated_drills").first()
        if target is None:
            return []
        return ["start_drill", "run_automated_drill"] if target.automated_drills else ["start_drill"]

    @action(
        label="Start a manual drill", description="Restore the newest good backup following the runbook", **POST_BUTTON
    )
    def start_drill(self, request, obj):
        _require(request, "backups.run_restoredrill")
        try:
            drill = services.drill_start(target=obj, actor=request.user, mode=DrillMode.MANUAL)
        except VigilError as exc:
            messages.error(request, exc.message)
            return None
        messages.success(request, "Drill started: the clock runs until you mark it verified.")
        return HttpResponseRedirect(reverse("admin:backups_restoredrill_change", args=[drill.pk]))

    @action(label="Run automated drill now", description="Restore into a scratch database and check it", **POST_BUTTON)
    def run_automated_drill(self, request, obj):
        _require(request, "backups.run_restoredrill")
        try:
            drill = services.drill_run_automated(target=obj)
        except VigilError as exc:
            messages.error(request, exc.message)
            return None
        level = messages.SUCCESS if drill.status == DrillStatus.PASSED else messages.ERROR
        messages.add_message(
            request, level, f"Drill {drill.status}: measured RTO {_minutes(drill.measured_rto_seconds)}."
        )
        return HttpResponseRedirect(reverse("admin:backups_restoredrill_change", args=[drill.pk]))


@admin.register(BackupRun)
class BackupRunAdmin(VigilModelAdmin):
    evidence_like = True
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    list_display = ["target", "external_id", "status", "kind", "started_at", "duration", "recovery_point_at", "tool"]
    list_filter = ["status", "kind", "tool", "source"]
    list_select_related = ["target"]
    search_fields = ["external_id", "target__slug"]
    ordering = ["-started_at", "-id"]
    readonly_fields = [f.name for f in BackupRun._meta.fields if f.name not in ("id",)]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="duration")
    def duration(self, obj):
        if obj.finished_at is None:
            return "running" if obj.status == RunStatus.RUNNING else "—"
        return _minutes((obj.finished_at - obj.started_at).total_seconds())


@admin.register(RpoBreach)
class RpoBreachAdmin(VigilModelAdmin):
    evidence_like = True
    list_display = ["target", "detected_at", "newest_success_at", "cleared_at", "cleared_by_run", "incident"]
    list_filter = [("cleared_at", admin.EmptyFieldListFilter)]
    list_select_related = ["target", "cleared_by_run", "incident"]
    ordering = ["-detected_at", "-id"]
    readonly_fields = ["target", "detected_at", "newest_success_at", "cleared_at", "cleared_by_run", "incident"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class DrillCheckInline(admin.TabularInline):
    model = DrillCheck
    fields = ["name", "expected", "actual", "passed", "detail", "checked_at"]
    readonly_fields = ["checked_at"]
    extra = 0
    can_delete = False

    def has_change_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request, obj=None):
        return obj is not None and obj.status == DrillStatus.RUNNING and request.user.has_perm("backups.add_drillcheck")


class DrillEvidenceInline(admin.TabularInline):
    model = DrillEvidence
    fields = ["file", "description", "sha256", "size_bytes", "uploaded_by", "uploaded_at"]
    readonly_fields = ["sha256", "size_bytes", "uploaded_by", "uploaded_at"]
    extra = 0
    can_delete = False
    verbose_name_plural = "evidence (SHA-256 recorded on upload)"

    def has_change_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request, obj=None):
        return obj is not None and request.user.has_perm("backups.add_drillevidence")


class DrillActionItemInline(admin.TabularInline):
    model = DrillActionItem
    fields = ["title", "owner", "due_date", "status"]
    extra = 0
    can_delete = False
    autocomplete_fields = ["owner"]


class SignOffForm(forms.Form):
    findings = forms.CharField(widget=forms.Textarea, required=False)


@admin.register(RestoreDrill)
class RestoreDrillAdmin(VigilObjectActions, VigilModelAdmin):
    change_form_template = "admin/vigil/change_form.html"  # the next step as the primary button
    evidence_like = True
    list_display = [
        "id",
        "target",
        "mode",
        "status",
        "started_at",
        "rto_figure",
        "rpo_figure",
        "checks_summary",
        "signed_off_by",
    ]
    list_filter = ["status", "mode", "target"]
    list_select_related = ["target", "signed_off_by"]
    search_fields = ["target__slug", "findings"]
    ordering = ["-created_at", "-id"]
    autocomplete_fields = ["participants"]
    inlines = [DrillCheckInline, DrillEvidenceInline, DrillActionItemInline]
    readonly_fields = [
        "target",
        "backup_run",
        "mode",
        "status",
        "runbook_link",
        "scheduled_for",
        "started_at",
        "restored_at",
        "verified_at",
        "rto_figure",
        "rpo_figure",
        "failure_reason",
        "scratch_name",
        "started_by",
        "signed_off_by",
        "signed_off_at",
    ]
    fields = [*readonly_fields, "participants", "findings"]
    change_actions = ["start", "mark_restored", "mark_verified", "sign_off"]

    def get_queryset(self, request):
        from django.db.models import Count, Q

        return (
            super()
            .get_queryset(request)
            .annotate(
                check_total=Count("checks", distinct=True),
                check_failed=Count("checks", filter=Q(checks__passed=False), distinct=True),
            )
        )

    @admin.display(description="measured RTO (target)")
    def rto_figure(self, obj):
        if obj.measured_rto_seconds is None:
            return "—"
        ok = "vigil-ok" if obj.rto_met else "vigil-bad"
        return format_html(
            '<span class="{}">{} (target {} min)</span>', ok, _minutes(obj.measured_rto_seconds), obj.rto_target_minutes
        )

    @admin.display(description="achieved RPO (target)")
    def rpo_figure(self, obj):
        if obj.achieved_rpo_seconds is None:
            return "—"
        ok = "vigil-ok" if obj.rpo_met else "vigil-bad"
        return format_html(
            '<span class="{}">{} (target {} min)</span>', ok, _minutes(obj.achieved_rpo_seconds), obj.rpo_target_minutes
        )

    @admin.display(description="checks")
    def checks_summary(self, obj):
        total = getattr(obj, "check_total", None)
        if not total:
            return "—"
        failed = obj.check_failed
        return format_html(
            '<span class="{}">{}</span>', "vigil-bad" if failed else "vigil-ok", f"{total - failed}/{total} passed"
        )

    @admin.display(description="runbook followed")
    def runbook_link(self, obj):
        if obj.runbook_execution_id:
            url = reverse("admin:runbooks_runbookexecution_change", args=[obj.runbook_execution_id])
            return format_html('<a href="{}">{} — record each step there</a>', url, obj.runbook_version)
        if obj.target.restore_runbook_id is None:
            return "The target has no restore runbook."
        return "Starts when the drill starts."

    def get_change_actions(self, request, object_id, form_url):
        drill = RestoreDrill.objects.filter(pk=object_id).only("status", "restored_at", "signed_off_at").first()
        if drill is None:
            return []
        names = []
        if request.user.has_perm("backups.run_restoredrill"):
            if drill.status in (DrillStatus.SCHEDULED, DrillStatus.OVERDUE):
                names.append("start")
            if drill.status == DrillStatus.RUNNING:
                names += ["mark_restored"] if drill.restored_at is None else ["mark_verified"]
        if (
            request.user.has_perm("backups.signoff_restoredrill")
            and drill.status in (DrillStatus.PASSED, DrillStatus.FAILED)
            and drill.signed_off_at is None
        ):
            names.append("sign_off")
        return names

    def _call(self, request, func, success: str):
        try:
            with transaction.atomic():
                func()
        except VigilError as exc:
            messages.error(request, exc.message)
            return
        messages.success(request, success)

    @action(label="Start", description="Start the clock: restore the newest good backup", **POST_BUTTON)
    def start(self, request, obj):
        _require(request, "backups.run_restoredrill")
        self._call(request, lambda: services.drill_start(drill=obj, actor=request.user), "Drill started.")

    @action(label="Mark restored", description="The restore finished", **POST_BUTTON)
    def mark_restored(self, request, obj):
        _require(request, "backups.run_restoredrill")
        self._call(request, lambda: services.drill_mark_restored(drill=obj, actor=request.user), "Restore recorded.")

    @action(label="Mark verified", description="The checks are recorded: stop the clock", **POST_BUTTON)
    def mark_verified(self, request, obj):
        _require(request, "backups.run_restoredrill")
        self._call(request, lambda: services.drill_complete(drill=obj, actor=request.user), "Drill verified.")

    @action(label="Sign off", description="A second person confirms the drill and its findings", **WITH_FORM)
    def sign_off(self, request, obj):
        _require(request, "backups.signoff_restoredrill")
        form = SignOffForm(request.POST or None, initial={"findings": obj.findings})
        if request.method == "POST" and "findings" in request.POST and form.is_valid():
            self._call(
                request,
                lambda: services.drill_sign_off(drill=obj, actor=request.user, findings=form.cleaned_data["findings"]),
                "Drill signed off.",
            )
            return HttpResponseRedirect(reverse("admin:backups_restoredrill_change", args=[obj.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": f"Sign off {obj}",
            "form": form,
            "drill": obj,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "backups/sign_off.html", context)

    def save_formset(self, request, form, formset, change):
        """Checks and evidence go through the services (hash, audit); action items through the house audit."""
        drill = form.instance
        # The admin's change message reads these; the services below do the writing.
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        if formset.model is DrillCheck:
            for inline_form in formset.forms:
                if inline_form.has_changed() and not inline_form.instance.pk:
                    data = inline_form.cleaned_data
                    check = services.drill_add_check(
                        drill=drill.pk,
                        name=data["name"],
                        passed=data.get("passed"),
                        expected=data.get("expected", ""),
                        actual=data.get("actual", ""),
                        detail=data.get("detail", ""),
                        actor=request.user,
                    )
                    formset.new_objects.append(check)
            return
        if formset.model is DrillEvidence:
            for inline_form in formset.forms:
                if inline_form.has_changed() and not inline_form.instance.pk and inline_form.cleaned_data.get("file"):
                    evidence = services.drill_add_evidence(
                        drill=drill.pk,
                        file=inline_form.cleaned_data["file"],
                        description=inline_form.cleaned_data.get("description", ""),
                        actor=request.user,
                    )
                    formset.new_objects.append(evidence)
            return
        if formset.model is DrillActionItem:
            for inline_form in formset.forms:
                if not inline_form.has_changed():
                    continue
                data = inline_form.cleaned_data
                if inline_form.instance.pk:
                    from governance.audit import audit_update

                    item = inline_form.instance
                    audit_update(
                        DrillActionItem.objects.get(pk=item.pk),
                        action="drill.action_item_update",
                        editable=("title", "owner", "due_date", "status"),
                        fields={k: data[k] for k in inline_form.changed_data},
                    )
                else:
                    item = services.drill_add_action_item(
                        drill=drill.pk, title=data["title"], owner=data.get("owner"), due_date=data.get("due_date")
                    )
                    formset.new_objects.append(item)
            return
        super().save_formset(request, form, formset, change)

    def has_add_permission(self, request):
        return False  # drills start from a target's page (button) or the scheduler
