from django.urls import path

from . import views

app_name = "incidents"

urlpatterns = [
    path("", views.IncidentListCreateView.as_view(), name="incident-list"),
    path("<int:pk>/", views.IncidentDetailView.as_view(), name="incident-detail"),
    path("<int:pk>/acknowledge/", views.IncidentAcknowledgeView.as_view(), name="incident-acknowledge"),
    path("<int:pk>/updates/", views.IncidentUpdateView.as_view(), name="incident-updates"),
    path("<int:pk>/mitigate/", views.IncidentMitigateView.as_view(), name="incident-mitigate"),
    path("<int:pk>/resolve/", views.IncidentResolveView.as_view(), name="incident-resolve"),
    path("<int:pk>/close/", views.IncidentCloseView.as_view(), name="incident-close"),
    path("<int:pk>/severity/", views.IncidentSeverityView.as_view(), name="incident-severity"),
]
