"""The project's URLs plus one view that calls notify() the way an app's web request does."""

from django.db import transaction
from django.http import JsonResponse
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt

from alerting.choices import EventType
from alerting.services import notify
from governance.choices import Severity


@csrf_exempt
def notify_view(request):
    with transaction.atomic():
        rows = notify(
            EventType.INCIDENT_DECLARED,
            subject=request.POST["subject"],
            idempotency_key=request.POST["key"],
            severity=Severity.SEV1,
            dedup_key=request.POST["key"],
        )
    return JsonResponse({"notifications": [row.pk for row in rows]}, status=201)


urlpatterns = [
    path("test-notify/", notify_view),
    path("", include("config.urls")),
]
