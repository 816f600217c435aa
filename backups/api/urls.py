from django.urls import path

from . import views

app_name = "backups"

urlpatterns = [
    path("targets/", views.BackupTargetListView.as_view(), name="target-list"),
    path("runs/", views.BackupRunReportView.as_view(), name="run-report"),
    path("targets/<slug:slug>/report/", views.BackupToolReportView.as_view(), name="tool-report"),
]
