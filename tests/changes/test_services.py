"""Change lifecycle, self-approval, emergency deadlines, suspect flagging and the suspected-cause link."""

import datetime as dt

import pytest
import time_machine

from changes import services
from changes.choices import ChangeEventKind, ChangeStatus
from changes.models import Change, ChangeEvent, Deployment
from changes.selectors import delivery_metrics
from changes.tasks import emergency_approval_due, flag_suspects
from governance.errors import Conflict, ValidationFailed
from governance.models import AuditEvent
from incidents.choices import EventKind
from incidents.models import IncidentEvent
from tests.factories import person
from tests.incidents.conftest import deliver_pending, sink_events
from tests.incidents.factories import IncidentFactory

pytestmark = pytest.mark.django_db
T0 = dt.datetime(2026, 3, 4, 10, 0, tzinfo=dt.UTC)


def normal_change(service, implementer, **fields):
    return services.change_create(
        title="Rotate TLS certificates",
        services=[service],
        implementer=implementer,
        created_by=implementer,
        **fields,
    )


def test_lifecycle_is_on_the_timeline_and_in_the_audit_trail(service, implementer, change_manager):
    change = normal_change(service, implementer)
    services.change_submit(change=change, actor=implementer)
    services.change_approve(change=change, actor=change_manager)
    services.change_start(change=change, actor=implementer)
    services.change_finish(change=change, outcome=ChangeStatus.COMPLETED, actor=implementer)
    change.refresh_from_db()
    assert change.status == ChangeStatus.COMPLETED
    kinds = list(ChangeEvent.objects.filter(change=change).order_by("occurred_at", "id").values_list("kind", flat=True))
    assert kinds == ["created", "submitted", "approved", "started", "completed"]
    actions = set(AuditEvent.objects.filter(object_id=str(change.pk)).values_list("action", flat=True))
    assert {"change.create", "change.submitted", "change.approve", "change.started", "change.completed"} <= actions


def test_invalid_transition_is_refused_with_its_code(service, implementer):
    change = normal_change(service, implementer)
    with pytest.raises(Conflict) as err:
        services.change_start(change=change, actor=implementer)
    assert err.value.code == "invalid_transition"
    assert err.value.status == 409


def test_nobody_approves_their_own_change(service, implementer):
    change = normal_change(service, implementer)
    services.change_submit(change=change, actor=implementer)
    with pytest.raises(services.SelfApproval) as err:
        services.change_approve(change=change, actor=implementer)
    assert err.value.code == "self_approval"
    change.refresh_from_db()
    assert change.status == ChangeStatus.SUBMITTED


def test_the_implementer_cannot_be_an_approver(service, implementer):
    with pytest.raises(ValidationFailed) as err:
        normal_change(service, implementer, approvers=[implementer])
    assert "approvers" in err.value.fields


def test_standard_change_is_pre_approved_on_submit(service, implementer):
    change = normal_change(service, implementer, kind="standard")
    services.change_submit(change=change, actor=implementer)
    change.refresh_from_db()
    assert change.status == ChangeStatus.APPROVED


def test_a_normal_change_planned_in_a_freeze_needs_an_exception(service, implementer, change_manager, ops_admin):
    window = services.freeze_window_create(
        name="Black Friday", reason="Peak.", starts_at=T0, ends_at=T0 + dt.timedelta(days=1), services=[service]
    )
    change = normal_change(
        service, implementer, planned_start=T0 + dt.timedelta(hours=2), planned_end=T0 + dt.timedelta(hours=3)
    )
    services.change_submit(change=change, actor=implementer)
    with pytest.raises(Conflict) as err:
        services.change_approve(change=change, actor=change_manager)
    assert err.value.code == "freeze_exception_required"
    exception = services.freeze_exception_request(
        window=window,
        change=change,
        reason="Certificate expires tomorrow.",
        valid_from=T0,
        valid_until=T0 + dt.timedelta(days=1),
        requested_by=implementer,
    )
    services.freeze_exception_decide(exception=exception, approve=True, actor=ops_admin)
    services.change_approve(change=change, actor=change_manager)
    assert Change.objects.get(pk=change.pk).status == ChangeStatus.APPROVED


def test_emergency_change_not_approved_in_time_notifies_its_approvers(
    service, implementer, change_manager, sink_channel, http_sink, settings
):
    settings.CHANGES_EMERGENCY_APPROVAL_HOURS = 4
    approver = person("approver", "Change Manager", email="approver@example.com")
    with time_machine.travel(T0, tick=False):
        change = normal_change(service, implementer, kind="emergency", approvers=[approver])
        services.change_submit(change=change, actor=implementer)
        services.change_start(change=change, actor=implementer)  # emergencies start before approval
    change.refresh_from_db()
    assert change.approval_due_at == T0 + dt.timedelta(hours=4)
    with time_machine.travel(T0 + dt.timedelta(hours=3, minutes=59), tick=False):
        assert emergency_approval_due() == "0 approval reminder(s)"
    with time_machine.travel(T0 + dt.timedelta(hours=4, minutes=1), tick=False):
        assert emergency_approval_due() == "1 approval reminder(s)"
        assert emergency_approval_due() == "0 approval reminder(s)"  # once
    from alerting.models import Notification

    notes = Notification.objects.filter(event_type="change.approval_due")
    assert {n.to_address for n in notes if n.recipient_id} == {"approver@example.com"}
    deliver_pending()
    assert "change.approval_due" in sink_events(http_sink)
    assert ChangeEvent.objects.filter(change=change, kind=ChangeEventKind.APPROVAL_DUE).exists()
    # approved after the fact: the change keeps its status
    services.change_approve(change=change, actor=approver)
    change.refresh_from_db()
    assert change.status == ChangeStatus.IN_PROGRESS and change.approved_by == approver


def test_incident_30_minutes_after_a_deployment_flags_it_suspect_and_notifies_the_implementer(
    service, implementer, commander, sink_channel, http_sink
):
    with time_machine.travel(T0, tick=False):
        recorded = services.deployment_record(
            service=service,
            environment="production",
            version="5.1.0",
            status="succeeded",
            started_at=T0 - dt.timedelta(minutes=5),
            finished_at=T0,
            implementer=implementer,
        )
    with time_machine.travel(T0 + dt.timedelta(minutes=30), tick=False):
        incident = IncidentFactory(service=service, severity="SEV1", commander=commander)
        assert flag_suspects() == "1 deployment(s) flagged suspect"
        assert flag_suspects() == "0 deployment(s) flagged suspect"
    deployment = Deployment.objects.get(pk=recorded.deployment.pk)
    assert deployment.suspect_incident == incident
    from alerting.models import Notification

    suspect = Notification.objects.filter(event_type="change.suspect")
    assert any(n.recipient_id == implementer.pk for n in suspect)
    deliver_pending()
    assert "change.suspect" in sink_events(http_sink)


def test_incident_after_the_watch_window_is_not_suspect(service, implementer, commander, settings):
    settings.CHANGES_WATCH_MINUTES = 60
    with time_machine.travel(T0, tick=False):
        services.deployment_record(
            service=service,
            environment="production",
            version="5.1.0",
            status="succeeded",
            started_at=T0,
            finished_at=T0,
        )
    with time_machine.travel(T0 + dt.timedelta(minutes=61), tick=False):
        IncidentFactory(service=service, severity="SEV1", commander=commander)
        assert flag_suspects() == "0 deployment(s) flagged suspect"


def test_linking_a_suspected_cause_records_both_timelines_and_counts_in_the_failure_rate(
    service, implementer, commander
):
    deployments = []
    for n in range(4):
        deployments.append(
            services.deployment_record(
                service=service,
                environment="production",
                version=f"5.{n}",
                status="succeeded",
                started_at=T0 + dt.timedelta(hours=n),
                finished_at=T0 + dt.timedelta(hours=n, minutes=5),
            ).deployment
        )
    with time_machine.travel(T0 + dt.timedelta(hours=3, minutes=35), tick=False):
        incident = IncidentFactory(service=service, severity="SEV2", commander=commander)
    metrics = delivery_metrics(by="service", since=T0 - dt.timedelta(days=1), until=T0 + dt.timedelta(days=1))
    assert metrics[0]["change_failure_rate"] == 0
    last = deployments[-1]
    services.suspected_cause_link(incident=incident, change=last.change, deployment=last, actor=commander)
    services.suspected_cause_link(incident=incident, change=last.change, deployment=last, actor=commander)  # idempotent
    event = IncidentEvent.objects.get(incident=incident, kind=EventKind.CHANGE_LINKED)
    assert last.change.reference in event.message
    assert ChangeEvent.objects.filter(change=last.change, kind=ChangeEventKind.INCIDENT_LINKED).count() == 1
    metrics = delivery_metrics(by="service", since=T0 - dt.timedelta(days=1), until=T0 + dt.timedelta(days=1))
    assert metrics[0]["deployments"] == 4
    assert metrics[0]["change_failure_rate"] == 0.25


def test_deployment_attaches_to_the_normal_change_naming_its_release(service, implementer, change_manager):
    change = normal_change(service, implementer, release_tag="7.0")
    services.change_submit(change=change, actor=implementer)
    services.change_approve(change=change, actor=change_manager)
    recorded = services.deployment_record(
        service=service, environment="production", version="7.0", status="running", started_at=T0
    )
    assert recorded.deployment.change_id == change.pk
    assert Change.objects.get(pk=change.pk).status == ChangeStatus.IN_PROGRESS
    again = services.deployment_record(
        service=service,
        environment="production",
        version="7.0",
        status="succeeded",
        started_at=T0,
        finished_at=T0 + dt.timedelta(minutes=3),
    )
    assert not again.created and again.deployment.pk == recorded.deployment.pk
    assert Change.objects.get(pk=change.pk).status == ChangeStatus.COMPLETED


def test_deployment_inside_a_freeze_is_recorded_and_flagged(service):
    services.freeze_window_create(
        name="Freeze",
        reason="r",
        starts_at=T0 - dt.timedelta(hours=1),
        ends_at=T0 + dt.timedelta(hours=1),
        all_services=True,
    )
    recorded = services.deployment_record(
        service=service, environment="production", version="1", status="running", started_at=T0
    )
    assert recorded.deployment.in_freeze is True
