from django.urls import path

from . import views, webhooks

app_name = "incidents"

urlpatterns = [
    path("incidents/", views.IncidentListCreateView.as_view(), name="incident-list"),
    path("incidents/<int:pk>/", views.IncidentDetailView.as_view(), name="incident-detail"),
    path("incidents/<int:pk>/acknowledge/", views.IncidentAcknowledgeView.as_view(), name="incident-acknowledge"),
    path("incidents/<int:pk>/updates/", views.IncidentUpdateView.as_view(), name="incident-updates"),
    path("incidents/<int:pk>/mitigate/", views.IncidentMitigateView.as_view(), name="incident-mitigate"),
    path("incidents/<int:pk>/resolve/", views.IncidentResolveView.as_view(), name="incident-resolve"),
    path("incidents/<int:pk>/close/", views.IncidentCloseView.as_view(), name="incident-close"),
    path("incidents/<int:pk>/severity/", views.IncidentSeverityView.as_view(), name="incident-severity"),
    path("alerts/alertmanager/", webhooks.alertmanager_webhook, name="alertmanager-webhook"),
]
