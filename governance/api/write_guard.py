"""Writes under /api/, before any view runs: a rate per client address (429), then JSON (415)
within the size limit (413) — every answer in the error format.

A Django middleware rather than DRF's throttle and parser hooks, for two reasons:
- DRF checks throttles after authentication and permissions, so anonymous writes and writes with
  a wrong key would never be counted; here every client is counted (key, session or nobody)
  before a refusal is recorded. A write with a valid key is counted against that key's limit in
  the same round trip to Redis (governance.api.throttling.count_together).
- DRF checks the media type and Django the size only when a view reads its body, and a view that
  needs none (acknowledge) or reads the raw bytes (a backup tool's report) never asks. Here every
  write endpoint answers alike, and an oversized body is refused from its Content-Length unread.

It acts after the URL is resolved (an unknown path stays a 404; a method the view lacks stays a
405). The inbound webhooks (governance.registries.webhooks: Alertmanager) are never rate-limited
— in an alert storm every page matters — but their bodies are checked like any other.
"""

from django.conf import settings
from django.http import JsonResponse
from rest_framework.exceptions import Throttled

from ..registries import webhooks
from .authentication import presented_api_key
from .errors import error_body
from .throttling import WRITE_METHODS, ApiKeyRateThrottle, ClientAddressWriteThrottle, exceeded_wait

JSON_MEDIA_TYPE = "application/json"


def declared_length(request) -> int:
    try:
        return max(int(request.META.get("CONTENT_LENGTH") or 0), 0)
    except ValueError:
        return 0


def is_ingestion(path: str) -> bool:
    return any(hook.path == path for hook in webhooks)


def rate_limited_response(wait: float) -> JsonResponse:
    """The 429 the API's exception handler gives for DRF's own throttles: same code, message and header."""
    throttled = Throttled(wait)
    response = JsonResponse(error_body("rate_limited", str(throttled.detail)), status=429)
    response["Retry-After"] = str(throttled.wait)
    return response


def _refusal(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse(error_body(code, message), status=status)


class ApiWriteGuardMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        if request.method not in WRITE_METHODS or not request.path_info.startswith("/api/"):
            return None
        view_class = getattr(view_func, "cls", None)
        if view_class is not None and not hasattr(view_class, request.method.lower()):
            return None  # the view answers 405 for a method it does not have
        if not is_ingestion(request.path_info):
            # A valid key is counted here too, in the same round trip; DRF's per-key throttle reads that count.
            throttles = [ClientAddressWriteThrottle()]
            api_key = presented_api_key(request)
            if api_key is not None:
                throttles.append(ApiKeyRateThrottle(api_key))
            wait = exceeded_wait(request, throttles)
            if wait is not None:
                return rate_limited_response(wait)
        return self._body_refusal(request)

    def _body_refusal(self, request) -> JsonResponse | None:
        length = declared_length(request)
        if length == 0 and "HTTP_TRANSFER_ENCODING" not in request.META:
            return None  # no body: nothing to parse (an acknowledge with an empty POST)
        media_type = (request.META.get("CONTENT_TYPE") or "").split(";", 1)[0].strip().lower()
        if media_type != JSON_MEDIA_TYPE:
            return _refusal(
                415,
                "unsupported_media_type",
                f'Unsupported media type "{media_type or "none"}" in request; send {JSON_MEDIA_TYPE}.',
            )
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if limit is not None and length > limit:
            return _refusal(
                413, "payload_too_large", f"The request body is larger than this endpoint accepts ({limit} bytes)."
            )
        return None
