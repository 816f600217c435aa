"""Request context for the audit trail: a request id, the client IP and the actor."""

import logging
import re
import uuid

from django import db
from django.http import JsonResponse

from . import audit
from .api.errors import error_body

logger = logging.getLogger(__name__)
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
# While the database is down: how long an API client is told to wait before sending again.
DATABASE_RETRY_AFTER_SECONDS = 5


class RequestContextMiddleware:
    """Gives every request an id (kept from X-Request-ID when sane) and records the IP."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        request.request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        token = audit.set_context(
            audit.AuditContext(request_id=request.request_id, ip_address=request.META.get("REMOTE_ADDR") or None)
        )
        try:
            response = self.get_response(request)
        finally:
            audit.reset_context(token)
        response["X-Request-ID"] = request.request_id
        return response


class AuditActorMiddleware:
    """After authentication: the session user becomes the audit actor.

    API-key requests are authenticated inside DRF; its authentication class
    sets the actor there.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        # request.user stays lazy: requests that write nothing never load the session user.
        with audit.audit_context(user=getattr(request, "user", None)):
            return self.get_response(request)


# Django's own error pages (a path no route matches, debug's technical pages) as the API's error format.
_API_ERRORS = {
    400: ("bad_request", "The request could not be understood."),
    403: ("forbidden", "You may not do this."),
    404: ("not_found", "No such endpoint."),
    405: ("method_not_allowed", "This endpoint does not accept that method."),
    413: ("payload_too_large", "The request body is over the limit."),
    500: ("server_error", "An unexpected error occurred; it has been logged."),
}


class ApiErrorFormatMiddleware:
    """Every error answer under /api/ is JSON in the error format, whatever the debug setting.

    DRF already answers its own errors so; this catches the responses Django makes before or around a
    view — an unrouted path answers Django's HTML 404 (with debug on, its technical page). While the
    database is down or restarting, every API call (ingestion too) is a 503 with Retry-After: nothing
    was saved, and the client should send it again.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def process_exception(self, request, exception):
        if not request.path.startswith("/api/") or not isinstance(exception, (db.OperationalError, db.InterfaceError)):
            return None
        logger.warning("API request refused, the database is unavailable: %s", exception)
        response = JsonResponse(
            error_body("service_unavailable", "The database is unavailable; nothing was saved. Try again shortly."),
            status=503,
        )
        response["Retry-After"] = str(DATABASE_RETRY_AFTER_SECONDS)
        return response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            response.status_code >= 400
            and request.path.startswith("/api/")
            and not response.get("Content-Type", "").startswith("application/json")
        ):
            code, message = _API_ERRORS.get(response.status_code, ("error", "The request failed."))
            formatted = JsonResponse(error_body(code, message), status=response.status_code)
            for header in ("X-Request-ID", "Retry-After", "Allow"):
                if header in response:
                    formatted[header] = response[header]
            return formatted
        return response
