"""Admin for login protection: failed-login records (django-axes) and TOTP devices (django-otp).

Both packages register plain ModelAdmins; these replace them with the house audit. Unlocking is
deleting a user name's failed attempts: the "Unlock" action clears every record of each selected
name (a lock counts failures across addresses), and plain deletes stay audited too.
"""

from axes import admin as axes_admin
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib import admin
from django_otp.plugins.otp_totp import admin as totp_admin
from django_otp.plugins.otp_totp.models import TOTPDevice

from .admin_base import VigilModelAdmin
from .login_protection import account_unlock

admin.site.unregister(AccessAttempt)
admin.site.unregister(AccessLog)
# Failures are audit events (auth.login_failed); axes's own failure log is off and has no page.
admin.site.unregister(AccessFailureLog)
admin.site.unregister(TOTPDevice)


@admin.register(AccessAttempt)
class AccessAttemptAdmin(VigilModelAdmin, axes_admin.AccessAttemptAdmin):
    actions = ["unlock"]
    ordering = ["-attempt_time", "-id"]

    def has_change_permission(self, request, obj=None):
        return False  # a record of what happened: unlock or delete, never edit

    @admin.action(permissions=["delete"], description="Unlock the selected user names")
    def unlock(self, request, queryset):
        usernames = sorted(set(queryset.values_list("username", flat=True)) - {None})
        for username in usernames:
            account_unlock(username=username)
        self.message_user(request, f"Unlocked {', '.join(usernames) or 'nobody'}; they can log in again.")


@admin.register(AccessLog)
class AccessLogAdmin(VigilModelAdmin, axes_admin.AccessLogAdmin):
    ordering = ["-attempt_time", "-id"]

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(TOTPDevice)
class TOTPDeviceAdmin(VigilModelAdmin, totp_admin.TOTPDeviceAdmin):
    """Deleting a person's device makes them enrol again at their next login (a lost phone)."""
