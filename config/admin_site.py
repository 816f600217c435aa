import logging

from django.conf import settings
from django.contrib import admin
from django.core.cache import cache
from django.http import HttpResponseRedirect
from django.utils.safestring import mark_safe

from governance import mfa
from governance.login_protection import VigilAuthenticationForm
from governance.registries import dashboard_panels

logger = logging.getLogger(__name__)
PANEL_FAILED = mark_safe('<p class="vigil-bad">This panel failed to render; see the logs.</p>')


class VigilAdminSite(admin.AdminSite):
    site_header = "Vigil"
    site_title = "Vigil"
    index_title = "Dashboard"
    # Says "locked" when django-axes has locked the account, not "wrong password".
    login_form = VigilAuthenticationForm

    def has_permission(self, request):
        # A password alone is not enough for the roles that need a second factor (governance.mfa).
        return super().has_permission(request) and not mfa.second_factor_pending(request)

    def login(self, request, extra_context=None):
        """Password first; then, for the roles that need it, the second factor (or its enrolment)."""
        if request.method == "GET" and self._may_give_second_factor(request):
            return HttpResponseRedirect(mfa.second_factor_url(request, request.GET.get("next", "")))
        response = super().login(request, extra_context)
        if request.method == "POST" and response.status_code == 302 and self._may_give_second_factor(request):
            return HttpResponseRedirect(mfa.second_factor_url(request, response["Location"]))
        return response

    @staticmethod
    def _may_give_second_factor(request) -> bool:
        user = request.user
        return user.is_active and user.is_staff and mfa.second_factor_pending(request)

    def _second_factor_view(self, view):
        """The second-factor pages: for a logged-in staff user, who lacks the admin's permission until done."""
        from django.contrib.auth.views import redirect_to_login
        from django.urls import reverse
        from django.views.decorators.cache import never_cache

        def inner(request):
            if not (request.user.is_active and request.user.is_staff):
                return redirect_to_login(request.get_full_path(), reverse("admin:login", current_app=self.name))
            return view(request, self)

        return never_cache(inner)

    def get_urls(self):
        from django.urls import path

        from governance import admin_views, console

        return [
            path("mfa/", self._second_factor_view(mfa.verify_view), name="mfa"),
            path("mfa/enrol/", self._second_factor_view(mfa.enrol_view), name="mfa_enrol"),
            path("mfa/logout/", self._second_factor_view(mfa.logout_view), name="mfa_logout"),
            path("needs-you/", self.admin_view(lambda r: console.needs_you_view(r, self)), name="needs_you"),
            path("jump/", self.admin_view(lambda r: console.jump_view(r, self)), name="jump"),
            path("scorecard/", self.admin_view(lambda r: admin_views.scorecard_view(r, self)), name="scorecard"),
            path("evidence/", self.admin_view(lambda r: admin_views.evidence_view(r, self)), name="evidence"),
            *super().get_urls(),
        ]

    def index(self, request, extra_context=None):
        from governance.console import render_needs_you

        extra_context = {
            **(extra_context or {}),
            "needs_you": render_needs_you(request),
            "panels": self.panels_for(request),
        }
        return super().index(request, extra_context)

    def panels_for(self, request) -> list[dict]:
        panels = []
        visible = [
            panel
            for panel in sorted(dashboard_panels, key=lambda p: (p.order, p.name))
            if not panel.permission or request.user.has_perm(panel.permission)
        ]
        shared = self._shared_html([panel for panel in visible if panel.shared])
        for panel in visible:
            html = shared.get(panel.name)
            if html is None:
                try:
                    html = panel.render(request)
                except Exception:  # one broken panel must not take the dashboard down
                    logger.exception("dashboard panel %s failed", panel.name)
                    html = PANEL_FAILED
                else:
                    if panel.shared and settings.DASHBOARD_PANEL_CACHE_SECONDS > 0:
                        self._share(panel, html)
            if html:
                panels.append({"name": panel.name, "title": panel.title, "html": html})
        return panels

    def _share(self, panel, html) -> None:
        try:
            cache.set(self._cache_key(panel), str(html), settings.DASHBOARD_PANEL_CACHE_SECONDS)
        except Exception:  # the cache is down: the next view renders it again
            logger.warning("could not cache dashboard panel %s", panel.name, exc_info=True)

    @staticmethod
    def _cache_key(panel) -> str:
        return f"vigil:dashboard-panel:{panel.name}"

    def _shared_html(self, panels) -> dict:
        """The cached HTML of these shared panels by name, in one round trip to the cache."""
        if settings.DASHBOARD_PANEL_CACHE_SECONDS <= 0 or not panels:
            return {}
        try:
            found = cache.get_many([self._cache_key(panel) for panel in panels])
        except Exception:  # the cache (Redis) is down: every panel is rendered fresh until it is back
            logger.warning("dashboard panel cache unavailable; rendering every panel", exc_info=True)
            return {}
        return {
            panel.name: mark_safe(found[self._cache_key(panel)])  # noqa: S308 (our own rendered panel)
            for panel in panels
            if self._cache_key(panel) in found
        }
