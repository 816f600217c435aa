"""Scope checks for API keys; role permissions for admin-session users."""

from rest_framework import permissions

from ..models import ApiKey

# What a signed-in (session) user needs for each scope: any one of these permissions;
# STAFF means any active staff user.
STAFF = "*"
SESSION_PERMISSIONS_FOR_SCOPE: dict[str, tuple[str, ...]] = {"health:read": (STAFF,)}


def register_scope_permissions(scope: str, *perms: str) -> None:
    """Apps declare which Django permissions stand for a scope when a person calls the API."""
    SESSION_PERMISSIONS_FOR_SCOPE[scope] = tuple(SESSION_PERMISSIONS_FOR_SCOPE.get(scope, ())) + perms


class HasScope(permissions.BasePermission):
    """A view declares `required_scopes = {"GET": "incidents:read", "POST": "incidents:write"}`
    (or a single string for every method). No declaration means the view is closed."""

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
            return allowed
        user = request.user
        if not user.is_active or not user.is_staff:
            return False
        perms = SESSION_PERMISSIONS_FOR_SCOPE.get(scope, ())
        return user.is_superuser or STAFF in perms or any(user.has_perm(p) for p in perms)

    @staticmethod
    def scope_for(request, view) -> str | None:
        required = getattr(view, "required_scopes", None)
        if isinstance(required, str):
            return required
        if isinstance(required, dict):
            method = "GET" if request.method in ("HEAD", "OPTIONS") else request.method
            return required.get(method)
        return None
