from django.apps import AppConfig


class BackupsConfig(AppConfig):
    name = "backups"
    verbose_name = "Backups"

    def ready(self) -> None:
        from governance.api.permissions import register_scope_permissions

        from . import console, registrations, tasks  # noqa: F401  (scheduled jobs and registries fill on import)

        register_scope_permissions("backups:read", "backups.view_backuptarget")
        register_scope_permissions("backups:report", "backups.add_backuprun")
