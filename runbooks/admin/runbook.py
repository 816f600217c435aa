"""Runbooks in the admin: metadata in the form, content through versions, buttons for the acts."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django_object_actions import action

from governance.admin_base import VigilModelAdmin, VigilObjectActions
from governance.errors import VigilError

from .. import services
from ..choices import ExecutionPurpose, RunbookStatus
from ..diff import version_diff_html
from ..models import Runbook, RunbookVersion
from ..rendering import render_version
from ..selectors import coverage, overdue_review_ids
from ..services.runbooks import latest_version, self_approval_allowed
from .forms import EditContentForm, RetireForm, ReviewForm, RunbookAddForm, RunbookForm

WITH_FORM = {"methods": ("GET", "POST"), "button_type": "a"}
HISTORY_LIMIT = 50


class ReviewStateFilter(admin.SimpleListFilter):
    title = "review"
    parameter_name = "review"

    def lookups(self, request, model_admin):
        return [("overdue", "Overdue for review"), ("current", "Reviewed in time")]

    def queryset(self, request, queryset):
        if self.value() == "overdue":
            return queryset.filter(pk__in=overdue_review_ids())
        if self.value() == "current":
            return queryset.exclude(pk__in=overdue_review_ids())
        return queryset


class ScheduledFilter(admin.SimpleListFilter):
    title = "scheduled procedure"
    parameter_name = "scheduled"

    def lookups(self, request, model_admin):
        return [("yes", "Has a cadence"), ("no", "No cadence")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.exclude(cadence="")
        if self.value() == "no":
            return queryset.filter(cadence="")
        return queryset


def _run(modeladmin, request, success: str, call) -> bool:
    try:
        call()
    except VigilError as exc:
        modeladmin.message_user(request, exc.message, messages.ERROR)
        return False
    modeladmin.message_user(request, success, messages.SUCCESS)
    return True


@admin.register(Runbook)
class RunbookAdmin(VigilObjectActions, VigilModelAdmin):
    evidence_like = True  # runbooks are retired, never deleted: executions and reviews point at them
    change_form_template = "admin/vigil/change_form.html"
    change_list_template = "runbooks/admin/runbook_changelist.html"
    form = RunbookForm
    list_display = [
        "title",
        "slug",
        "service",
        "status",
        "version_display",
        "review_display",
        "cadence",
        "owner_team",
    ]
    list_filter = ["status", ReviewStateFilter, ScheduledFilter, "service", "owner_team"]
    # One query for the page however many rows: service, owner and current version come joined.
    list_select_related = ["service", "owner_team", "current_version"]
    search_fields = ["title", "slug"]
    ordering = ["title", "id"]
    readonly_fields = [
        "slug",
        "status",
        "version_display",
        "review_display",
        "last_reviewed_at",
        "content_panel",
        "history_panel",
        "reviews_panel",
        "executions_panel",
    ]
    fieldsets = [
        (None, {"fields": ["title", "slug", "status", "version_display", "review_display"]}),
        (
            "Applies to",
            {"fields": ["service", "severities", "alert_names", "owner_team", "review_interval_days"]},
        ),
        (
            "Scheduled procedure",
            {
                "fields": [
                    "cadence",
                    "cadence_timezone",
                    "procedure_deadline_hours",
                    "procedure_assignee",
                    "assign_on_call",
                ],
                "classes": ["collapse"],
            },
        ),
        ("Current content", {"fields": ["content_panel"]}),
        ("Versions", {"fields": ["history_panel"]}),
        ("Reviews", {"fields": ["last_reviewed_at", "reviews_panel"], "classes": ["collapse"]}),
        ("Executions", {"fields": ["executions_panel"], "classes": ["collapse"]}),
    ]
    autocomplete_fields = []
    change_actions = ["edit_content", "publish", "compare", "review", "rehearse", "retire"]
    changelist_actions = []

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("service", "owner_team", "current_version")

    # --- list -------------------------------------------------------------------------
    def changelist_view(self, request, extra_context=None):
        # One set of overdue ids per page, not one due-date computation query per row.
        self._overdue = overdue_review_ids()
        extra_context = {**(extra_context or {}), "coverage_url": reverse("admin:runbooks_runbook_coverage")}
        return super().changelist_view(request, extra_context)

    @admin.display(description="version")
    def version_display(self, obj):
        if obj.current_version_id is None:
            return "— (draft only)"
        return f"v{obj.current_version.number}"

    @admin.display(description="review due")
    def review_display(self, obj):
        due = obj.review_due_at
        if due is None or obj.status == RunbookStatus.RETIRED:
            return "—"
        overdue = obj.pk in getattr(self, "_overdue", set()) or due <= timezone.now()
        return format_html(
            '<span class="{}">{}{}</span>',
            "vigil-bad" if overdue else "",
            "OVERDUE since " if overdue else "",
            timezone.localtime(due).strftime("%Y-%m-%d"),
        )

    # --- forms -------------------------------------------------------------------------
    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = RunbookAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [
                (None, {"fields": ["title", "slug", "service", "severities", "alert_names", "owner_team"]}),
                ("Content", {"fields": ["body", "change_summary"]}),
                (
                    "Review and schedule",
                    {
                        "fields": [
                            "review_interval_days",
                            "cadence",
                            "cadence_timezone",
                            "procedure_deadline_hours",
                            "procedure_assignee",
                            "assign_on_call",
                        ]
                    },
                ),
            ]
        return self.fieldsets

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        if obj.status == RunbookStatus.RETIRED:
            return [*self.readonly_fields, *services.runbooks.RUNBOOK_EDITABLE]
        return self.readonly_fields

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        editable = services.runbooks.RUNBOOK_EDITABLE
        if not change:
            runbook = services.runbook_create(
                slug=data["slug"],
                body=data["body"],
                change_summary=data["change_summary"],
                actor=request.user,
                **{name: data[name] for name in editable if name in data},
            )
            obj.pk = obj.id = runbook.pk
            return
        changed = {name: data[name] for name in form.changed_data if name in editable}
        if changed:
            try:
                services.runbook_update(runbook=obj, actor=request.user, **changed)
            except VigilError as exc:
                messages.error(request, exc.message)

    def save_related(self, request, form, formsets, change):
        pass  # no inlines; the service wrote everything

    # --- read-only panels ---------------------------------------------------------------------
    @admin.display(description="content")
    def content_panel(self, obj):
        version = obj.current_version or latest_version(obj)
        if version is None:
            return "No content yet."
        state = "published" if version.is_published else "draft"
        return format_html("<p><strong>v{} ({})</strong></p>{}", version.number, state, render_version(version))

    @admin.display(description="versions")
    def history_panel(self, obj):
        versions = list(obj.versions.order_by("-number")[:HISTORY_LIMIT])
        rows = format_html_join(
            "",
            '<tr><td><a href="{}">v{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>'
            "<td><code>{}</code></td></tr>",
            (
                (
                    reverse("admin:runbooks_runbookversion_change", args=[v.pk]),
                    v.number,
                    timezone.localtime(v.published_at).strftime("%Y-%m-%d %H:%M") if v.published_at else "draft",
                    v.author_label or "—",
                    v.approved_by_label or "—",
                    v.change_summary,
                    v.content_sha256[:12],
                )
                for v in versions
            ),
        )
        return format_html(
            '<table class="vigil-table" id="runbook-versions"><thead><tr><th>Version</th><th>Published</th>'
            "<th>Author</th><th>Approved by</th><th>Change</th><th>SHA-256</th></tr></thead><tbody>{}</tbody></table>",
            rows,
        )

    @admin.display(description="reviews")
    def reviews_panel(self, obj):
        reviews = list(obj.reviews.order_by("-reviewed_at", "-id")[:HISTORY_LIMIT])
        if not reviews:
            return "Never reviewed; the review clock runs from the first publication."
        return format_html_join(
            "",
            "<div>{} · {} · {} {}</div>",
            (
                (
                    timezone.localtime(r.reviewed_at).strftime("%Y-%m-%d"),
                    r.reviewer_label,
                    r.get_outcome_display(),
                    r.notes,
                )
                for r in reviews
            ),
        )

    @admin.display(description="executions")
    def executions_panel(self, obj):
        executions = list(obj.executions.select_related("version", "incident").order_by("-created_at", "-id")[:20])
        if not executions:
            return "Never run."
        return format_html_join(
            "",
            '<div><a href="{}">#{}</a> v{} · {} · {} {}</div>',
            (
                (
                    reverse("admin:runbooks_runbookexecution_change", args=[e.pk]),
                    e.pk,
                    e.version.number,
                    e.get_purpose_display(),
                    e.get_status_display(),
                    e.incident.reference if e.incident_id else "",
                )
                for e in executions
            ),
        )

    # --- buttons -------------------------------------------------------------------------------
    def get_change_actions(self, request, object_id, form_url):
        runbook = Runbook.objects.filter(pk=object_id).first()
        if runbook is None:
            return []
        user = request.user
        latest = latest_version(runbook)
        retired = runbook.status == RunbookStatus.RETIRED
        allowed = {
            "edit_content": not retired and user.has_perm("runbooks.change_runbook"),
            "publish": not retired
            and latest is not None
            and not latest.is_published
            and user.has_perm("runbooks.publish_runbook")
            # an author sees no Publish on their own draft unless self-approval is allowed
            and (latest.author_id != user.pk or self_approval_allowed()),
            "compare": runbook.versions.count() > 1,
            "review": not retired
            and runbook.current_version_id is not None
            and user.has_perm("runbooks.review_runbook"),
            "rehearse": not retired
            and runbook.current_version_id is not None
            and user.has_perm("runbooks.change_runbook")
            and user.has_perm("runbooks.run_runbook"),
            "retire": not retired and user.has_perm("runbooks.change_runbook"),
        }
        return [name for name in self.change_actions if allowed[name]]

    def _require(self, request, perm):
        if not request.user.has_perm(perm):
            raise PermissionDenied

    def _form_page(self, request, obj, form, *, title, submit, intro=""):
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": obj,
            "form": form,
            "title": f"{title}: {obj}",
            "action_title": title,
            "submit_label": submit,
            "intro": intro,
        }
        return TemplateResponse(request, "runbooks/admin/action_form.html", context)

    @action(label="Edit content", description="A new draft version; the published one stays as it is", **WITH_FORM)
    def edit_content(self, request, obj):
        self._require(request, "runbooks.change_runbook")
        if request.method == "POST":
            form = EditContentForm(request.POST)
            if form.is_valid():
                data = form.cleaned_data
                ok = _run(
                    self,
                    request,
                    "Saved as a draft version; a publisher approves it.",
                    lambda: services.runbook_edit(
                        runbook=obj, body=data["body"], change_summary=data["change_summary"], actor=request.user
                    ),
                )
                if ok:
                    return None
        else:
            latest = latest_version(obj)
            form = EditContentForm(initial={"body": latest.body if latest else ""})
        return self._form_page(
            request,
            obj,
            form,
            title="Edit content",
            submit="Save draft",
            intro="Saving makes a new draft version (or revises the current draft); published versions never change.",
        )

    @action(label="Publish", description="Approve the latest draft version", methods=("POST",), button_type="form")
    def publish(self, request, obj):
        self._require(request, "runbooks.publish_runbook")
        latest = latest_version(obj)
        if latest is None:
            raise Http404
        _run(
            self,
            request,
            f"v{latest.number} published.",
            lambda: services.version_publish(version=latest, actor=request.user),
        )

    @action(
        label="Compare versions", description="Side-by-side diff of two versions", methods=("GET",), button_type="a"
    )
    def compare(self, request, obj):
        # The versions' text is the runbook's content: only those who may read runbooks see it.
        if not self.has_view_permission(request, obj):
            raise PermissionDenied
        versions = list(obj.versions.order_by("number"))
        by_number = {v.number: v for v in versions}

        def pick(name, default):
            try:
                return by_number[int(request.GET.get(name, default))]
            except (KeyError, ValueError, TypeError):
                return by_number[default]

        newest = versions[-1].number
        old = pick("a", versions[-2].number if len(versions) > 1 else newest)
        new = pick("b", newest)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": obj,
            "title": f"Compare versions: {obj}",
            "versions": versions,
            "old": old,
            "new": new,
            "diff": version_diff_html(old, new),
        }
        return TemplateResponse(request, "runbooks/admin/diff.html", context)

    @action(label="Review", description="Record a review: still valid, updated or retire", **WITH_FORM)
    def review(self, request, obj):
        self._require(request, "runbooks.review_runbook")
        form = ReviewForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            if _run(
                self,
                request,
                "Review recorded; the next review is due one interval from now.",
                lambda: services.runbook_review(
                    runbook=obj, outcome=data["outcome"], notes=data["notes"], actor=request.user
                ),
            ):
                return None
        return self._form_page(request, obj, form, title="Review", submit="Record review")

    @action(
        label="Rehearse",
        description="Run the published version as a drill, outside any incident",
        methods=("POST",),
        button_type="form",
    )
    def rehearse(self, request, obj):
        self._require(request, "runbooks.change_runbook")
        self._require(request, "runbooks.run_runbook")
        started = {}

        def start():
            started["execution"] = services.execution_start(
                version=obj.current_version, purpose=ExecutionPurpose.DRILL, actor=request.user
            )

        if obj.current_version_id and _run(self, request, "Drill started.", start):
            return HttpResponseRedirect(
                reverse("admin:runbooks_runbookexecution_change", args=[started["execution"].pk])
            )
        return None

    @action(label="Retire", description="No longer suggested or scheduled", **WITH_FORM)
    def retire(self, request, obj):
        self._require(request, "runbooks.change_runbook")
        form = RetireForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            reason = form.cleaned_data["reason"]
            call = lambda: services.runbook_retire(runbook=obj, reason=reason, actor=request.user)  # noqa: E731
            if _run(self, request, "Runbook retired.", call):
                return None
        return self._form_page(request, obj, form, title="Retire", submit="Retire runbook")

    # --- the coverage report ---------------------------------------------------------------------
    def get_urls(self):
        urls = [
            path("coverage/", self.admin_site.admin_view(self.coverage_view), name="runbooks_runbook_coverage"),
        ]
        return urls + super().get_urls()

    def coverage_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Runbook coverage",
            "report": coverage(),
        }
        return TemplateResponse(request, "runbooks/admin/coverage.html", context)

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(RunbookVersion)
class RunbookVersionAdmin(VigilModelAdmin):
    """Versions are read here and never changed: published ones are immutable (and the database
    refuses it too); drafts change through the runbook's "Edit content"."""

    evidence_like = True
    list_display = ["runbook", "number", "state", "author_label", "approved_by_label", "created_at", "short_sha"]
    list_filter = [("published_at", admin.EmptyFieldListFilter)]
    list_select_related = ["runbook"]
    search_fields = ["runbook__title", "runbook__slug", "content_sha256"]
    ordering = ["runbook__title", "-number"]
    fields = [
        "runbook",
        "number",
        "state",
        "change_summary",
        "author_label",
        "approved_by_label",
        "created_at",
        "published_at",
        "content_sha256",
        "source",
        "rendered",
        "body",
    ]
    readonly_fields = fields

    @admin.display(description="state")
    def state(self, obj):
        if not obj.is_published:
            return "draft"
        return "published" + (" (current)" if obj.runbook.current_version_id == obj.pk else "")

    @admin.display(description="SHA-256")
    def short_sha(self, obj):
        return obj.content_sha256[:12]

    @admin.display(description="rendered")
    def rendered(self, obj):
        return render_version(obj)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
