"""The API's page: DRF's page-number pagination with a count that stays cheap on big tables."""

from collections import OrderedDict

from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response

from ..pagination import EXACT_COUNT_LIMIT, EstimatedCountPaginator


class VigilPagination(PageNumberPagination):
    """`count` is exact up to EXACT_COUNT_LIMIT rows and PostgreSQL's estimate above; `count_is_estimate` says which."""

    django_paginator_class = EstimatedCountPaginator

    def get_paginated_response(self, data):
        paginator = self.page.paginator
        return Response(
            OrderedDict(
                [
                    ("count", paginator.count),
                    ("count_is_estimate", paginator.count_is_estimate),
                    ("next", self.get_next_link()),
                    ("previous", self.get_previous_link()),
                    ("results", data),
                ]
            )
        )

    def get_paginated_response_schema(self, schema):
        response = super().get_paginated_response_schema(schema)
        response["properties"]["count"]["description"] = (
            f"Exact up to {EXACT_COUNT_LIMIT} rows; above, PostgreSQL's planner estimate (see count_is_estimate)."
        )
        response["properties"] = {
            "count": response["properties"]["count"],
            "count_is_estimate": {
                "type": "boolean",
                "description": f"true when there are more than {EXACT_COUNT_LIMIT} rows and count is an estimate",
            },
            **{k: v for k, v in response["properties"].items() if k != "count"},
        }
        response["required"] = [*response.get("required", []), "count_is_estimate"]
        return response
