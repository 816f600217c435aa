"""The admin: channel forms (URL checks, masked secrets), the outbox list and actions, the matrix."""

import pytest
from django.db import connection
from django.urls import reverse

from alerting.choices import ChannelKind, EventType, NotificationStatus
from alerting.models import Channel, Notification
from alerting.services import notify
from governance.choices import Role, Severity
from governance.models import AuditEvent
from tests.factories import TeamFactory, UserFactory

from .factories import ChannelFactory, PolicyFactory, RotationFactory, RuleFactory

pytestmark = pytest.mark.django_db

ADD_CHANNEL = reverse("admin:alerting_channel_add")


def _channel_form(url, **extra):
    return {"name": "hook", "kind": ChannelKind.GENERIC_WEBHOOK, "enabled": "on", "url": url, **extra}


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080/hook", "http://169.254.169.254/latest/meta-data/"])
def test_channel_url_on_a_private_address_is_refused_with_a_form_error(admin_client, settings, url):
    settings.ALERT_ALLOW_PRIVATE_URLS = False
    response = admin_client.post(ADD_CHANNEL, _channel_form(url))
    assert response.status_code == 200
    assert "private, loopback or link-local" in response.content.decode()
    assert not Channel.objects.exists()


def test_channel_url_with_another_scheme_is_refused(admin_client):
    response = admin_client.post(ADD_CHANNEL, _channel_form("ftp://example.com/x"))
    assert "Only http:// and https://" in response.content.decode()


def test_private_channel_url_is_accepted_when_allowed(admin_client, settings):
    settings.ALERT_ALLOW_PRIVATE_URLS = True
    response = admin_client.post(ADD_CHANNEL, _channel_form("http://127.0.0.1:8080/hook"))
    assert response.status_code == 302
    assert Channel.objects.get().url == "http://127.0.0.1:8080/hook"


def test_channel_secrets_are_encrypted_at_rest():
    channel = ChannelFactory(url="https://hooks.example.com/T0/B0/secretpart", signing_secret="hmac-secret")
    with connection.cursor() as cursor:
        cursor.execute("SELECT url, signing_secret FROM alerting_channel WHERE id = %s", [channel.pk])
        url, secret = cursor.fetchone()
    assert url.startswith("fernet:") and "secretpart" not in url
    assert secret.startswith("fernet:") and "hmac-secret" not in secret


def test_channel_list_and_form_show_secrets_masked(admin_client):
    channel = ChannelFactory(url="https://hooks.example.com/services/T0/B0/secretpart1234")
    listing = admin_client.get(reverse("admin:alerting_channel_changelist")).content.decode()
    form = admin_client.get(reverse("admin:alerting_channel_change", args=[channel.pk])).content.decode()
    assert "https://hooks.example.com/…1234" in listing
    assert "secretpart" not in listing and "secretpart" not in form


def test_saving_a_channel_with_empty_secret_keeps_the_stored_one(admin_client):
    channel = ChannelFactory(url="https://hooks.example.com/keep-me", signing_secret="s")
    response = admin_client.post(
        reverse("admin:alerting_channel_change", args=[channel.pk]),
        {"name": "renamed", "kind": ChannelKind.GENERIC_WEBHOOK, "enabled": "on", "url": "", "signing_secret": ""},
    )
    assert response.status_code == 302
    channel.refresh_from_db()
    assert (channel.name, channel.url, channel.signing_secret) == ("renamed", "https://hooks.example.com/keep-me", "s")


def test_channel_audit_records_masked_secrets(admin_client):
    admin_client.post(ADD_CHANNEL, _channel_form("https://hooks.example.com/services/very-secret-token"))
    event = AuditEvent.objects.get(object_type="alerting.channel", action="create")
    assert "very-secret-token" not in str(event.changes)


def test_send_test_action_queues_a_notification_to_the_channel(admin_client):
    channel = ChannelFactory()
    admin_client.post(
        reverse("admin:alerting_channel_changelist"), {"action": "send_test", "_selected_action": [channel.pk]}
    )
    (row,) = Notification.objects.all()
    assert (row.channel, row.event_type) == (channel, EventType.CHANNEL_TEST)


def _notifications(count):
    RuleFactory(channels=[ChannelFactory(), ChannelFactory(kind=ChannelKind.SLACK_WEBHOOK)])
    for i in range(count):
        notify(EventType.BACKUP_FAILED, subject=f"backup {i} failed", idempotency_key=f"b{i}", severity=Severity.SEV2)


def test_notification_changelist_query_count_does_not_grow_with_rows(admin_client, django_assert_max_num_queries):
    url = reverse("admin:alerting_notification_changelist")
    _notifications(1)
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        admin_client.get(url)
    _notifications(15)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert admin_client.get(url).status_code == 200


def test_notification_change_page_shows_attempt_history(admin_client, http_sink, settings):
    from alerting.services import notification_deliver

    settings.ALERT_ALLOW_PRIVATE_URLS = True
    RuleFactory(channels=[ChannelFactory(url=f"{http_sink.url}/x")])
    http_sink.respond(503)
    (row,) = notify(EventType.BACKUP_FAILED, subject="backup failed", idempotency_key="b")
    notification_deliver(notification_id=row.pk)
    page = admin_client.get(reverse("admin:alerting_notification_change", args=[row.pk])).content.decode()
    assert "HTTP 503" in page


def test_retry_action_requeues_a_dead_letter(admin_client):
    _notifications(1)
    Notification.objects.update(status=NotificationStatus.DEAD_LETTER)
    admin_client.post(
        reverse("admin:alerting_notification_changelist"),
        {"action": "retry", "_selected_action": list(Notification.objects.values_list("pk", flat=True))},
    )
    assert set(Notification.objects.values_list("status", flat=True)) == {NotificationStatus.PENDING}


def test_discard_action_asks_for_a_reason_then_discards(admin_client):
    _notifications(1)
    url = reverse("admin:alerting_notification_changelist")
    ids = list(Notification.objects.values_list("pk", flat=True))
    ask = admin_client.post(url, {"action": "discard", "_selected_action": ids})
    assert b"reason" in ask.content
    admin_client.post(url, {"action": "discard", "_selected_action": ids, "reason": "channel retired"})
    assert set(Notification.objects.values_list("discard_reason", flat=True)) == {"channel retired"}


def test_matrix_shows_channels_policy_and_who_is_on_call(admin_client):
    on_call = UserFactory(username="oncall.person")
    team = TeamFactory(name="Payments")
    RotationFactory(team=team, members=[on_call])
    RuleFactory(
        team=team,
        event_types=[EventType.INCIDENT_DECLARED],
        min_severity=Severity.SEV1,
        channels=[ChannelFactory(name="#pay-incidents")],
        escalation_policy=PolicyFactory(name="Page payments"),
    )
    page = admin_client.get(reverse("admin:alerting_routingrule_matrix")).content.decode()
    assert "incident.declared" in page
    assert "#pay-incidents" in page and "Page payments" in page and "oncall.person" in page
    assert "backup.failed" in page  # listed under "not routed anywhere"


def test_rotation_list_shows_who_is_on_call_now(admin_client):
    RotationFactory(members=[UserFactory(username="now.primary"), UserFactory(username="now.secondary")])
    page = admin_client.get(reverse("admin:alerting_oncallrotation_changelist")).content.decode()
    assert "now.primary" in page or "now.secondary" in page


def test_dashboard_shows_the_paging_panel(admin_client):
    page = admin_client.get(reverse("admin:index")).content.decode()
    assert "dead letters:" in page


def test_ops_admin_can_change_channels_and_auditor_only_view():
    ops, auditor = UserFactory(roles=[Role.OPS_ADMIN]), UserFactory(roles=[Role.AUDITOR])
    assert ops.has_perm("alerting.change_channel") and ops.has_perm("alerting.add_routingrule")
    assert auditor.has_perm("alerting.view_notification") and not auditor.has_perm("alerting.change_notification")


@pytest.mark.parametrize(
    "model",
    [
        "oncallrotation",
        "oncalloverride",
        "calendarfeed",
        "coveragegap",
        "channel",
        "contactmethod",
        "escalationpolicy",
        "escalation",
        "routingrule",
        "notification",
    ],
)
def test_every_alerting_admin_page_renders_with_demo_data(admin_client, settings, model):
    import io

    from alerting.demo import seed_alerting
    from alerting.models import OnCallRotation
    from alerting.services import calendar_feed_for, coverage_check, escalation_start
    from governance.demo import seed_kernel

    settings.ALERT_ALLOW_PRIVATE_URLS = True
    seed_kernel(io.StringIO())
    seed_alerting(io.StringIO())
    rotation = OnCallRotation.objects.first()
    calendar_feed_for(rotation=rotation)
    coverage_check()
    escalation_start(key="demo", event_type=EventType.INCIDENT_DECLARED, subject="demo", severity=Severity.SEV1)
    _notifications(2)
    changelist = admin_client.get(reverse(f"admin:alerting_{model}_changelist"))
    assert changelist.status_code == 200
    first = changelist.context["cl"].result_list[0] if changelist.context["cl"].result_list else None
    if first is not None:
        assert admin_client.get(reverse(f"admin:alerting_{model}_change", args=[first.pk])).status_code == 200


def test_deleting_a_channel_audits_masked_secrets(admin_client):
    channel = ChannelFactory(url="https://hooks.example.com/services/very-secret-token")
    admin_client.post(reverse("admin:alerting_channel_delete", args=[channel.pk]), {"post": "yes"})
    event = AuditEvent.objects.get(object_type="alerting.channel", action="delete")
    assert not Channel.objects.exists()
    assert "very-secret-token" not in str(event.changes)


def test_a_stored_secret_can_be_cleared(admin_client):
    channel = ChannelFactory(url="https://hooks.example.com/x", signing_secret="old")
    admin_client.post(
        reverse("admin:alerting_channel_change", args=[channel.pk]),
        {
            "name": channel.name,
            "kind": ChannelKind.GENERIC_WEBHOOK,
            "enabled": "on",
            "clear_secrets": ["signing_secret"],
        },
    )
    channel.refresh_from_db()
    assert (channel.url, channel.signing_secret) == ("https://hooks.example.com/x", "")


def test_create_calendar_feeds_action_makes_rotation_and_personal_feeds(admin_client):
    from alerting.models import CalendarFeed

    members = [UserFactory(), UserFactory()]
    rotation = RotationFactory(members=members)
    admin_client.post(
        reverse("admin:alerting_oncallrotation_changelist"),
        {"action": "create_calendar_feeds", "_selected_action": [rotation.pk]},
    )
    assert CalendarFeed.objects.filter(rotation=rotation).exists()
    assert set(CalendarFeed.objects.filter(user__isnull=False).values_list("user", flat=True)) == {
        m.pk for m in members
    }
    page = admin_client.get(reverse("admin:alerting_oncallrotation_change", args=[rotation.pk])).content.decode()
    assert "/api/v1/oncall/calendar/" in page


def test_auditor_does_not_see_private_calendar_urls(client):
    from alerting.services import calendar_feed_for

    feed = calendar_feed_for(rotation=RotationFactory(members=[UserFactory()]))
    client.force_login(UserFactory(roles=[Role.AUDITOR]))
    response = client.get(reverse("admin:alerting_calendarfeed_change", args=[feed.pk]))
    assert response.status_code == 200
    assert feed.token not in response.content.decode()
