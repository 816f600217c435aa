from django.apps import AppConfig


class IncidentsConfig(AppConfig):
    name = "incidents"
    verbose_name = "Incidents"

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
            webhooks,
        )

        from . import console, dashboard, demo, evidence, tasks  # noqa: F401  (tasks: scheduled jobs register on import)
        from .api.webhooks import ALERTMANAGER_WEBHOOK

        webhooks.register("alertmanager", ALERTMANAGER_WEBHOOK)

        dashboard_panels.register(
            "open_incidents",
            DashboardPanel(
                "open_incidents",
                "Open incidents",
                dashboard.render_open_incidents_panel,
                order=10,
                permission="incidents.view_incident",
                # The same list for everyone who sees incidents; its clocks run in the browser, and what
                # concerns the person looking is in "Needs you now", collected again after every relevant write.
                shared=True,
            ),
        )
        # Charts last: the dashboard answers "what is late" before "how did we do".
        dashboard_panels.register(
            "incidents",
            DashboardPanel(
                "incidents",
                "Incident metrics",
                dashboard.render_incidents_panel,
                order=800,
                permission="incidents.view_incident",
                shared=True,
            ),
        )
        for name, documentation, collect in dashboard.GAUGES:
            metrics.register(name, MetricFamily(name, documentation, collect, labels=("severity",)))
        metrics.register(
            "vigil_postmortem_on_time_ratio",
            MetricFamily(
                "vigil_postmortem_on_time_ratio",
                "Share of due postmortems published on time.",
                dashboard.postmortem_on_time_samples,
            ),
        )
        metrics.register(
            "vigil_action_items",
            MetricFamily(
                "vigil_action_items",
                "Postmortem action items, open and overdue.",
                dashboard.action_items_samples,
                labels=("state",),
            ),
        )
        status_sources.register("incidents", StatusSource("incidents", dashboard.status_lines))
        for name, export, controls in evidence.EXPORTERS:
            evidence_exporters.register(name, EvidenceExporter(name, export, controls=controls))
        scorecard_dimensions.register(
            "incident_response",
            ScorecardDimension("incident_response", "Incident response", dashboard.incident_response_score),
        )
        demo_seeders.register("incidents", demo.seed_incidents)

        register_scope_permissions("incidents:read", "incidents.view_incident")
        register_scope_permissions(
            "incidents:write",
            "incidents.add_incident",
            "incidents.acknowledge_incident",
            "incidents.post_incident_update",
        )
