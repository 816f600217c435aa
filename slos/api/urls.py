from django.urls import path

from . import views

app_name = "slos"

urlpatterns = [
    path("", views.SLOListView.as_view(), name="slo-list"),
    path("<slug:slug>/events/", views.SLOEventsView.as_view(), name="slo-events"),
]
