"""Counts that stay cheap on tables that only grow.

`COUNT(*)` reads every matching row: on a million incidents (or ten million audit events) that is the
slowest part of a list page. Lists count exactly up to EXACT_COUNT_LIMIT rows (a `LIMIT`ed subquery, so
at most that many index entries are read) and above it use PostgreSQL's planner estimate, marked as an
estimate. Both queries run on every page on PostgreSQL, so a page costs the same number of queries
whatever the table holds. SQLite, the embedded default, always counts exactly (one query).
"""

import json
from dataclasses import dataclass

from django.core.paginator import Paginator
from django.db import connections
from django.db.models import QuerySet
from django.utils.functional import cached_property

EXACT_COUNT_LIMIT = 1000


@dataclass(frozen=True)
class Count:
    value: int
    is_estimate: bool


def bounded_count(queryset: QuerySet, *, limit: int | None = None) -> Count:
    """Exact up to `limit` rows (default EXACT_COUNT_LIMIT); above, the planner's estimate (never below `limit + 1`)."""
    limit = limit or EXACT_COUNT_LIMIT
    unordered = queryset.order_by()
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return Count(unordered.count(), False)
    exact = unordered[: limit + 1].count()
    sql, params = unordered.values("pk").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    if exact <= limit:
        return Count(exact, False)
    plan = json.loads(plan) if isinstance(plan, str) else plan
    return Count(max(int(plan[0]["Plan"]["Plan Rows"]), limit + 1), True)


class EstimatedCountPaginator(Paginator):
    """A Paginator whose count is `bounded_count`; `count_is_estimate` says which kind it gave."""

    @cached_property
    def _bounded(self) -> Count:
        if isinstance(self.object_list, QuerySet):
            return bounded_count(self.object_list)
        return Count(len(self.object_list), False)

    @cached_property
    def count(self) -> int:
        return self._bounded.value

    @property
    def count_is_estimate(self) -> bool:
        return self._bounded.is_estimate
