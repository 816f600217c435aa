"""Security signals: each refusal, driven through its real path, is a SecurityEvent; they are counted on
/metrics, summarised on the dashboard, listed read-only in the admin, and passing the rate routes one
`security.auth_failures` per window."""

import datetime as dt

import pytest
from django.core.cache import cache
from django.db import DatabaseError, connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from alerting.choices import EventType
from alerting.models import Channel, Notification
from governance.choices import Role, SecurityEventKind
from governance.login_protection import LOCKED_OUT_MESSAGE
from governance.models import AuditEvent, SecurityEvent
from governance.security import window_start
from governance.services import api_key_revoke
from tests.alerting.factories import ChannelFactory, RuleFactory
from tests.factories import person
from tests.incidents.factories import IncidentFactory

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery-staple"
LOGIN = "/admin/login/?next=/admin/"
INCIDENTS = "/api/v1/incidents/"
# A fixed moment early in a 5-minute window, so that a test's refusals all fall in one window.
NOON = dt.datetime(2026, 12, 7, 12, 0, 30, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def _settings_these_tests_assume(settings):
    """Whatever the shell exports (CI: ALERT_ALLOW_PRIVATE_URLS and METRICS_PUBLIC true)."""
    settings.ALERT_ALLOW_PRIVATE_URLS = False
    settings.METRICS_PUBLIC = False
    settings.SECURITY_ALERT_THRESHOLD = 20
    settings.SECURITY_ALERT_WINDOW_SECONDS = 300
    settings.AXES_FAILURE_LIMIT = 10
    cache.clear()  # the per-window alert flag of an earlier test in this process


def wrong_password(client: Client, username: str):
    return client.post(LOGIN, {"username": username, "password": "wrong password", "next": "/admin/"})


def bearer(raw_key: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {raw_key}"}


def events(kind: str):
    return SecurityEvent.objects.filter(kind=kind)


# --- each kind, through its real path ---------------------------------------------------------------------


def test_a_wrong_password_is_a_failed_login_event_with_who_and_where():
    person("olga", Role.RESPONDER)
    response = wrong_password(Client(REMOTE_ADDR="198.51.100.7"), "olga")
    assert response.status_code == 200
    event = events(SecurityEventKind.LOGIN_FAILED).get()
    assert (event.username, event.ip_address, event.path) == ("olga", "198.51.100.7", "/admin/login/")
    assert event.request_id == response["X-Request-ID"]


def test_the_lockout_is_one_event_at_the_moment_of_locking():
    person("olga", Role.RESPONDER)
    client = Client()
    for _ in range(10):
        response = wrong_password(client, "olga")
    assert LOCKED_OUT_MESSAGE in response.content.decode()
    locked = events(SecurityEventKind.LOCKED_OUT).get()
    assert locked.username == "olga"
    assert locked.detail == "locked after 10 failed logins"
    # Refused while locked, even with the right password: a failed login each time, no second lock event.
    assert client.post(LOGIN, {"username": "olga", "password": PASSWORD}).status_code == 403
    assert events(SecurityEventKind.LOGIN_FAILED).count() == 11
    assert events(SecurityEventKind.LOCKED_OUT).count() == 1


def test_an_unknown_key_is_recorded_with_its_prefix_but_never_its_secret(client):
    response = client.get(INCIDENTS, **bearer("vgl_deadbeef_not-a-real-secret"), REMOTE_ADDR="203.0.113.9")
    assert response.status_code == 401
    event = events(SecurityEventKind.API_KEY_UNKNOWN).get()
    assert (event.api_key_prefix, event.ip_address, event.path) == ("deadbeef", "203.0.113.9", INCIDENTS)
    assert "not-a-real-secret" not in " ".join(str(value) for value in SecurityEvent.objects.values_list())


def test_a_wrong_secret_for_a_real_prefix_is_an_unknown_key(client, make_api_key):
    issued = make_api_key("incidents:read", name="ci")
    assert client.get(INCIDENTS, **bearer(issued.raw_key[:-2] + "xx")).status_code == 401
    event = events(SecurityEventKind.API_KEY_UNKNOWN).get()
    assert event.api_key_prefix == issued.api_key.prefix
    assert event.detail == "wrong secret for key 'ci'"


def test_a_token_of_another_shape_is_refused_and_nothing_of_it_is_kept(client):
    assert client.get(INCIDENTS, **bearer("ghp_someoneelsestoken")).status_code == 401
    event = events(SecurityEventKind.API_KEY_UNKNOWN).get()
    assert (event.api_key_prefix, event.detail) == ("", "not a Vigil API key")


def test_a_revoked_key_is_recorded_as_revoked(client, make_api_key):
    issued = make_api_key("incidents:read", name="old pipeline")
    api_key_revoke(api_key=issued.api_key)
    assert client.get(INCIDENTS, **bearer(issued.raw_key)).status_code == 401
    event = events(SecurityEventKind.API_KEY_REVOKED).get()
    assert event.api_key_prefix == issued.api_key.prefix
    assert event.detail.startswith("key 'old pipeline' revoked ")


def test_an_expired_key_is_recorded_as_expired(client, make_api_key, time_machine):
    issued = make_api_key("incidents:read", expires_days=1)
    time_machine.move_to(issued.api_key.expires_at + dt.timedelta(minutes=1), tick=False)
    assert client.get(INCIDENTS, **bearer(issued.raw_key)).status_code == 401
    assert events(SecurityEventKind.API_KEY_EXPIRED).get().api_key_prefix == issued.api_key.prefix


def test_a_refused_key_at_the_alertmanager_webhook_is_recorded_too(client):
    response = client.post(
        "/api/v1/alerts/alertmanager/", {}, content_type="application/json", **bearer("vgl_cafe0000_nope")
    )
    assert response.status_code == 401
    assert events(SecurityEventKind.API_KEY_UNKNOWN).get().path == "/api/v1/alerts/alertmanager/"


def test_a_key_without_the_scope_is_a_scope_refusal(client, make_api_key):
    issued = make_api_key("health:read", name="monitor")
    response = client.post(INCIDENTS, {}, content_type="application/json", **bearer(issued.raw_key))
    assert response.status_code == 403
    event = events(SecurityEventKind.SCOPE_REFUSED).get()
    assert event.api_key_prefix == issued.api_key.prefix
    assert event.detail == "POST needs scope incidents:write; key 'monitor' lacks it"
    assert (event.path, event.username) == (INCIDENTS, "")


def test_a_staff_user_without_a_role_is_a_role_refusal(client):
    client.force_login(person("nora.norole"))
    response = client.get(INCIDENTS)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    event = events(SecurityEventKind.ROLE_REFUSED).get()
    assert (event.username, event.path) == ("nora.norole", INCIDENTS)
    assert "incidents.view_incident" in event.detail


def test_a_responder_closing_an_incident_is_a_role_refusal_naming_the_permission(client):
    client.force_login(person("rita.responder", Role.RESPONDER))
    incident = IncidentFactory()
    response = client.post(f"{INCIDENTS}{incident.pk}/close/", {}, content_type="application/json")
    assert response.status_code == 403
    event = events(SecurityEventKind.ROLE_REFUSED).get()
    assert event.detail == "POST needs incidents.close_incident (scope incidents:write)"


def test_what_a_role_allows_records_nothing(client, make_api_key):
    client.force_login(person("rita.responder", Role.RESPONDER))
    assert client.get(INCIDENTS).status_code == 200
    issued = make_api_key("incidents:read")
    assert Client().get(INCIDENTS, **bearer(issued.raw_key)).status_code == 200
    assert not SecurityEvent.objects.exists()


def test_a_channel_on_a_private_address_is_an_outbound_url_refusal_without_the_url(client):
    client.force_login(person("ops.admin", Role.OPS_ADMIN))
    response = client.post(
        reverse("admin:alerting_channel_add"),
        {"name": "internal", "kind": "generic_webhook", "enabled": "on", "url": "http://10.1.2.3/hooks/T0K3N"},
    )
    assert response.status_code == 200  # the form again, with the error
    assert "private, loopback or link-local" in response.content.decode()
    assert not Channel.objects.exists()
    event = events(SecurityEventKind.OUTBOUND_URL_REFUSED).get()
    assert event.username == "ops.admin"
    assert event.ip_address == "127.0.0.1"
    assert event.detail.startswith("10.1.2.3 resolves to 10.1.2.3, a private")
    assert "T0K3N" not in event.detail  # a webhook URL's path is its credential


def test_with_private_urls_allowed_nothing_is_refused_or_recorded(settings, client):
    settings.ALERT_ALLOW_PRIVATE_URLS = True
    client.force_login(person("ops.admin", Role.OPS_ADMIN))
    client.post(
        reverse("admin:alerting_channel_add"),
        {"name": "internal", "kind": "generic_webhook", "enabled": "on", "url": "http://10.1.2.3/hook"},
    )
    assert Channel.objects.filter(name="internal").exists()
    assert not SecurityEvent.objects.exists()


# --- cheap, and never in the way ---------------------------------------------------------------------------


def test_a_refused_key_costs_one_insert_and_one_bounded_count(client):
    client.get(INCIDENTS, **bearer("vgl_deadbeef_warm"))  # warm: content types, the key cache
    with CaptureQueriesContext(connection) as captured:
        assert client.get(INCIDENTS, **bearer("vgl_deadbeef_x")).status_code == 401
    touching = [q["sql"] for q in captured.captured_queries if "governance_securityevent" in q["sql"]]
    assert len(touching) == 2, touching
    assert touching[0].startswith("INSERT")
    assert "COUNT(*)" in touching[1] and "LIMIT 20" in touching[1]


def test_a_failure_to_record_does_not_change_the_answer(client, monkeypatch):
    person("olga", Role.RESPONDER)

    def broken(*args, **kwargs):
        raise DatabaseError("disk full")

    monkeypatch.setattr(SecurityEvent.objects, "create", broken)
    response = wrong_password(Client(), "olga")
    assert response.status_code == 200
    assert "Please enter the correct username and password" in response.content.decode()
    assert AuditEvent.objects.filter(action="auth.login_failed").count() == 1  # the login's own audit stands
    assert client.get(INCIDENTS, **bearer("vgl_deadbeef_x")).status_code == 401


# --- the counter, the panel, the admin ---------------------------------------------------------------------


def test_the_counter_is_on_metrics_by_kind(client, make_api_key):
    person("olga", Role.RESPONDER)
    wrong_password(Client(), "olga")
    wrong_password(Client(), "olga")
    client.get(INCIDENTS, **bearer("vgl_deadbeef_x"))
    scraper = make_api_key("health:read")
    body = client.get("/metrics", **bearer(scraper.raw_key)).content.decode()
    assert "# TYPE vigil_security_events_total counter" in body
    assert 'vigil_security_events_total{kind="login_failed"} 2.0' in body
    assert 'vigil_security_events_total{kind="api_key_unknown"} 1.0' in body
    assert 'vigil_security_events_total{kind="outbound_url_refused"} 0.0' in body


def test_the_counter_is_one_group_by_per_scrape():
    from governance.metrics import exposition

    with CaptureQueriesContext(connection) as captured:
        exposition()
    reads = [q["sql"] for q in captured.captured_queries if "governance_securityevent" in q["sql"]]
    assert len(reads) == 1 and "GROUP BY" in reads[0]


def _recorded_refusals(client):
    person("olga", Role.RESPONDER)
    wrong_password(Client(REMOTE_ADDR="198.51.100.7"), "olga")
    client.get(INCIDENTS, **bearer("vgl_deadbeef_x"))


def test_the_panel_shows_counts_by_kind_and_the_latest_events_to_an_auditor(client):
    _recorded_refusals(client)
    client.force_login(person("ada.auditor", Role.AUDITOR))
    page = client.get(reverse("admin:index")).content.decode()
    assert "Security signals" in page
    assert 'data-kind="login_failed">Failed login (24 h): 1<' in page
    assert 'data-kind="api_key_unknown">Unknown API key (24 h): 1<' in page
    assert "198.51.100.7 /admin/login/" in page and "key deadbeef" in page
    assert reverse("admin:governance_securityevent_changelist") in page


def test_the_panel_is_for_those_who_may_read_the_events(client):
    """Ops Admin and Auditor (view_securityevent) see it, link included; nobody else does."""
    _recorded_refusals(client)
    client.force_login(person("oscar.ops", Role.OPS_ADMIN))
    page = client.get(reverse("admin:index")).content.decode()
    assert "Security signals" in page and "Failed login (24 h): 1" in page
    for role in (Role.COMPLIANCE_MANAGER, Role.INCIDENT_COMMANDER):
        client.force_login(person(f"who.{role.name.lower()}", role))
        assert "Security signals" not in client.get(reverse("admin:index")).content.decode()


def test_the_admin_lists_events_read_only_for_ops_admin_and_auditor(client):
    _recorded_refusals(client)
    event = SecurityEvent.objects.order_by("pk").first()
    changelist = reverse("admin:governance_securityevent_changelist")
    for role in (Role.OPS_ADMIN, Role.AUDITOR):
        client.force_login(person(f"who.{role.name.lower()}", role))
        listing = client.get(changelist)
        assert listing.status_code == 200 and "deadbeef" in listing.content.decode()
        assert client.get(reverse("admin:governance_securityevent_change", args=[event.pk])).status_code == 200
        assert client.get(reverse("admin:governance_securityevent_add")).status_code == 403
        assert client.get(reverse("admin:governance_securityevent_delete", args=[event.pk])).status_code == 403
        before = SecurityEvent.objects.get(pk=event.pk).detail
        client.post(reverse("admin:governance_securityevent_change", args=[event.pk]), {"detail": "rewritten"})
        assert SecurityEvent.objects.get(pk=event.pk).detail == before
    client.force_login(person("cora.compliance", Role.COMPLIANCE_MANAGER))
    assert client.get(changelist).status_code == 403


def test_the_admin_search_is_exact_and_takes_an_address_or_a_word(client):
    _recorded_refusals(client)
    client.force_login(person("who.auditor", Role.AUDITOR))
    changelist = reverse("admin:governance_securityevent_changelist")
    by_address = client.get(changelist, {"q": "198.51.100.7"})
    assert by_address.status_code == 200 and by_address.context["cl"].result_count == 1
    assert client.get(changelist, {"q": "deadbeef"}).context["cl"].result_count == 1
    assert client.get(changelist, {"q": "olga"}).context["cl"].result_count == 1
    assert client.get(changelist, {"q": "olg"}).context["cl"].result_count == 0


# --- the alert -----------------------------------------------------------------------------------------------


@pytest.fixture
def routed():
    """A routing rule that sends security.auth_failures to a channel (delivery is not under test here)."""
    RuleFactory(channels=[ChannelFactory()], event_types=[EventType.SECURITY_AUTH_FAILURES])


def alerts():
    return Notification.objects.filter(event_type=EventType.SECURITY_AUTH_FAILURES)


def test_passing_the_threshold_routes_exactly_one_notification_per_window(routed, settings, time_machine):
    settings.SECURITY_ALERT_THRESHOLD = 3
    person("olga", Role.RESPONDER)
    time_machine.move_to(NOON, tick=False)
    wrong_password(Client(), "olga")
    wrong_password(Client(), "olga")
    assert not alerts().exists()  # two are under the threshold
    for _ in range(4):
        wrong_password(Client(REMOTE_ADDR="203.0.113.9"), "olga")
    alert = alerts().get()
    assert alert.severity == "SEV2"
    assert alert.idempotency_key == "security.auth_failures:300:2026-12-07T12:00:00Z"
    assert alert.subject == "Security: 3 refused sign-ins and API calls in the last 5 min (alert threshold 3)"
    body = alert.context["body"]
    assert "Failed login: 3" in body and "203.0.113.9 (1)" in body and "olga (3)" in body
    assert "/admin/governance/securityevent/" in body


def test_the_next_window_routes_again_when_the_rate_is_passed_again(routed, settings, time_machine):
    settings.SECURITY_ALERT_THRESHOLD = 3
    person("olga", Role.RESPONDER)
    time_machine.move_to(NOON, tick=False)
    for _ in range(3):
        wrong_password(Client(), "olga")
    time_machine.move_to(NOON + dt.timedelta(minutes=10), tick=False)  # two windows on: the old ones are out
    wrong_password(Client(), "olga")
    assert alerts().count() == 1
    for _ in range(2):
        Client().get(INCIDENTS, **bearer("vgl_deadbeef_x"))  # API refusals count as well
    assert sorted(alerts().values_list("idempotency_key", flat=True)) == [
        "security.auth_failures:300:2026-12-07T12:00:00Z",
        "security.auth_failures:300:2026-12-07T12:10:00Z",
    ]


def test_refused_outbound_urls_do_not_count_towards_the_alert(routed, settings, client):
    settings.SECURITY_ALERT_THRESHOLD = 2
    client.force_login(person("ops.admin", Role.OPS_ADMIN))
    for n in range(3):
        client.post(
            reverse("admin:alerting_channel_add"),
            {"name": f"internal-{n}", "kind": "generic_webhook", "enabled": "on", "url": "http://10.1.2.3/hook"},
        )
    assert events(SecurityEventKind.OUTBOUND_URL_REFUSED).count() == 3
    assert not alerts().exists()


def test_a_threshold_of_zero_records_but_never_notifies(routed, settings):
    settings.SECURITY_ALERT_THRESHOLD = 0
    person("olga", Role.RESPONDER)
    for _ in range(5):
        wrong_password(Client(), "olga")
    assert events(SecurityEventKind.LOGIN_FAILED).count() == 5
    assert not alerts().exists()


def test_windows_are_aligned_to_the_clock():
    assert window_start(NOON, 300) == dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC)
    assert window_start(NOON + dt.timedelta(minutes=7), 300) == dt.datetime(2026, 12, 7, 12, 5, tzinfo=dt.UTC)
