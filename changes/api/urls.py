from django.urls import path

from . import views

app_name = "changes"

urlpatterns = [
    path("", views.ChangeCreateView.as_view(), name="change-create"),
    path("deployments/", views.DeploymentCreateView.as_view(), name="deployment-create"),
    path("gate/", views.GateView.as_view(), name="gate"),
    path("calendar/<str:token>.ics", views.calendar, name="calendar"),
    path("<str:reference>/", views.ChangeDetailView.as_view(), name="change-detail"),
    path("<str:reference>/<str:action>/", views.ChangeTransitionView.as_view(), name="change-transition"),
]
