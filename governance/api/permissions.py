"""Scope checks for API keys; role permissions for admin-session users. Every refusal of a caller
who did authenticate is a security event (scope_refused for a key, role_refused for a person)."""

from rest_framework import permissions

from ..choices import SecurityEventKind
from ..models import ApiKey
from ..security import security_event_record

# What a signed-in (session) user needs for each scope: any one of these permissions;
# STAFF means any active staff user.
STAFF = "*"
SESSION_PERMISSIONS_FOR_SCOPE: dict[str, tuple[str, ...]] = {"health:read": (STAFF,)}


def register_scope_permissions(scope: str, *perms: str) -> None:
    """Apps declare which Django permissions stand for a scope when a person calls the API."""
    SESSION_PERMISSIONS_FOR_SCOPE[scope] = tuple(SESSION_PERMISSIONS_FOR_SCOPE.get(scope, ())) + perms


class HasScope(permissions.BasePermission):
    """A view declares `required_scopes = {"GET": "incidents:read", "POST": "incidents:write"}`
    (or a single string for every method). No declaration means the view is closed.

    A person (admin session) also needs one of the permissions standing for the scope and, when
    the view declares `session_permissions = {"POST": "incidents.add_incident"}`, that permission
    for the method: the role check lives here, where its refusal is recorded."""

    message = "This API key lacks the scope this endpoint needs."

    def has_permission(self, request, view) -> bool:
        scope = self.scope_for(request, view)
        if scope is None:
            return False
        if not request.user or not request.user.is_authenticated:
            return False
        if isinstance(request.auth, ApiKey):
            allowed = scope in request.auth.scopes
            if not allowed:
                self.message = f"This API key lacks the scope '{scope}'."
                security_event_record(
                    kind=SecurityEventKind.SCOPE_REFUSED,
                    request=request,
                    api_key_prefix=request.auth.prefix,
                    detail=f"{request.method} needs scope {scope}; key {request.auth.name!r} lacks it",
                )
            return allowed
        user = request.user
        perms = SESSION_PERMISSIONS_FOR_SCOPE.get(scope, ())
        role_perm = getattr(view, "session_permissions", {}).get(request.method)
        if not user.is_active or not user.is_staff:
            needed = "an active staff account"
        elif not (user.is_superuser or STAFF in perms or any(user.has_perm(p) for p in perms)):
            needed = " or ".join(perms) or "a permission for this scope"
        elif role_perm is not None and not user.has_perm(role_perm):
            needed = role_perm
        else:
            return True
        self.message = "Your role does not allow this."
        security_event_record(
            kind=SecurityEventKind.ROLE_REFUSED,
            request=request,
            username=user.get_username(),
            detail=f"{request.method} needs {needed} (scope {scope})",
        )
        return False

    @staticmethod
    def scope_for(request, view) -> str | None:
        required = getattr(view, "required_scopes", None)
        if isinstance(required, str):
            return required
        if isinstance(required, dict):
            method = "GET" if request.method in ("HEAD", "OPTIONS") else request.method
            return required.get(method)
        return None
