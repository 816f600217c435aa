"""Health endpoints and the metrics scrape, as CONTRACTS.md fixes them."""

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from drf_spectacular.utils import extend_schema
from prometheus_client import CONTENT_TYPE_LATEST
from rest_framework.response import Response
from rest_framework.views import APIView

from .choices import CheckStatus, Scope
from .health import check_database, run_checks, worst
from .metrics import exposition


@require_GET
@never_cache
def live(request):
    # Touches nothing but the process: a load balancer's "is it serving".
    return JsonResponse({"status": "ok"})


def _status_response(results):
    status = worst(r.status for r in results)
    return JsonResponse(
        {"status": "ok" if status != CheckStatus.CRITICAL else "unavailable"},
        status=503 if status == CheckStatus.CRITICAL else 200,
    )


@require_GET
@never_cache
def ready(request):
    return _status_response(run_checks(readiness_only=True))


@require_GET
@never_cache
def database(request):
    try:
        result = check_database()
    except Exception:
        return JsonResponse({"status": "unavailable"}, status=503)
    return _status_response([result])


class HealthView(APIView):
    """Every registered check, with status and detail. Staff session or a `health:read` key."""

    required_scopes = Scope.HEALTH_READ.value
    throttle_classes: list = []

    @extend_schema(exclude=True)
    def get(self, request):
        results = run_checks()
        status = worst(r.status for r in results)
        body = {
            "status": str(status),
            "checked_at": timezone.now().isoformat(),
            "checks": [r.as_dict() for r in results],
            "failing": [r.name for r in results if r.status == CheckStatus.CRITICAL],
        }
        response = Response(body, status=503 if status == CheckStatus.CRITICAL else 200)
        response["Cache-Control"] = "no-store"
        return response


class MetricsView(APIView):
    required_scopes = Scope.HEALTH_READ.value
    throttle_classes: list = []

    def get_permissions(self):
        if settings.METRICS_PUBLIC:
            return []
        return super().get_permissions()

    def get_authenticators(self):
        if settings.METRICS_PUBLIC:
            return []
        return super().get_authenticators()

    @extend_schema(exclude=True)
    def get(self, request):
        return HttpResponse(exposition(), content_type=CONTENT_TYPE_LATEST)


def audit_public_key(request):
    """The Ed25519 public key that signs audit checkpoints and evidence manifests (SubjectPublicKeyInfo PEM)."""
    from .chain import public_key_pem

    return HttpResponse(public_key_pem(), content_type="application/x-pem-file")
