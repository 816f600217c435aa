from django.urls import path

from . import views

app_name = "changes"

urlpatterns = [
    path("changes/", views.ChangeCreateView.as_view(), name="change-create"),
    path("changes/deployments/", views.DeploymentCreateView.as_view(), name="deployment-create"),
    path("changes/gate/", views.GateView.as_view(), name="gate"),
    path("changes/calendar/<str:token>.ics", views.calendar, name="calendar"),
    path("changes/<str:reference>/", views.ChangeDetailView.as_view(), name="change-detail"),
    path("changes/<str:reference>/<str:action>/", views.ChangeTransitionView.as_view(), name="change-transition"),
]
