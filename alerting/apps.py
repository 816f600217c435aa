from django.apps import AppConfig


class AlertingConfig(AppConfig):
    name = "alerting"
    verbose_name = "Alerting"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Imported for their registrations: tasks and scheduled jobs, dashboard panel,
        # metrics, health check and demo seeder.
        from . import registrations, tasks  # noqa: F401
