"""Request context for the audit trail: a request id, the client IP and the actor."""

import re
import uuid

from . import audit

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


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
