from django.apps import AppConfig

# Change management: SOC 2 CC8.1 (changes authorised, tested, approved), ISO 27001 A.8.32.
CHANGE_CONTROLS = ("SOC 2 CC8.1", "ISO 27001 A.8.32")


class ChangesConfig(AppConfig):
    name = "changes"
    verbose_name = "Changes"

    def ready(self) -> None:
        from governance.api.permissions import register_scope_permissions
        from governance.registries import (
            DashboardPanel,
            EvidenceExporter,
            ObjectPanel,
            ScorecardDimension,
            StatusSource,
            dashboard_panels,
            demo_seeders,
            evidence_exporters,
            object_panels,
            scorecard_dimensions,
            status_sources,
        )

        from . import console, dashboard, demo, panels, tasks  # noqa: F401  (tasks: scheduled jobs register on import)
        from .services.gate import register_gate_checks

        register_gate_checks()
        object_panels.register(
            "changes.what_changed",
            ObjectPanel(
                "changes.what_changed", "incidents.incident", "What changed?", panels.render_what_changed, order=20
            ),
        )
        dashboard_panels.register(
            "changes",
            DashboardPanel(
                "changes",
                "Changes and delivery",
                dashboard.render_panel,
                order=40,
                permission="changes.view_change",
                shared=True,
            ),
        )
        dashboard.register_metrics()
        status_sources.register("changes", StatusSource("changes", dashboard.status_lines))
        evidence_exporters.register(
            "changes", EvidenceExporter("changes", dashboard.export_changes, controls=CHANGE_CONTROLS)
        )
        evidence_exporters.register(
            "deployments",
            EvidenceExporter("deployments", dashboard.export_deployments, controls=CHANGE_CONTROLS),
        )
        evidence_exporters.register(
            "gate_decisions",
            EvidenceExporter("gate_decisions", dashboard.export_gate_decisions, controls=CHANGE_CONTROLS),
        )
        scorecard_dimensions.register(
            "change_management",
            ScorecardDimension("change_management", "Change management", dashboard.scorecard),
        )
        demo_seeders.register("changes", demo.seed_changes)

        register_scope_permissions("changes:write", "changes.add_deployment")
        register_scope_permissions("changes:gate", "changes.ask_release_gate")
