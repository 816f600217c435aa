"""Failed-login lockout (django-axes): the login page's message, the audit trail, and unlocking.

Axes counts failed logins per user name; at AXES_FAILURE_LIMIT it locks the name until an Ops Admin
unlocks it (or AXES_COOLOFF_HOURS pass). A locked name is refused before its password is checked,
so the right password does not get in either. Every failure, every lock and every unlock is an
audit event ("auth.login_failed", "auth.locked_out", "auth.unlocked"); failures and locks are also
security events (governance.security), which count towards the `security.auth_failures` alert.
"""

from axes.conf import settings as axes_settings
from axes.models import AccessAttempt
from axes.signals import user_locked_out
from axes.utils import reset as axes_reset
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_login_failed
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Sum
from django.dispatch import receiver
from django.http import HttpResponse

from .audit import audit_context, audit_record
from .choices import SecurityEventKind
from .security import security_event_record

LOCKED_OUT_MESSAGE = "This account is locked after too many failed logins; an Ops Admin can unlock it."


class VigilAuthenticationForm(AdminAuthenticationForm):
    """The admin login form, which says so when the account is locked rather than "wrong password"."""

    error_messages = {**AdminAuthenticationForm.error_messages, "locked_out": LOCKED_OUT_MESSAGE}

    def clean(self):
        try:
            return super().clean()
        except ValidationError:
            # Axes marks the request when this attempt locked the name or found it locked.
            if getattr(self.request, "axes_locked_out", False):
                raise ValidationError(self.error_messages["locked_out"], code="locked_out") from None
            raise


def lockout_response(request, original_response=None, credentials=None) -> HttpResponse:
    """AXES_LOCKOUT_CALLABLE: keep the login page (the form already carries the message), as 403."""
    if isinstance(original_response, HttpResponse) and original_response.status_code == 200:
        original_response.status_code = 403
        return original_response
    return HttpResponse(LOCKED_OUT_MESSAGE, status=403, content_type="text/plain; charset=utf-8")


def _user_id(username: str) -> str:
    User = get_user_model()
    pk = User._default_manager.filter(**{User.USERNAME_FIELD: username}).values_list("pk", flat=True).first()
    return "" if pk is None else str(pk)


def _record(action: str, username: str, changes: dict) -> None:
    # Nobody is logged in: the attempted user name is the object, the actor is anonymous.
    with transaction.atomic(), audit_context(label="anonymous"):
        audit_record(
            action=action,
            object_type="auth.user",
            object_id=_user_id(username),
            object_repr=username,
            changes=changes,
        )


@receiver(user_login_failed, dispatch_uid="vigil_audit_login_failed")
def _audit_login_failed(sender, credentials, request=None, **kwargs):
    username = str(credentials.get(get_user_model().USERNAME_FIELD) or "")[:150]
    _record("auth.login_failed", username, {"path": request.path if request is not None else ""})
    security_event_record(kind=SecurityEventKind.LOGIN_FAILED, request=request, username=username)


@receiver(user_locked_out, dispatch_uid="vigil_audit_locked_out")
def _audit_locked_out(sender, request, username, ip_address, **kwargs):
    failures = getattr(request, "axes_failures_since_start", None)
    # Axes signals on every refused attempt while locked; the audit records the moment of locking.
    if failures is not None and failures != axes_settings.AXES_FAILURE_LIMIT:
        return
    _record("auth.locked_out", str(username or ""), {"failures": failures})
    security_event_record(
        kind=SecurityEventKind.LOCKED_OUT,
        request=request,
        username=str(username or ""),
        detail=f"locked after {failures} failed logins",
    )


def account_unlock(*, username: str) -> int:
    """Forget `username`'s failed logins, which lifts its lock; returns how many failures were forgotten."""
    with transaction.atomic():
        failures = AccessAttempt.objects.filter(username=username).aggregate(n=Sum("failures_since_start"))["n"] or 0
        axes_reset(username=username)
        audit_record(
            action="auth.unlocked",
            object_type="auth.user",
            object_id=_user_id(username),
            object_repr=username,
            changes={"failures": [failures, 0]},
        )
    return failures
