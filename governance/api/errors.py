"""One error format for the whole API:

{"error": {"code": "<snake_case>", "message": "<sentence>", "fields": {...}}}
"""

import logging

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import set_rollback

from ..errors import VigilError

logger = logging.getLogger(__name__)

# DRF's default codes, renamed where ours read better.
_CODES = {
    "not_authenticated": "not_authenticated",
    "authentication_failed": "authentication_failed",
    "permission_denied": "permission_denied",
    "not_found": "not_found",
    "method_not_allowed": "method_not_allowed",
    "unsupported_media_type": "unsupported_media_type",
    "parse_error": "invalid_json",
    "throttled": "rate_limited",
    "not_acceptable": "not_acceptable",
}


def error_body(code: str, message: str, fields: dict | None = None) -> dict:
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


def _flatten(detail) -> dict:
    """DRF validation detail → {"field": ["message", ...]}; nested paths joined with dots."""
    fields: dict[str, list[str]] = {}

    def walk(prefix: str, value):
        if isinstance(value, dict):
            for key, sub in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), sub)
        elif isinstance(value, list) and value and not all(isinstance(v, str) for v in value):
            for index, sub in enumerate(value):
                if sub:
                    walk(f"{prefix}.{index}" if prefix else str(index), sub)
        else:
            messages = value if isinstance(value, list) else [value]
            fields.setdefault(prefix or "non_field_errors", []).extend(str(m) for m in messages)

    walk("", detail)
    return fields


def exception_handler(exc, context):
    if isinstance(exc, VigilError):
        set_rollback()
        return Response(error_body(exc.code, exc.message, exc.fields), status=exc.status)
    if isinstance(exc, RequestDataTooBig):
        return Response(
            error_body("payload_too_large", "The request body is larger than this endpoint accepts."),
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(exc.message_dict if hasattr(exc, "error_dict") else exc.messages)

    if not isinstance(exc, exceptions.APIException):
        return None  # a real bug: let Django's 500 handler log it

    set_rollback()
    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait))

    if isinstance(exc, exceptions.ValidationError):
        body = error_body("validation_error", "The request has invalid fields.", _flatten(exc.detail))
    else:
        detail = exc.detail
        code = detail.code if hasattr(detail, "code") else exc.default_code
        body = error_body(_CODES.get(code, code), _sentence(str(detail)))
    response = Response(body, status=exc.status_code, headers=headers)
    return response


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "!", "?")) else f"{text}."


# --- Django-level handlers for API paths (no DRF view was reached) -------------------


def json_not_found(request, exception=None):
    return JsonResponse(error_body("not_found", "No such endpoint."), status=404)


def json_server_error(request):
    return JsonResponse(error_body("server_error", "An unexpected error occurred; it has been logged."), status=500)


def json_bad_request(request, exception=None):
    if isinstance(exception, RequestDataTooBig):
        return JsonResponse(
            error_body("payload_too_large", "The request body is larger than this endpoint accepts."), status=413
        )
    return JsonResponse(error_body("bad_request", "The request could not be understood."), status=400)
