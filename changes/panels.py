"""The "What changed?" panel on the incident page (registered in `apps.py` as an object panel)."""

from datetime import timedelta

from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from .choices import SEVERE_SEVERITIES
from .models import SuspectedCause
from .selectors import WHAT_CHANGED_BEFORE, what_changed


def _when(value) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M") if value else "—"


def _before(incident, when) -> str:
    minutes = int((incident.declared_at - when).total_seconds() // 60)
    return f"{minutes} min before" if minutes < 120 else f"{minutes // 60} h before"


def _link_button(request, incident, change, deployment, linked: bool) -> str:
    if linked:
        return format_html('<strong class="vigil-bad">suspected cause</strong>')
    if not request.user.has_perm("changes.add_suspectedcause"):
        return ""
    url = reverse("admin:changes_change_link_cause", args=[change.pk, incident.pk])
    if deployment is not None:
        url += f"?deployment={deployment.pk}"
    # The panel sits inside the incident's form: the button posts that form (with its CSRF token) elsewhere.
    return format_html(
        '<button type="submit" class="button vigil-link-cause" formaction="{}" formmethod="post" formnovalidate>'
        "Suspected cause</button>",
        url,
    )


def render_what_changed(request, incident) -> str:
    if not request.user.has_perm("changes.view_change"):
        return ""
    found = what_changed(incident=incident)
    links = set(SuspectedCause.objects.filter(incident=incident).values_list("change_id", "deployment_id"))
    rows = []
    for deployment in found["deployments"]:
        change = deployment.change
        in_watch = (
            deployment.watch_from
            <= incident.declared_at
            <= deployment.watch_from + timedelta(minutes=deployment.watch_minutes)
        )
        suspect = deployment.suspect_incident_id == incident.pk or (in_watch and incident.severity in SEVERE_SEVERITIES)
        rows.append(
            (
                deployment.started_at,
                format_html(
                    '<tr class="what-changed-deployment{}"><td>{}<br><small>{}</small></td><td>Deployment</td>'
                    '<td>{} <code>{}</code> → {} ({})</td><td><a href="{}">{}</a> {}</td>'
                    "<td>{}</td><td>{}</td><td>{}</td></tr>",
                    " suspect" if suspect else "",
                    _when(deployment.started_at),
                    _before(incident, deployment.started_at),
                    deployment.service.slug,
                    deployment.version,
                    deployment.environment,
                    deployment.get_status_display().lower(),
                    reverse("admin:changes_change_change", args=[change.pk]),
                    change.reference,
                    change.title,
                    change.implementer or "—",
                    format_html('<span class="vigil-warning">suspect</span>') if suspect else "",
                    _link_button(request, incident, change, deployment, (change.pk, deployment.pk) in links),
                ),
            )
        )
    for change in found["changes"]:
        when = change.actual_start or change.planned_start
        rows.append(
            (
                when,
                format_html(
                    '<tr class="what-changed-change"><td>{}<br><small>{}</small></td><td>{} change</td>'
                    '<td>{}</td><td><a href="{}">{}</a> {}</td><td>{}</td><td></td><td>{}</td></tr>',
                    _when(when),
                    _before(incident, when),
                    change.get_kind_display().split(" ")[0],
                    change.get_status_display(),
                    reverse("admin:changes_change_change", args=[change.pk]),
                    change.reference,
                    change.title,
                    change.implementer or "—",
                    _link_button(request, incident, change, None, (change.pk, None) in links),
                ),
            )
        )
    hours = int(WHAT_CHANGED_BEFORE.total_seconds() // 3600)
    if not rows:
        return format_html(
            '<p id="what-changed">No changes or deployments to {} in the {} h before {} was declared.</p>',
            incident.service,
            hours,
            incident.reference,
        )
    rows.sort(key=lambda r: r[0], reverse=True)
    return format_html(
        '<table class="vigil-table" id="what-changed"><caption>Changes and deployments to {} in the {} h before '
        "declaration, newest first</caption><thead><tr><th>When</th><th>What</th><th>Detail</th><th>Change</th>"
        "<th>Implementer</th><th></th><th></th></tr></thead><tbody>{}</tbody></table>",
        incident.service,
        hours,
        format_html_join("", "{}", ((html,) for _, html in rows)),
    )
