"""The house ModelAdmin: audit on add, change, delete and actions; sane defaults for big tables."""

import functools

from django.contrib import admin
from django.contrib.admin.utils import lookup_spawns_duplicates, unquote
from django.core.exceptions import FieldDoesNotExist, PermissionDenied
from django.db import connection, models, transaction
from django.db.models import Q, QuerySet, Value
from django.db.models.constants import LOOKUP_SEP
from django.db.models.functions import Cast
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.text import smart_split, unescape_string_literal
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


def _search_lookup(model, field_name: str):
    """`(lookup, alias or None)` for a search field: Django 5.2's `construct_search`, which is not reachable."""
    if field_name.startswith("^"):
        return f"{field_name.removeprefix('^')}__istartswith", None
    if field_name.startswith("="):
        return f"{field_name.removeprefix('=')}__iexact", None
    if field_name.startswith("@"):
        return f"{field_name.removeprefix('@')}__search", None
    opts = model._meta
    parts = field_name.split(LOOKUP_SEP)
    prev_field = None
    for i, part in enumerate(parts):
        if part == "pk":
            part = opts.pk.name
        try:
            field = opts.get_field(part)
        except FieldDoesNotExist:
            if prev_field and prev_field.get_lookup(part):
                if part == "exact" and not isinstance(prev_field, models.CharField | models.TextField):
                    alias = Cast(LOOKUP_SEP.join(parts[:i]), output_field=models.CharField())
                    return f"{'_'.join(parts[:i])}_str", alias
                return field_name, None
        else:
            prev_field = field
            if hasattr(field, "path_infos"):
                opts = field.path_infos[-1].to_opts
    return f"{field_name}__icontains", None


def _is_single_valued(field) -> bool:
    """A forward foreign key or one-to-one on one column: a row reaches at most one related row."""
    return bool(
        field.is_relation
        and field.concrete
        and (field.many_to_one or field.one_to_one)
        and len(getattr(field, "foreign_related_fields", ())) == 1
    )


def _single_valued_hop(model, lookup: str):
    """`target__slug__icontains` -> (the `target` field, `slug__icontains`) when the path joins only through
    single-valued relations; None for a local lookup, a lookup on the key itself, or a many-valued path."""
    first, _, rest = lookup.partition(LOOKUP_SEP)
    try:
        field = model._meta.get_field(first)
    except FieldDoesNotExist:
        return None
    if not rest or not _is_single_valued(field):
        return None
    opts, joins = field.related_model._meta, False
    for part in rest.split(LOOKUP_SEP):
        try:
            step = opts.get_field(opts.pk.name if part == "pk" else part)
        except FieldDoesNotExist:
            break  # a lookup or a transform: the path ends here
        joins = True
        if not step.is_relation:
            break  # a column: what follows is a lookup or a transform (a JSON key, say)
        if not _is_single_valued(step):
            return None
        opts = step.related_model._meta
    return (field, rest) if joins else None


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

    # --- search: a related column is searched on its own table, then matched by key -------
    # `external_id OR target__slug` cannot use an index on PostgreSQL: no index serves an OR across a
    # join, so the big table is scanned. Each term's related lookups run first on the related table
    # (its trigram index) and the main query ORs the local conditions with `target_id IN (ids)`, which
    # PostgreSQL serves with a BitmapOr of the local trigram index and the foreign key's index.
    related_search_ids_limit = 1000  # more matches than this: that term joins, as Django does

    def get_search_results(self, request, queryset, search_term):
        """Django's search, same rows and same `may_have_duplicates`, with related lookups resolved to ids.

        Only paths whose every relation is a forward foreign key or one-to-one are resolved: they
        match at most one related row, so `fk IN (ids)` is exactly the join's condition. Paths through
        many-valued relations, and searches without a related path, stay Django's.
        """
        search_fields = self.get_search_fields(request)
        if not (search_fields and search_term):
            return super().get_search_results(request, queryset, search_term)
        lookups, aliases = [], {}
        for search_field in search_fields:
            lookup, alias = _search_lookup(queryset.model, str(search_field))
            lookups.append(lookup)
            if alias is not None:
                aliases[lookup] = alias
        local, related = [], {}
        for lookup in lookups:
            hop = None if lookup in aliases else _single_valued_hop(queryset.model, lookup)
            if hop is None:
                local.append(lookup)
            else:
                related.setdefault(hop[0], []).append((lookup, hop[1]))
        if not related:
            return super().get_search_results(request, queryset, search_term)

        may_have_duplicates = any(lookup_spawns_duplicates(self.opts, lookup) for lookup in lookups)
        if aliases:
            queryset = queryset.alias(**aliases)
        limit = self.related_search_ids_limit
        term_queries = []
        for bit in smart_split(search_term):
            if bit.startswith(('"', "'")) and bit[0] == bit[-1]:
                bit = unescape_string_literal(bit)
            conditions = [(lookup, bit) for lookup in local]
            for field, pairs in related.items():
                # The base manager: a join sees every related row, whatever the default manager hides.
                ids = list(
                    field.related_model._base_manager.using(queryset.db)
                    .filter(Q.create([(rest, bit) for _lookup, rest in pairs], connector=Q.OR))
                    .order_by()
                    .values_list(field.target_field.attname, flat=True)[: limit + 1]
                )
                if len(ids) > limit:
                    conditions += [(lookup, bit) for lookup, _rest in pairs]
                elif ids:
                    conditions.append((f"{field.attname}__in", ids))
            if not conditions:
                # Nothing local to search and no related row matches: a false WHERE, not `.none()`,
                # whose query cannot be compiled (the estimated count EXPLAINs it).
                return queryset.filter(Value(False, output_field=models.BooleanField())), may_have_duplicates
            term_queries.append(Q.create(conditions, connector=Q.OR))
        return queryset.filter(Q.create(term_queries)), may_have_duplicates

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


class VigilObjectActions(DjangoObjectActions):
    """Object actions (the buttons of a change page) whose URL obeys the action's permission.

    django-object-actions routes every name in `change_actions` to its URL and only checks that
    the user is staff. An action `name` here may declare `has_<name>_permission(request, obj)`:
    the button is hidden and the URL answers 403 when it says no. Actions whose availability
    depends on the object's state keep deciding in `get_change_actions` and their service,
    which refuses with a message that says why.
    """

    def _permits(self, tool: str, request, object_id) -> bool:
        check = getattr(self, f"has_{tool}_permission", None)
        return check is None or check(request, self.get_object(request, object_id))

    def get_change_actions(self, request, object_id, form_url):
        actions = super().get_change_actions(request, object_id, form_url)
        return [name for name in actions if self._permits(name, request, object_id)]

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
            if not self._permits(tool, request, unquote(pk)):
                raise PermissionDenied
            return view(request, pk=pk, tool=tool, **kwargs)

        return guarded


__all__ = [
    "EstimatedCountPaginator",
    "ReadOnlyAdmin",
    "VigilModelAdmin",
    "VigilObjectActions",
    "object_panels_for",
    "object_type_of",
]
