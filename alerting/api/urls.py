from django.urls import path

from . import views

app_name = "alerting"

urlpatterns = [
    path("calendar/<str:token>.ics", views.calendar, name="calendar"),
]
