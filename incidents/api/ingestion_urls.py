"""The inbound webhooks incidents answers, under /api/v1/alerts/ (their OpenAPI entries: webhooks.py)."""

from django.urls import path

from . import webhooks

app_name = "ingestion"

urlpatterns = [
    path("alertmanager/", webhooks.alertmanager_webhook, name="alertmanager-webhook"),
]
