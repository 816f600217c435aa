"""Executions in the admin: the change page is the operator's runner (one step at a time)."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from governance.admin_base import VigilModelAdmin
from governance.errors import VigilError

from .. import services
from ..choices import OPEN_EXECUTION_STATUSES, ExecutionPurpose
from ..models import Runbook, RunbookExecution
from ..rendering import rendered_steps
from ..selectors import runbooks_for_incident
from .forms import AbandonForm, StepForm

RUN_PERMISSION = "runbooks.run_runbook"


class OverdueFilter(admin.SimpleListFilter):
    title = "deadline"
    parameter_name = "overdue"

    def lookups(self, request, model_admin):
        return [("yes", "Overdue")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(overdue_at__isnull=False)
        return queryset


@admin.register(RunbookExecution)
class RunbookExecutionAdmin(VigilModelAdmin):
    evidence_like = True
    list_display = [
        "__str__",
        "purpose",
        "incident_display",
        "status",
        "result",
        "assignee",
        "scheduled_for",
        "deadline_display",
        "created_at",
    ]
    list_filter = ["status", "purpose", OverdueFilter, "result"]
    # Runbook, version, incident and assignee come joined: one query for the page.
    list_select_related = ["runbook", "version", "incident", "assignee"]
    search_fields = ["runbook__title", "runbook__slug"]
    ordering = ["-created_at", "-id"]

    @admin.display(description="incident")
    def incident_display(self, obj):
        return obj.incident.reference if obj.incident_id else "—"

    @admin.display(description="deadline")
    def deadline_display(self, obj):
        if obj.due_at is None:
            return "—"
        if obj.overdue_at and obj.is_open:
            return format_html('<span class="vigil-bad">overdue since {}</span>', _when(obj.due_at))
        return _when(obj.due_at)

    def has_add_permission(self, request):
        return False  # started from an incident, a drill or the procedure schedule

    def has_change_permission(self, request, obj=None):
        return False  # step outcomes go through the runner's buttons, never a form

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("start/", view(require_POST(self.start_view)), name="runbooks_runbookexecution_start"),
            path("<int:pk>/step/", view(require_POST(self.step_view)), name="runbooks_runbookexecution_step"),
            path(
                "<int:pk>/complete/", view(require_POST(self.complete_view)), name="runbooks_runbookexecution_complete"
            ),
            path("<int:pk>/abandon/", view(require_POST(self.abandon_view)), name="runbooks_runbookexecution_abandon"),
            *super().get_urls(),
        ]

    # --- the runner -------------------------------------------------------------------------
    def change_view(self, request, object_id, form_url="", extra_context=None):
        execution = get_object_or_404(
            RunbookExecution.objects.select_related("runbook", "version", "incident", "assignee", "started_by"),
            pk=object_id,
        )
        if not self.has_view_permission(request, execution):
            raise PermissionDenied
        results = {r.position: r for r in execution.step_results.all()}
        steps = rendered_steps(execution.version)
        for step in steps:
            step["result"] = results.get(step["position"])
        can_run = request.user.has_perm(RUN_PERMISSION) and execution.is_open
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": execution,
            "execution": execution,
            "title": str(execution),
            "steps": steps,
            "can_run": can_run,
            "next_step": next((s["position"] for s in steps if s["result"] is None), None),
            "all_recorded": all(s["result"] is not None for s in steps),
            "incident_url": reverse("admin:incidents_incident_change", args=[execution.incident_id])
            if execution.incident_id
            else "",
            "has_view_permission": True,
        }
        return TemplateResponse(request, "runbooks/admin/execution.html", context)

    def _back(self, execution_pk: int):
        return HttpResponseRedirect(reverse("admin:runbooks_runbookexecution_change", args=[execution_pk]))

    def _run(self, request, success: str, call) -> bool:
        try:
            call()
        except VigilError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return False
        self.message_user(request, success, messages.SUCCESS)
        return True

    def _require_run(self, request):
        if not request.user.has_perm(RUN_PERMISSION):
            raise PermissionDenied

    def start_view(self, request):
        """POST runbook=<id>&incident=<id> (the incident page's "Start" button) or purpose=drill."""
        self._require_run(request)
        from incidents.models import Incident

        runbook_id = request.POST.get("runbook") or request.GET.get("runbook")
        incident_id = request.POST.get("incident") or request.GET.get("incident")
        if not (runbook_id or "").isdecimal():
            self.message_user(request, "Choose a runbook to start.", messages.ERROR)
            return HttpResponseRedirect(reverse("admin:runbooks_runbook_changelist"))
        runbook = get_object_or_404(Runbook.objects.select_related("current_version"), pk=int(runbook_id))
        incident = None
        if incident_id:
            if not incident_id.isdecimal():
                self.message_user(request, "Unknown incident.", messages.ERROR)
                return HttpResponseRedirect(reverse("admin:runbooks_runbook_changelist"))
            incident = get_object_or_404(Incident, pk=int(incident_id))
            back = reverse("admin:incidents_incident_change", args=[incident.pk])
            if runbook.pk not in {r.pk for r in runbooks_for_incident(incident)}:
                self.message_user(request, f"{runbook} does not apply to {incident.reference}.", messages.ERROR)
                return HttpResponseRedirect(back)
        else:
            # A rehearsal outside an incident (a drill) is the runbook owners' call, not a responder's.
            if not request.user.has_perm("runbooks.change_runbook"):
                raise PermissionDenied
            back = reverse("admin:runbooks_runbook_change", args=[runbook.pk])
        if runbook.current_version_id is None:
            self.message_user(request, f"{runbook} has no published version.", messages.ERROR)
            return HttpResponseRedirect(back)
        if incident is not None:
            # A second click (or a second responder) joins the run in progress instead of starting another.
            running = RunbookExecution.objects.filter(
                incident=incident, runbook=runbook, status__in=OPEN_EXECUTION_STATUSES
            ).first()
            if running is not None:
                self.message_user(request, f"{runbook} is already running for {incident.reference}.", messages.INFO)
                return self._back(running.pk)
        started = {}

        def start():
            started["execution"] = services.execution_start(
                version=runbook.current_version,
                purpose=ExecutionPurpose.INCIDENT if incident else ExecutionPurpose.DRILL,
                incident=incident,
                actor=request.user,
            )

        if not self._run(request, f"{runbook} v{runbook.current_version.number} started.", start):
            return HttpResponseRedirect(back)
        return self._back(started["execution"].pk)

    def step_view(self, request, pk):
        self._require_run(request)
        execution = get_object_or_404(RunbookExecution, pk=pk)
        form = StepForm(request.POST)
        if not form.is_valid():
            errors = "; ".join(f"{name}: {' '.join(msgs)}" for name, msgs in form.errors.items())
            self.message_user(request, f"Not recorded: {errors}", messages.ERROR)
            return self._back(pk)
        data = form.cleaned_data
        self._run(
            request,
            f"Step {data['step']}: {data['outcome']}.",
            lambda: services.execution_step_record(
                execution=execution,
                step=data["step"],
                outcome=data["outcome"],
                output=data["output"],
                actor=request.user,
            ),
        )
        return self._back(pk)

    def complete_view(self, request, pk):
        self._require_run(request)
        execution = get_object_or_404(RunbookExecution, pk=pk)
        self._run(
            request,
            "Execution completed.",
            lambda: services.execution_complete(
                execution=execution, note=request.POST.get("note", ""), actor=request.user
            ),
        )
        return self._back(pk)

    def abandon_view(self, request, pk):
        self._require_run(request)
        execution = get_object_or_404(RunbookExecution, pk=pk)
        form = AbandonForm(request.POST)
        if not form.is_valid():
            self.message_user(request, "Say why the execution is abandoned.", messages.ERROR)
            return self._back(pk)
        self._run(
            request,
            "Execution abandoned.",
            lambda: services.execution_abandon(
                execution=execution, reason=form.cleaned_data["reason"], actor=request.user
            ),
        )
        return self._back(pk)


def _when(value):
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M")
