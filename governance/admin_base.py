"""The house ModelAdmin: audit on add, change, delete and actions; sane defaults for big tables."""

import functools

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db import connection, transaction
from django.db.models import QuerySet
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.http import urlencode
from django_object_actions import DjangoObjectActions

from .audit import audit_record, diff, jsonable, object_type_of, snapshot
from .pagination import EstimatedCountPaginator
from .registries import object_panels

DISTINCT_VALUES_SHOWN = 200


def distinct_values(model, field: str, *, limit: int = DISTINCT_VALUES_SHOWN) -> list[str]:
    """A column's distinct values by a skip scan over its index: one probe per value, not a pass over the table."""
    table = connection.ops.quote_name(model._meta.db_table)
    column = connection.ops.quote_name(model._meta.get_field(field).column)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH RECURSIVE found(value, n) AS (
                SELECT MIN({column}), 1 FROM {table}
                UNION ALL
                SELECT (SELECT MIN({column}) FROM {table} WHERE {column} > found.value), n + 1
                FROM found WHERE found.value IS NOT NULL AND n < %s
            )
            SELECT value FROM found WHERE value IS NOT NULL
            """,
            [limit],
        )
        return [row[0] for row in cursor.fetchall()]


def distinct_values_filter(field: str, title: str) -> type[admin.SimpleListFilter]:
    """A list filter over `field`'s values, found by `distinct_values`.

    Django's default filter for a plain column runs SELECT DISTINCT over the whole table on every
    changelist view; on ten million audit events that is the slowest query of the page.
    """

    class DistinctValuesFilter(admin.SimpleListFilter):
        parameter_name = field

        def lookups(self, request, model_admin):
            return [(value, value) for value in distinct_values(model_admin.model, field)]

        def queryset(self, request, queryset):
            return queryset.filter(**{field: self.value()}) if self.value() else queryset

    DistinctValuesFilter.title = title
    return DistinctValuesFilter


def object_panels_for(request, obj) -> list[dict]:
    """The non-empty panels registered for `obj`'s model, in order, as {name, title, html}."""
    label = obj._meta.label_lower
    panels = sorted((p for p in object_panels if p.model == label), key=lambda p: (p.order, p.name))
    rendered = [{"name": p.name, "title": p.title, "html": p.render(request, obj)} for p in panels]
    return [panel for panel in rendered if panel["html"]]


def _form_value(value):
    if isinstance(value, QuerySet):
        return sorted(obj.pk for obj in value)
    if isinstance(value, list | tuple) and value and hasattr(value[0], "pk"):
        return sorted(obj.pk for obj in value)
    return jsonable(value)


class VigilModelAdmin(admin.ModelAdmin):
    """House defaults. Set `evidence_like = True` on models that must never be deleted."""

    evidence_like = False
    show_facets = admin.ShowFacets.NEVER
    list_per_page = 50

    # --- audit --------------------------------------------------------------------
    def save_model(self, request, obj, form, change):
        if change:
            changes = {
                name: [_form_value(form.initial.get(name)), _form_value(form.cleaned_data.get(name))]
                for name in form.changed_data
            }
            # Forms flag some untouched fields as changed (JSON, files); keep real changes only.
            changes = {name: pair for name, pair in changes.items() if pair[0] != pair[1]}
            with transaction.atomic():
                super().save_model(request, obj, form, change)
                if changes:
                    audit_record(action="update", obj=obj, changes=changes)
        else:
            with transaction.atomic():
                super().save_model(request, obj, form, change)
                audit_record(action="create", obj=obj, changes=diff({}, snapshot(obj)))

    def delete_model(self, request, obj):
        with transaction.atomic():
            audit_record(action="delete", obj=obj, changes=diff(snapshot(obj), {}))
            super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        with transaction.atomic():
            for obj in queryset:
                audit_record(action="delete", obj=obj, changes=diff(snapshot(obj), {}))
            super().delete_queryset(request, queryset)

    def get_actions(self, request):
        actions = super().get_actions(request)
        return {
            name: (self._audited_action(func, name), name, description)
            for name, (func, name, description) in actions.items()
        }

    def _audited_action(self, func, name):
        if name == "delete_selected":
            return func  # delete_queryset records each deletion

        @functools.wraps(func)
        def run(modeladmin, request, queryset):
            with transaction.atomic():
                pks = [jsonable(pk) for pk in queryset.values_list("pk", flat=True)]
                result = func(modeladmin, request, queryset)
                audit_record(
                    action=f"admin_action:{name}",
                    object_type=self.model._meta.label_lower,
                    object_repr=f"{len(pks)} {self.model._meta.verbose_name_plural}",
                    changes={"objects": pks},
                )
            return result

        return run

    # --- panels other apps contribute to this model's change page (registries.object_panels) ---
    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context["object_panels"] = object_panels_for(request, obj)
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)

    # --- an object's history is its audit trail -------------------------------------------
    def history_view(self, request, object_id, extra_context=None):
        """The History button opens the audit events of this object (indexed by object type and id)."""
        if not request.user.has_perm("governance.view_auditevent"):
            return super().history_view(request, object_id, extra_context)
        query = urlencode({"object_type": object_type_of(self.model), "object_id": object_id})
        return HttpResponseRedirect(f"{reverse('admin:governance_auditevent_changelist')}?{query}")

    # --- evidence-like models are never deleted -------------------------------------------
    def has_delete_permission(self, request, obj=None):
        if self.evidence_like:
            return False
        return super().has_delete_permission(request, obj)


class ReadOnlyAdmin(VigilModelAdmin):
    """Records people read but never write here (audit events, the job ledger)."""

    evidence_like = True
    paginator = EstimatedCountPaginator
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


__all__ = ["EstimatedCountPaginator", "ReadOnlyAdmin", "VigilModelAdmin", "object_panels_for", "object_type_of"]


class VigilObjectActions(DjangoObjectActions):
    """Object actions (the buttons of a change page) whose URL obeys the action's permission.

    django-object-actions routes every name in `change_actions` to its URL and only checks that
    the user is staff. An action `name` here may declare `has_<name>_permission(request, obj)`:
    the button is hidden and the URL answers 403 when it says no. Actions whose availability
    depends on the object's state keep deciding in `get_change_actions` and their service,
    which refuses with a message that says why.
    """

    def get_change_actions(self, request, object_id, form_url):
        actions = super().get_change_actions(request, object_id, form_url)
        obj = None
        if any(hasattr(self, f"has_{name}_permission") for name in actions):
            obj = self.get_object(request, object_id)
        return [
            name
            for name in actions
            if getattr(self, f"has_{name}_permission", lambda request, obj=None: True)(request, obj)
        ]

    def get_urls(self):
        urls = super().get_urls()
        name = f"{self.model._meta.app_label}_{self.model._meta.model_name}_actions"
        for pattern in urls:
            if getattr(pattern, "name", None) == name:
                pattern.callback = self._guarded(pattern.callback)
        return urls

    def _guarded(self, view):
        @functools.wraps(view)
        def guarded(request, pk, tool, **kwargs):
            has_permission = getattr(self, f"has_{tool}_permission", None)
            if has_permission and not has_permission(request, self.get_object(request, unquote(pk))):
                raise PermissionDenied
            return view(request, pk=pk, tool=tool, **kwargs)

        return guarded
