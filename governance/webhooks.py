"""Inbound webhooks: machines posting to Vigil (Alertmanager today; backup jobs and identity
sources later).

A webhook is a plain Django view, not a DRF one: it is the hottest path Vigil serves, it
takes one kind of body, and DRF's request wrapping, negotiation and rendering cost as much
as the work itself. It keeps everything the API promises — Bearer keys with a scope, the
audit actor, the one error format — and its OpenAPI entry comes from the `webhooks`
registry (governance.api.schema).
"""

import functools
import json

from django.core.exceptions import RequestDataTooBig
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt

from . import audit
from .api.errors import error_body
from .choices import SecurityEventKind
from .errors import VigilError
from .security import api_key_refused, security_event_record
from .services import api_key_authenticate


def error_response(error: VigilError) -> JsonResponse:
    response = JsonResponse(error_body(error.code, error.message, error.fields), status=error.status)
    if error.status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="api"'
    return response


def _authenticate(request, scope: str):
    header = request.META.get("HTTP_AUTHORIZATION", "")
    keyword, _, raw_key = header.partition(" ")
    if keyword.lower() != "bearer" or not raw_key:
        raise VigilError("Authentication credentials were not provided.", code="not_authenticated", status=401)
    api_key = api_key_authenticate(raw_key=raw_key.strip(), ip_address=request.META.get("REMOTE_ADDR"))
    if api_key is None:
        api_key_refused(request, raw_key.strip())  # a security event, like the API's
        raise VigilError("The API key is invalid, expired or revoked.", code="authentication_failed", status=401)
    if scope not in api_key.scopes:
        security_event_record(
            kind=SecurityEventKind.SCOPE_REFUSED,
            request=request,
            api_key_prefix=api_key.prefix,
            detail=f"POST needs scope {scope}; key {api_key.name!r} lacks it",
        )
        raise VigilError(f"This API key lacks the scope '{scope}'.", code="permission_denied", status=403)
    return api_key


def read_json(request, *, limit: int | None = None) -> tuple[bytes, object]:
    """The raw body and its decoded JSON, refusing other media types, oversized and broken bodies."""
    media_type = (request.META.get("CONTENT_TYPE") or "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        raise VigilError(
            f'Unsupported media type "{media_type or "none"}" in request.', code="unsupported_media_type", status=415
        )
    too_big = VigilError(
        f"The request body is larger than this endpoint accepts ({limit} bytes).", code="payload_too_large", status=413
    )
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if limit is not None and declared > limit:
        raise too_big
    raw = request.body  # Django itself refuses bodies over DATA_UPLOAD_MAX_MEMORY_SIZE
    if limit is not None and len(raw) > limit:
        raise too_big
    try:
        return raw, json.loads(raw)
    except ValueError as exc:
        raise VigilError(f"The body is not valid JSON: {exc}.", code="invalid_json") from exc
    except RecursionError:  # `[[[[…` thousands deep: Python's decoder gives up before the JSON ends
        raise VigilError("The body is not valid JSON: it is nested too deeply.", code="invalid_json") from None


def webhook_view(*, scope: str):
    """A POST-only view authenticated by an API key with `scope`; errors in the API's format.

    The view receives the verified key as `api_key`; its writes are attributed to that key.
    """

    def decorate(view):
        @csrf_exempt
        @functools.wraps(view)
        def run(request, *args, **kwargs):
            if request.method != "POST":
                response = error_response(
                    VigilError(f'Method "{request.method}" not allowed.', code="method_not_allowed", status=405)
                )
                response["Allow"] = "POST"
                return response
            try:
                api_key = _authenticate(request, scope)
                token = audit.set_context(
                    audit.AuditContext(
                        api_key=api_key,
                        request_id=getattr(request, "request_id", ""),
                        ip_address=request.META.get("REMOTE_ADDR") or None,
                    )
                )
                try:
                    return view(request, *args, api_key=api_key, **kwargs)
                finally:
                    audit.reset_context(token)
            except VigilError as error:
                return error_response(error)
            except RequestDataTooBig:
                return error_response(
                    VigilError(
                        "The request body is larger than this endpoint accepts.", code="payload_too_large", status=413
                    )
                )

        return run

    return decorate
