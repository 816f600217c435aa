from django.apps import AppConfig


class RunbooksConfig(AppConfig):
    name = "runbooks"
    verbose_name = "Runbooks"

    def ready(self) -> None:
        from governance.registries import (
            DashboardPanel,
            EvidenceExporter,
            MetricFamily,
            ObjectPanel,
            ScorecardDimension,
            StatusSource,
            dashboard_panels,
            demo_seeders,
            evidence_exporters,
            metrics,
            object_panels,
            scorecard_dimensions,
            status_sources,
        )

        from . import console, demo, evidence, panels, tasks  # noqa: F401  (tasks: scheduled jobs register on import)

        # Incidents never import runbooks: the incident page renders whatever panels are registered.
        object_panels.register(
            "runbooks",
            ObjectPanel("runbooks", "incidents.incident", "Runbooks", panels.render_incident_runbooks, order=20),
        )
        dashboard_panels.register(
            "runbooks",
            DashboardPanel(
                "runbooks",
                "Runbooks",
                panels.render_dashboard_panel,
                order=40,
                permission="runbooks.view_runbook",
                shared=True,
            ),
        )
        metrics.register(
            "vigil_runbooks_review_overdue",
            MetricFamily(
                "vigil_runbooks_review_overdue",
                "Published runbooks overdue for review.",
                panels.review_overdue_samples,
            ),
        )
        metrics.register(
            "vigil_runbook_procedures",
            MetricFamily(
                "vigil_runbook_procedures",
                "Scheduled procedure executions not completed, open and overdue.",
                panels.procedure_samples,
                labels=("state",),
            ),
        )
        status_sources.register("runbooks", StatusSource("runbooks", panels.status_lines))
        scorecard_dimensions.register(
            "runbook_completeness",
            ScorecardDimension("runbook_completeness", "Runbook completeness", panels.scorecard),
        )
        demo_seeders.register("runbooks", demo.seed_runbooks)
        for name, export in evidence.EXPORTERS.items():
            evidence_exporters.register(name, EvidenceExporter(name, export, controls=evidence.CONTROLS))
