"""The API's page: DRF's page-number pagination with a count that stays cheap on big tables."""

import re
from collections import OrderedDict

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response

from ..pagination import EXACT_COUNT_LIMIT, EstimatedCountPaginator


class VigilPagination(PageNumberPagination):
    """`count` is exact up to EXACT_COUNT_LIMIT rows and PostgreSQL's estimate above; `count_is_estimate` says which."""

    django_paginator_class = EstimatedCountPaginator

    def get_page_number(self, request, paginator):
        # DRF reads `?page=` (empty) as 1 and `?page=last` as the last page; the schema says a whole
        # number from 1, so anything else is a 400 naming `page` (a page past the end stays a 404).
        raw = request.query_params.get(self.page_query_param)
        if raw is None:
            return 1
        if not re.fullmatch(r"[0-9]+", raw) or int(raw) < 1:
            raise ValidationError({self.page_query_param: ["A page number is a whole number from 1."]})
        return raw

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_query_param:
                parameter["schema"]["minimum"] = 1
        return parameters

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
