from django.apps import AppConfig


class AccessReviewsConfig(AppConfig):
    name = "access_reviews"
    verbose_name = "Access reviews"

    def ready(self) -> None:
        from governance.api.permissions import register_scope_permissions
        from governance.registries import (
            DashboardPanel,
            EvidenceExporter,
            MetricFamily,
            ScorecardDimension,
            StatusSource,
            dashboard_panels,
            demo_seeders,
            evidence_exporters,
            metrics,
            scorecard_dimensions,
            status_sources,
        )

        from . import connectors, console, dashboard, demo, evidence, tasks  # noqa: F401  (tasks: jobs register on import)

        dashboard_panels.register(
            "access_reviews",
            DashboardPanel(
                "access_reviews",
                "Access reviews",
                dashboard.render_access_panel,
                order=30,
                permission="access_reviews.view_campaign",
                shared=True,
            ),
        )
        for name, documentation, collect, labels in dashboard.GAUGES:
            metrics.register(name, MetricFamily(name, documentation, collect, labels=labels))
        status_sources.register("access_reviews", StatusSource("access_reviews", dashboard.status_lines))
        scorecard_dimensions.register(
            "access_governance",
            ScorecardDimension("access_governance", "Access governance", dashboard.access_governance_score),
        )
        for name, export in [
            ("access_review_campaigns", evidence.export_campaigns),
            ("access_review_items", evidence.export_items),
            ("access_remediations", evidence.export_remediations),
        ]:
            evidence_exporters.register(name, EvidenceExporter(name, export, controls=evidence.CONTROLS))
        demo_seeders.register("access_reviews", demo.seed_access_reviews)

        register_scope_permissions("access:import", "access_reviews.import_snapshot")
        register_scope_permissions("access:read", "access_reviews.view_campaign", "access_reviews.view_reviewitem")
