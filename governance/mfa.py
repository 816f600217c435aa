"""A second factor (TOTP, django-otp) for the admin logins that need one.

Who needs one: superusers (MFA_REQUIRE_SUPERUSERS) and members of MFA_REQUIRED_GROUPS, when debug is
off. After the password such a person is sent to /admin/mfa/: the code from their authenticator app,
or, with no device yet, enrolment by QR code. Until then the admin refuses them
(`VigilAdminSite.has_permission`) and everything outside the admin sees them as anonymous
(`MfaSessionMiddleware`), so a password alone never reaches data.
"""

import base64
import math

import django_otp
import qrcode
import qrcode.image.svg
from django import forms
from django.conf import settings
from django.contrib.auth import logout
from django.contrib.auth.models import AnonymousUser
from django.db import transaction
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import SimpleLazyObject
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.safestring import SafeString, mark_safe
from django_otp.plugins.otp_totp.models import TOTPDevice

from .audit import audit_record

DEVICE_NAME = "Authenticator app"


def mfa_required(user) -> bool:
    """Whether `user` must pass a second factor for the admin (never with debug on)."""
    if settings.DEBUG or not getattr(user, "is_authenticated", False):
        return False
    cached = getattr(user, "_vigil_mfa_required", None)
    if cached is None:
        groups = settings.MFA_REQUIRED_GROUPS
        cached = bool(
            (user.is_superuser and settings.MFA_REQUIRE_SUPERUSERS)
            or (groups and user.groups.filter(name__in=groups).exists())
        )
        user._vigil_mfa_required = cached
    return cached


def is_verified(user) -> bool:
    # OTPMiddleware installs is_verified(); a user just logged in by this request has not got it yet.
    check = getattr(user, "is_verified", None)
    return bool(check and check())


def second_factor_pending_for(user) -> bool:
    """A logged-in user who needs a second factor and has not given it in this session."""
    return mfa_required(user) and not is_verified(user)


def second_factor_pending(request) -> bool:
    return second_factor_pending_for(getattr(request, "user", None))


def second_factor_url(request, next_url: str = "") -> str:
    url = reverse("admin:mfa")
    return f"{url}?{urlencode({'next': next_url})}" if next_url else url


def _safe_next(request) -> str:
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return reverse("admin:index")


class MfaSessionMiddleware:
    """Outside the admin, a session still waiting for its second factor is anonymous.

    The admin itself redirects such a session to /admin/mfa/; the API and /health, which also accept
    the admin session, must not take a password alone for a login. request.user stays lazy.
    """

    def __init__(self, get_response):
        self.get_response = get_response
        self._admin_prefix = None

    def __call__(self, request):
        if self._admin_prefix is None:
            self._admin_prefix = reverse("admin:index")
        if not request.path.startswith(self._admin_prefix) and hasattr(request, "user"):
            user = request.user
            request.user = SimpleLazyObject(lambda: AnonymousUser() if second_factor_pending_for(user) else user)
        return self.get_response(request)


# --- QR code -----------------------------------------------------------------------------------


def qr_svg(data: str) -> SafeString:
    """`data` as a QR code, an inline SVG (one path on a white square, so dark themes still scan)."""
    image = qrcode.make(data, image_factory=qrcode.image.svg.SvgPathFillImage, box_size=16)
    svg = image.to_string(encoding="unicode")
    return mark_safe(svg.split("?>", 1)[-1].strip())  # noqa: S308 (generated here from our own data)


def _grouped_secret(device: TOTPDevice) -> str:
    secret = base64.b32encode(device.bin_key).decode()
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


# --- views (wired by VigilAdminSite.get_urls, outside admin_view: these users lack permission) ----


class TokenForm(forms.Form):
    otp_token = forms.CharField(
        label="Code",
        max_length=8,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}),
    )


def _throttled(devices) -> str:
    """A message when every device is still waiting after wrong codes (django-otp doubles the wait each time)."""
    now, waits = timezone.now(), []
    for device in devices:
        allowed, data = device.verify_is_allowed()
        if allowed:
            return ""
        if data and data.get("locked_until"):
            waits.append(max(1, math.ceil((data["locked_until"] - now).total_seconds())))
    return f"Too many wrong codes: wait {min(waits)} s, then type the code your app shows then." if waits else ""


def _context(request, admin_site, **extra):
    return {**admin_site.each_context(request), "next": _safe_next(request), **extra}


def verify_view(request, admin_site):
    """The code after the password."""
    user = request.user
    if is_verified(user):
        return HttpResponseRedirect(_safe_next(request))
    if not django_otp.user_has_device(user):
        return HttpResponseRedirect(f"{reverse('admin:mfa_enrol')}?{urlencode({'next': _safe_next(request)})}")
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        throttled = _throttled(django_otp.devices_for_user(user))
        device = None if throttled else django_otp.match_token(user, form.cleaned_data["otp_token"].replace(" ", ""))
        if device is not None:
            django_otp.login(request, device)
            return HttpResponseRedirect(_safe_next(request))
        with transaction.atomic():
            audit_record(action="auth.mfa_failed", obj=user, object_repr=user.get_username())
        form.add_error("otp_token", throttled or "That code is not right. Type the code your app shows now.")
    return TemplateResponse(
        request, "governance/mfa_verify.html", _context(request, admin_site, title="Second factor", form=form)
    )


def enrol_view(request, admin_site):
    """Enrolment: scan the QR code, confirm with a code. Only while the user has no confirmed device."""
    user = request.user
    if django_otp.user_has_device(user):
        return HttpResponseRedirect(f"{reverse('admin:mfa')}?{urlencode({'next': _safe_next(request)})}")
    # One pending device per person: a reload shows the same code, so a scan already made stays good.
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=False)
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        throttled = _throttled([device])
        if not throttled and device.verify_token(form.cleaned_data["otp_token"].replace(" ", "")):
            with transaction.atomic():
                device.confirmed = True
                device.save(update_fields=["confirmed"])
                audit_record(action="auth.mfa_enrolled", obj=device, object_repr=f"{user.get_username()}: {device}")
            django_otp.login(request, device)
            return HttpResponseRedirect(_safe_next(request))
        wrong = "That code is not right. Check the phone's clock and type the code shown now."
        form.add_error("otp_token", throttled or wrong)
    context = _context(
        request,
        admin_site,
        title="Set up your second factor",
        form=form,
        qr_svg=qr_svg(device.config_url),
        secret=_grouped_secret(device),
    )
    return TemplateResponse(request, "governance/mfa_enrol.html", context)


def logout_view(request, admin_site):
    """Log out from the second-factor pages (the admin's own logout needs the admin's permission)."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    logout(request)
    return HttpResponseRedirect(reverse("admin:login"))
