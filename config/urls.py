from csp.decorators import csp_update
from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from governance.api import errors as api_errors
from governance.media import protected_media

# Each app owns a prefix under /api/v1/: a request is tried against the paths of the app whose prefix
# it has, not against every app's in turn.
api_v1 = [
    path("alerts/", include("incidents.api.ingestion_urls")),
    path("oncall/", include("alerting.api.urls")),
    path("incidents/", include("incidents.api.urls")),
    path("backups/", include("backups.api.urls")),
    path("access/", include("access_reviews.api.urls")),
    path("changes/", include("changes.api.urls")),
    path("slos/", include("slos.api.urls")),
]

# Swagger UI, split so its init script is a file (?script) rather than inline; its stylesheet draws its
# icons as data: SVGs, which only this page's policy allows.
api_docs = csp_update({"img-src": ["data:"]})(
    SpectacularSwaggerSplitView.as_view(url_name="api-schema", template_name="api/docs.html")
)

# The prefixed paths first: a request for one of them is then not tried against every path of the
# unprefixed include (/health, /metrics, ...) before it, and a prefix that does not match is a cheap test.
urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", api_docs, name="api-docs"),
    path("", include("governance.urls")),
]
# Uploaded evidence, for people who may view its record (never a public folder, debug or not).
urlpatterns.append(path(f"{settings.MEDIA_URL.strip('/')}/<path:path>", protected_media, name="media"))


def handler404(request, exception=None):
    if request.path.startswith("/api/"):
        return api_errors.json_not_found(request, exception)
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


def handler500(request):
    if request.path.startswith("/api/"):
        return api_errors.json_server_error(request)
    from django.views.defaults import server_error

    return server_error(request)


def handler400(request, exception=None):
    if request.path.startswith("/api/"):
        return api_errors.json_bad_request(request, exception)
    from django.views.defaults import bad_request

    return bad_request(request, exception)
