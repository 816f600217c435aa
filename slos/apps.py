from django.apps import AppConfig


class SlosConfig(AppConfig):
    name = "slos"
    verbose_name = "Service levels"

    def ready(self) -> None:
        from governance.api.permissions import register_scope_permissions

        from . import console, registrations, tasks  # noqa: F401  (tasks: scheduled jobs register on import)
        from .services.gate import register_gate_checks

        register_gate_checks()
        registrations.register()
        register_scope_permissions("slos:read", "slos.view_slo")
        register_scope_permissions("slos:write", "slos.add_pushedinterval")
