from django.urls import path

from . import views

app_name = "alerting"

urlpatterns = [
    path("oncall/calendar/<str:token>.ics", views.calendar, name="calendar"),
]
