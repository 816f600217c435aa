"""The house ModelAdmin: audit on add, change, delete and actions; sane defaults for big tables."""

import functools

from django.contrib import admin
from django.core.paginator import Paginator
from django.db import connections, transaction
from django.db.models import QuerySet
from django.utils.functional import cached_property

from .audit import audit_record, diff, jsonable, object_type_of, snapshot
from .registries import object_panels

# Above this many rows an unfiltered list shows PostgreSQL's estimate instead of COUNT(*).
ESTIMATE_ABOVE = 10_000


class EstimatedCountPaginator(Paginator):
    """COUNT(*) on a big append-only table is a full scan; an unfiltered list uses the planner's estimate."""

    @cached_property
    def count(self) -> int:
        qs = self.object_list
        if isinstance(qs, QuerySet) and not qs.query.where and connections[qs.db].vendor == "postgresql":
            with connections[qs.db].cursor() as cursor:
                cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE relname = %s", [qs.model._meta.db_table])
                row = cursor.fetchone()
            if row and row[0] > ESTIMATE_ABOVE:
                return int(row[0])
        return super().count


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
