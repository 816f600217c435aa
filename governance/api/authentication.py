"""`Authorization: Bearer <api key>` for the API and the inbound webhooks."""

from django.db import DatabaseError
from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from .. import audit
from ..models import ApiKey
from ..security import api_key_refused
from ..services import api_key_authenticate


class ApiKeyPrincipal:
    """Stands in for request.user on key-authenticated requests: authenticated, never staff."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False

    def __init__(self, api_key):
        self.api_key = api_key
        self.pk = None
        self.username = f"api-key:{api_key.name}"

    def get_username(self) -> str:
        return self.username

    def has_perm(self, perm, obj=None) -> bool:
        return False

    def __str__(self) -> str:
        return self.username


def presented_api_key(request) -> ApiKey | None:
    """The valid API key the request's `Authorization: Bearer` header carries, else None. Nothing is
    recorded: refusing a wrong key is ApiKeyAuthentication's (a security event, a 401)."""
    header = authentication.get_authorization_header(request).split()
    if len(header) != 2 or header[0].lower() != ApiKeyAuthentication.keyword.lower().encode():
        return None
    try:
        raw = header[1].decode()
        api_key = api_key_authenticate(raw_key=raw, ip_address=request.META.get("REMOTE_ADDR"))
    except (UnicodeError, DatabaseError):  # the database is down: DRF's authentication answers 503
        return None
    if api_key is not None:  # DRF's authentication, later in this request, takes it from here
        request.vigil_verified_api_key = (raw, api_key)
    return api_key


def _verified_earlier(request, raw: str):
    """The key this request's write guard already verified for this very header, else None."""
    verified = getattr(request, "vigil_verified_api_key", None)
    return verified[1] if verified is not None and verified[0] == raw else None


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            api_key_refused(request, "", reason="malformed Authorization header")
            raise exceptions.AuthenticationFailed(_("Authorization header must be 'Bearer <api key>'."))
        try:
            raw = header[1].decode()
        except UnicodeError as exc:
            api_key_refused(request, "", reason="invalid characters in the key")
            raise exceptions.AuthenticationFailed(_("The API key contains invalid characters.")) from exc
        api_key = _verified_earlier(request._request, raw) or api_key_authenticate(
            raw_key=raw, ip_address=request.META.get("REMOTE_ADDR")
        )
        if api_key is None:
            api_key_refused(request, raw)  # a security event: unknown, revoked or expired
            raise exceptions.AuthenticationFailed(_("The API key is invalid, expired or revoked."))
        # From here on, writes in this request are attributed to the key.
        request._request.vigil_audit_token = audit.set_context(
            audit.AuditContext(
                api_key=api_key,
                request_id=getattr(request._request, "request_id", ""),
                ip_address=request.META.get("REMOTE_ADDR") or None,
            )
        )
        return ApiKeyPrincipal(api_key), api_key

    def authenticate_header(self, request):
        return f'{self.keyword} realm="api"'


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = ApiKeyAuthentication
    name = "apiKey"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "A Vigil API key with the needed scopes."}
