"""The incident page's buttons: each calls one service; the ones that need words show a short form."""

from datetime import timedelta

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.utils import timezone
from django_object_actions import action

from governance.console import due_clock
from governance.errors import VigilError

from .. import services
from ..choices import IncidentStatus
from ..models import Incident
from .forms import NoteForm, RolesForm, SeverityForm, StatusUpdateForm

# Buttons that ask for a message: GET shows the form, POST runs the service.
WITH_FORM = {"methods": ("GET", "POST"), "button_type": "a"}


UPDATE_DUE_SOON = timedelta(minutes=5)


def next_action(incident, names: list[str], now=None) -> str | None:
    """The one primary button: Acknowledge while declared, Post update when one is due, Resolve
    while acknowledged or mitigated, Close once resolved — among the actions this person has."""
    now = now or timezone.now()
    update_due = incident.next_update_due_at is not None and incident.next_update_due_at - now <= UPDATE_DUE_SOON
    order = {
        IncidentStatus.DECLARED: ["acknowledge"],
        IncidentStatus.ACKNOWLEDGED: ["post_update", "resolve"] if update_due else ["resolve", "post_update"],
        IncidentStatus.MITIGATED: ["post_update", "resolve"] if update_due else ["resolve", "post_update"],
        IncidentStatus.RESOLVED: ["close", "post_update"],
    }.get(incident.status, [])
    return next((name for name in order if name in names), None)


def band_clocks(incident, now=None) -> list[dict]:
    """The deadlines still running, for the live clocks of the header band."""
    now = now or timezone.now()
    clocks = []
    if incident.status == IncidentStatus.DECLARED:
        clocks.append(("ack", incident.ack_due_at))
    if incident.is_open and incident.next_update_due_at is not None:
        clocks.append(("update", incident.next_update_due_at))
    result = []
    for label, due_at in clocks:
        text, late = due_clock(label, due_at, now)
        result.append({"label": label, "due_at": due_at, "late": late, "text": text})
    return result


class IncidentActionsMixin:
    """Buttons for `IncidentAdmin` (django-object-actions): the next actions for the status and role."""

    def get_change_actions(self, request, object_id, form_url):
        incident = Incident.objects.filter(pk=object_id).only("status", "next_update_due_at").first()
        if incident is None:
            return []
        user = request.user
        status = incident.status
        allowed = {
            "acknowledge": status == IncidentStatus.DECLARED and user.has_perm("incidents.acknowledge_incident"),
            "post_update": status != IncidentStatus.CLOSED and user.has_perm("incidents.post_incident_update"),
            "mitigate": status == IncidentStatus.ACKNOWLEDGED and user.has_perm("incidents.resolve_incident"),
            "resolve": status in (IncidentStatus.ACKNOWLEDGED, IncidentStatus.MITIGATED)
            and user.has_perm("incidents.resolve_incident"),
            "close": status == IncidentStatus.RESOLVED and user.has_perm("incidents.close_incident"),
            "change_severity": status != IncidentStatus.CLOSED and user.has_perm("incidents.command_incident"),
            "assign_roles": status != IncidentStatus.CLOSED and user.has_perm("incidents.command_incident"),
        }
        names = [name for name in self.change_actions if allowed[name]]
        primary = next_action(incident, names)
        return sorted(names, key=lambda name: name != primary)  # the next action first, the rest in order

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            names = [tool["name"] for tool in context.get("objectactions", [])]
            context["band_clocks"] = band_clocks(obj)
            context["update_box"] = "post_update" in names
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)

    def _require(self, request, perm: str) -> None:
        # django-object-actions' view only checks staff; the role check is ours.
        if not request.user.has_perm(perm):
            raise PermissionDenied

    def _run(self, request, success: str, call) -> None:
        try:
            call()
        except VigilError as exc:
            self.message_user(request, exc.message, messages.ERROR)
        else:
            self.message_user(request, success, messages.SUCCESS)

    def _form_page(self, request, obj, form, *, title: str, submit: str):
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": obj,
            "form": form,
            "title": f"{title}: {obj.reference}",
            "action_title": title,
            "submit_label": submit,
        }
        return TemplateResponse(request, "incidents/admin/action_form.html", context)

    def _form_action(self, request, obj, form_class, *, perm, title, submit, success, call, initial=None):
        self._require(request, perm)
        if request.method == "POST":
            form = form_class(request.POST)
            if form.is_valid():
                self._run(request, success, lambda: call(form.cleaned_data))
                return None
        else:
            form = form_class(initial=initial)
        return self._form_page(request, obj, form, title=title, submit=submit)

    @action(label="Acknowledge", description="Acknowledge: stop the escalation", methods=("POST",), button_type="form")
    def acknowledge(self, request, obj):
        self._require(request, "incidents.acknowledge_incident")
        self._run(
            request,
            f"{obj.reference} acknowledged.",
            lambda: services.incident_acknowledge(incident=obj.pk, actor=request.user),
        )

    @action(
        label="Post update",
        description="Post a status update to the timeline",
        **WITH_FORM,
    )
    def post_update(self, request, obj):
        return self._form_action(
            request,
            obj,
            StatusUpdateForm,
            perm="incidents.post_incident_update",
            title="Post update",
            submit="Post update",
            success="Status update posted.",
            call=lambda data: services.incident_post_update(
                incident=obj.pk, message=data["message"], actor=request.user
            ),
        )

    @action(label="Mitigate", description="The impact is contained", **WITH_FORM)
    def mitigate(self, request, obj):
        return self._form_action(
            request,
            obj,
            NoteForm,
            perm="incidents.resolve_incident",
            title="Mitigate",
            submit="Mark mitigated",
            success=f"{obj.reference} mitigated.",
            call=lambda data: services.incident_mitigate(incident=obj.pk, note=data["note"], actor=request.user),
        )

    @action(label="Resolve", description="The incident is over", **WITH_FORM)
    def resolve(self, request, obj):
        return self._form_action(
            request,
            obj,
            NoteForm,
            perm="incidents.resolve_incident",
            title="Resolve",
            submit="Resolve",
            success=f"{obj.reference} resolved.",
            call=lambda data: services.incident_resolve(incident=obj.pk, note=data["note"], actor=request.user),
        )

    @action(
        label="Close",
        description="Close (SEV1/SEV2 need a published postmortem)",
        **WITH_FORM,
    )
    def close(self, request, obj):
        return self._form_action(
            request,
            obj,
            NoteForm,
            perm="incidents.close_incident",
            title="Close",
            submit="Close incident",
            success=f"{obj.reference} closed.",
            call=lambda data: services.incident_close(incident=obj.pk, note=data["note"], actor=request.user),
        )

    @action(label="Change severity", description="Re-classify the incident", **WITH_FORM)
    def change_severity(self, request, obj):
        return self._form_action(
            request,
            obj,
            SeverityForm,
            perm="incidents.command_incident",
            title="Change severity",
            submit="Change severity",
            success="Severity changed.",
            initial={"severity": obj.severity},
            call=lambda data: services.incident_change_severity(
                incident=obj.pk, severity=data["severity"], reason=data["reason"], actor=request.user
            ),
        )

    @action(
        label="Assign roles",
        description="Commander, communications lead, scribe",
        **WITH_FORM,
    )
    def assign_roles(self, request, obj):
        return self._form_action(
            request,
            obj,
            RolesForm,
            perm="incidents.command_incident",
            title="Assign roles",
            submit="Assign",
            success="Roles assigned.",
            initial={
                "commander": obj.commander_id,
                "communications_lead": obj.communications_lead_id,
                "scribe": obj.scribe_id,
            },
            call=lambda data: services.incident_assign_roles(incident=obj.pk, actor=request.user, **data),
        )
