from django.apps import AppConfig
from django.db.models.signals import m2m_changed, post_delete, post_migrate, post_save


class GovernanceConfig(AppConfig):
    name = "governance"
    verbose_name = "Governance"

    def ready(self) -> None:
        # Imported for their registrations: kernel health checks, metrics, panels,
        # scheduled jobs, security signals, and the SQLite append-only guard function.
        from . import db_guard, health, login_protection, metrics, panels, scorecard, security, tasks  # noqa: F401

        post_migrate.connect(_sync_schedules_after_migrate, sender=self, dispatch_uid="vigil_sync_schedules")
        # A write to what a "Needs you now" source reads retires the cached lists (governance.console).
        from .console import on_model_write

        for signal in (post_save, post_delete, m2m_changed):
            signal.connect(on_model_write, dispatch_uid="vigil_needs_you_changed")


def _sync_schedules_after_migrate(sender, using="default", **kwargs):
    # Schedules declared in code reach django-celery-beat on every migrate.
    from .jobs import sync_schedules

    sync_schedules(using=using)
