from django.apps import AppConfig
from django.db.models.signals import post_migrate


class GovernanceConfig(AppConfig):
    name = "governance"
    verbose_name = "Governance"

    def ready(self) -> None:
        # Imported for their registrations: kernel health checks, metrics, panels,
        # scheduled jobs, security signals, and the SQLite append-only guard function.
        from . import db_guard, health, login_protection, metrics, panels, scorecard, security, tasks  # noqa: F401

        post_migrate.connect(_sync_schedules_after_migrate, sender=self, dispatch_uid="vigil_sync_schedules")


def _sync_schedules_after_migrate(sender, using="default", **kwargs):
    # Schedules declared in code reach django-celery-beat on every migrate.
    from .jobs import sync_schedules

    sync_schedules(using=using)
