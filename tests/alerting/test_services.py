"""notify(): routing, idempotency, person targets, the transaction it writes in."""

import pytest
from django.db import transaction

from alerting.choices import ChannelKind, EventType, NotificationStatus
from alerting.models import Notification
from alerting.services import notify
from governance.choices import Severity
from governance.errors import ValidationFailed
from governance.models import AuditEvent
from tests.factories import ServiceFactory, TeamFactory, UserFactory

from .factories import ChannelFactory, ContactMethodFactory, RuleFactory

pytestmark = pytest.mark.django_db


def _notify(**kwargs):
    defaults = {"subject": "Checkout is down", "idempotency_key": "INC-1:declared", "severity": Severity.SEV1}
    return notify(EventType.INCIDENT_DECLARED, **{**defaults, **kwargs})


def test_notify_writes_one_row_per_matched_channel():
    slack, pager = ChannelFactory(kind=ChannelKind.SLACK_WEBHOOK), ChannelFactory(kind=ChannelKind.GENERIC_WEBHOOK)
    RuleFactory(channels=[slack, pager])
    RuleFactory(channels=[slack])  # the same channel through a second rule is one row

    rows = _notify()

    assert sorted(r.channel_id for r in rows) == sorted([slack.pk, pager.pk])
    assert all(r.status == NotificationStatus.PENDING for r in rows)


def test_same_idempotency_key_twice_makes_no_new_rows():
    RuleFactory(channels=[ChannelFactory()])
    first = _notify()
    second = _notify()
    assert [r.pk for r in second] == [r.pk for r in first]
    assert Notification.objects.count() == 1


def test_rule_with_minimum_severity_skips_less_severe_events():
    RuleFactory(channels=[ChannelFactory()], min_severity=Severity.SEV2)
    assert _notify(severity=Severity.SEV3) == []
    assert len(_notify(severity=Severity.SEV1, idempotency_key="k2")) == 1


def test_rule_matches_event_types_only():
    RuleFactory(channels=[ChannelFactory()], event_types=[EventType.BACKUP_FAILED])
    assert _notify() == []


def test_team_rule_matches_events_of_the_teams_services():
    team = TeamFactory()
    RuleFactory(channels=[ChannelFactory()], team=team)
    assert len(_notify(service=ServiceFactory(owner_team=team))) == 1
    assert _notify(service=ServiceFactory(), idempotency_key="other") == []


def test_disabled_channel_gets_nothing():
    RuleFactory(channels=[ChannelFactory(enabled=False)])
    assert _notify() == []


def test_recipient_without_contact_methods_gets_email():
    user = UserFactory(email="cmd@example.com")
    rows = _notify(recipients=[user])
    assert [(r.kind, r.to_address, r.recipient_id) for r in rows] == [(ChannelKind.EMAIL, "cmd@example.com", user.pk)]


def test_recipient_contact_method_channel_is_used():
    user = UserFactory()
    personal = ChannelFactory(kind=ChannelKind.SLACK_WEBHOOK)
    ContactMethodFactory(user=user, channel=personal)
    rows = _notify(recipients=[user])
    assert [(r.channel_id, r.recipient_id) for r in rows] == [(personal.pk, user.pk)]


def test_rows_roll_back_with_the_callers_transaction():
    RuleFactory(channels=[ChannelFactory()])
    with pytest.raises(RuntimeError), transaction.atomic():
        _notify()
        raise RuntimeError("the caller's change failed")
    assert Notification.objects.count() == 0


def test_delivery_is_queued_on_commit(django_capture_on_commit_callbacks):
    RuleFactory(channels=[ChannelFactory()])
    with django_capture_on_commit_callbacks() as callbacks:
        _notify()
    assert len(callbacks) == 1


def test_notify_records_an_audit_event():
    RuleFactory(channels=[ChannelFactory()])
    _notify()
    assert AuditEvent.objects.filter(action="notify", object_type="alerting.notification").count() == 1


def test_unknown_event_type_is_refused():
    with pytest.raises(ValidationFailed):
        notify("incident.exploded", subject="x", idempotency_key="k")


def test_context_carries_what_the_payload_needs():
    RuleFactory(channels=[ChannelFactory()])
    service = ServiceFactory(slug="checkout-api")
    (row,) = _notify(
        service=service, dedup_key="INC-1", links=[{"label": "Incident", "url": "https://v/x"}], data={"a": 1}
    )
    assert row.context["service"] == "checkout-api"
    assert row.context["dedup_key"] == "INC-1"
    assert row.context["data"] == {"a": 1}
    assert row.context["idempotency_key"] == row.key


def test_demo_seeder_is_idempotent(settings):
    import io

    from alerting.demo import seed_alerting
    from alerting.models import Channel, EscalationPolicy, OnCallRotation, RoutingRule
    from governance.demo import seed_kernel

    settings.ALERT_ALLOW_PRIVATE_URLS = True
    seed_kernel(io.StringIO())
    seed_alerting(io.StringIO())
    counts = [m.objects.count() for m in (OnCallRotation, Channel, EscalationPolicy, RoutingRule)]
    seed_alerting(io.StringIO())
    assert [m.objects.count() for m in (OnCallRotation, Channel, EscalationPolicy, RoutingRule)] == counts
    assert counts[0] == 2 and counts[3] >= 3
    assert Channel.objects.filter(enabled=True, kind=ChannelKind.SLACK_WEBHOOK).exists()


def test_health_check_is_critical_with_dead_letters():
    from alerting.registrations import check_notifications
    from governance.choices import CheckStatus

    RuleFactory(channels=[ChannelFactory()])
    assert check_notifications().status == CheckStatus.OK
    Notification.objects.filter(pk__in=[r.pk for r in _notify()]).update(status=NotificationStatus.DEAD_LETTER)
    assert check_notifications().status == CheckStatus.CRITICAL


def test_dead_letter_gauge_counts_dead_letters():
    from governance.metrics import exposition

    RuleFactory(channels=[ChannelFactory()])
    Notification.objects.filter(pk__in=[r.pk for r in _notify()]).update(status=NotificationStatus.DEAD_LETTER)
    assert "vigil_notifications_dead_letter 1.0" in exposition().decode()


def test_recipient_email_contact_method_overrides_the_user_address():
    user = UserFactory(email="me@example.com")
    ContactMethodFactory(user=user, email="pager@example.com")
    (row,) = _notify(recipients=[user])
    assert row.to_address == "pager@example.com"


def test_scorecard_dimension_names_the_next_step():
    from alerting.registrations import alerting_score

    result = alerting_score()
    assert 0 <= result["score"] <= 100
    assert any("routing rule" in step for step in result["next_steps"])


def test_evidence_export_lists_the_periods_notifications():
    from datetime import timedelta

    from django.utils import timezone

    from alerting.registrations import export_notifications

    RuleFactory(channels=[ChannelFactory()])
    _notify()
    now = timezone.now()
    columns, rows = export_notifications(now - timedelta(hours=1), now + timedelta(hours=1))
    (row,) = list(rows)
    assert dict(zip(columns, row, strict=True))["event_type"] == "incident.declared"


def test_data_with_datetimes_is_stored_json_safe():
    from django.utils import timezone

    RuleFactory(channels=[ChannelFactory()])
    declared = timezone.now()
    (row,) = _notify(data={"declared_at": declared})
    row.refresh_from_db()
    assert row.context["data"]["declared_at"] == declared.isoformat()
