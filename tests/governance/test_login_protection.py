"""Login protection: ten wrong passwords lock the account, an Ops Admin unlocks it, and the roles that
need a second factor cannot reach the admin with a password alone."""

import datetime as dt

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.models import Group
from django.test import Client
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from governance.choices import Role
from governance.login_protection import LOCKED_OUT_MESSAGE
from governance.models import AuditEvent
from tests.factories import UserFactory, person

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery-staple"
LOGIN = "/admin/login/?next=/admin/"


def log_in(client: Client, username: str, password: str = PASSWORD):
    return client.post(LOGIN, {"username": username, "password": password, "next": "/admin/"})


def logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def lock(client: Client, username: str):
    for _ in range(10):
        response = log_in(client, username, "wrong password")
    return response


def code_for(device: TOTPDevice) -> str:
    return f"{totp(device.bin_key, device.step, device.t0, device.digits, device.drift):0{device.digits}d}"


# --- lockout -------------------------------------------------------------------------------------


def test_nine_wrong_passwords_only_say_wrong_password():
    person("olga", Role.RESPONDER)
    client = Client()
    for _ in range(9):
        response = log_in(client, "olga", "wrong password")
    assert response.status_code == 200
    assert LOCKED_OUT_MESSAGE not in response.content.decode()
    assert "Please enter the correct username and password" in response.content.decode()
    assert log_in(client, "olga").status_code == 302  # the tenth try, right: still open


def test_ten_wrong_passwords_lock_the_account_with_a_clear_message():
    person("olga", Role.RESPONDER)
    response = lock(Client(), "olga")
    assert response.status_code == 403
    assert LOCKED_OUT_MESSAGE in response.content.decode()
    assert 'name="username"' in response.content.decode()  # still the login page, with its form


def test_failed_logins_and_the_lockout_are_audit_events():
    olga = person("olga", Role.RESPONDER)
    lock(Client(), "olga")
    failed = AuditEvent.objects.filter(action="auth.login_failed")
    assert failed.count() == 10
    assert set(failed.values_list("object_id", "object_repr", "actor_label")) == {(str(olga.pk), "olga", "anonymous")}
    locked = AuditEvent.objects.get(action="auth.locked_out")
    assert (locked.object_repr, locked.changes) == ("olga", {"failures": 10})


def test_a_locked_user_cannot_log_in_with_the_right_password():
    person("olga", Role.RESPONDER)
    client = Client()
    lock(client, "olga")
    response = log_in(Client(), "olga")  # a fresh browser, the right password
    assert response.status_code == 403
    assert LOCKED_OUT_MESSAGE in response.content.decode()
    assert not logged_in(client)
    assert AuditEvent.objects.filter(action="auth.locked_out").count() == 1  # the lock, not each refusal


def test_the_lock_is_by_user_name_so_others_behind_the_same_address_still_log_in():
    person("olga", Role.RESPONDER)
    person("piet", Role.RESPONDER)
    lock(Client(), "olga")
    assert log_in(Client(), "piet").status_code == 302


def test_a_good_login_forgets_earlier_failures():
    person("olga", Role.RESPONDER)
    client = Client()
    for _ in range(9):
        log_in(client, "olga", "wrong password")
    assert log_in(client, "olga").status_code == 302
    assert not AccessAttempt.objects.filter(username="olga").exists()


def test_an_ops_admin_unlocks_in_the_admin_and_login_works_again():
    person("olga", Role.RESPONDER)
    lock(Client(), "olga")
    # A second address: the lock counts failures per user name across all of them.
    Client(REMOTE_ADDR="10.0.0.9").post(LOGIN, {"username": "olga", "password": "wrong"})
    admin_client = Client()
    admin_client.force_login(person("oscar", Role.OPS_ADMIN))

    changelist = admin_client.get("/admin/axes/accessattempt/")
    assert changelist.status_code == 200
    assert "olga" in changelist.content.decode()
    assert "Locked Out" in changelist.content.decode()
    one_row = AccessAttempt.objects.filter(username="olga").order_by("pk").first()
    response = admin_client.post(
        "/admin/axes/accessattempt/", {"action": "unlock", "_selected_action": [one_row.pk]}, follow=True
    )
    assert "Unlocked olga" in response.content.decode()

    assert not AccessAttempt.objects.filter(username="olga").exists()
    unlocked = AuditEvent.objects.get(action="auth.unlocked")
    assert (unlocked.actor_label, unlocked.object_repr, unlocked.changes) == ("oscar", "olga", {"failures": [11, 0]})
    client = Client()
    assert log_in(client, "olga").status_code == 302
    assert client.get("/admin/").status_code == 200


def test_deleting_the_attempts_also_unlocks_and_is_audited():
    person("olga", Role.RESPONDER)
    lock(Client(), "olga")
    admin_client = Client()
    admin_client.force_login(person("oscar", Role.OPS_ADMIN))
    attempt = AccessAttempt.objects.get(username="olga")
    response = admin_client.post(f"/admin/axes/accessattempt/{attempt.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert AuditEvent.objects.filter(action="delete", object_type="axes.accessattempt").exists()
    assert log_in(Client(), "olga").status_code == 302


@pytest.mark.parametrize("role", [r for r in Role if r != Role.OPS_ADMIN])
def test_other_roles_can_neither_see_nor_unlock_attempts(role):
    person("olga", Role.RESPONDER)
    lock(Client(), "olga")
    client = Client()
    client.force_login(person("someone", role))
    attempt = AccessAttempt.objects.get(username="olga")
    assert client.get("/admin/axes/accessattempt/").status_code == 403
    assert client.get(f"/admin/axes/accessattempt/{attempt.pk}/delete/").status_code == 403
    assert (
        client.post("/admin/axes/accessattempt/", {"action": "unlock", "_selected_action": [attempt.pk]}).status_code
        == 403
    )
    assert AccessAttempt.objects.filter(username="olga").exists()


# --- second factor --------------------------------------------------------------------------------


@pytest.fixture
def mfa_on(settings):
    settings.DEBUG = False
    settings.MFA_REQUIRED_GROUPS = [str(Role.OPS_ADMIN), str(Role.COMPLIANCE_MANAGER)]
    settings.MFA_REQUIRE_SUPERUSERS = True
    return settings


def test_an_mfa_required_user_cannot_reach_the_admin_with_a_password_alone(mfa_on):
    person("carla", Role.COMPLIANCE_MANAGER)
    client = Client()
    response = log_in(client, "carla")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/mfa/")
    assert logged_in(client)  # the password is right ...
    for path in ("/admin/", "/admin/governance/auditevent/", "/admin/scorecard/"):
        response = client.get(path)  # ... but the admin sends her to the second factor
        assert response.status_code == 302, path
        assert "/admin/login/" in response["Location"] or "/admin/mfa/" in response["Location"], path
    response = client.get("/admin/", follow=True)
    assert response.redirect_chain[-1][0].startswith("/admin/mfa/enrol/")
    # The API and /health, which take the admin session, see nobody.
    assert client.get("/api/v1/incidents/").status_code in (401, 403)
    assert client.get("/health").status_code in (401, 403)


def test_an_mfa_required_user_enrols_by_qr_code_and_then_reaches_the_admin(mfa_on, time_machine):
    time_machine.move_to(dt.datetime.now(tz=dt.UTC), tick=True)
    person("oscar", Role.OPS_ADMIN)
    client = Client()
    log_in(client, "oscar")
    page = client.get("/admin/mfa/?next=/admin/", follow=True)
    assert page.redirect_chain[-1][0].startswith("/admin/mfa/enrol/")
    html = page.content.decode()
    qr = html.split('id="vigil-mfa-qr"', 1)[1].split("</div>", 1)[0]
    assert qr.count("<svg") == 1 and "<path" in qr and "<?xml" not in html  # the QR code, inline
    device = TOTPDevice.objects.get(user__username="oscar", confirmed=False)
    assert client.get("/admin/mfa/enrol/").context["secret"].replace(" ", "") in device.config_url

    wrong = client.post("/admin/mfa/enrol/", {"otp_token": "000000" if code_for(device) != "000000" else "111111"})
    assert wrong.status_code == 200
    assert "That code is not right" in wrong.content.decode()
    assert client.get("/admin/").status_code == 302

    time_machine.shift(5)  # past the throttle's delay after one wrong code
    device.refresh_from_db()
    response = client.post("/admin/mfa/enrol/", {"otp_token": code_for(device), "next": "/admin/"})
    assert response.status_code == 302
    assert response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200
    assert TOTPDevice.objects.get(user__username="oscar").confirmed
    assert AuditEvent.objects.filter(action="auth.mfa_enrolled", actor_label="oscar").exists()


def test_an_enrolled_user_gives_the_code_after_the_password(mfa_on, time_machine):
    time_machine.move_to(dt.datetime.now(tz=dt.UTC), tick=True)
    oscar = person("oscar", Role.OPS_ADMIN)
    device = TOTPDevice.objects.create(user=oscar, name="phone", confirmed=True)
    client = Client()
    response = log_in(client, "oscar")
    assert response["Location"] == "/admin/mfa/?next=%2Fadmin%2F"
    page = client.get(response["Location"])
    assert "six-digit code" in page.content.decode()
    assert "vigil-mfa-qr" not in page.content.decode()  # no new enrolment once a device exists
    assert client.get("/admin/mfa/enrol/")["Location"].startswith("/admin/mfa/")

    assert "That code is not right" in client.post("/admin/mfa/", {"otp_token": "12345678"}).content.decode()
    assert AuditEvent.objects.filter(action="auth.mfa_failed", object_repr="oscar").exists()
    too_soon = client.post("/admin/mfa/", {"otp_token": code_for(device)})  # right, but straight after a wrong one
    assert "Too many wrong codes: wait 1 s" in too_soon.content.decode()
    assert client.get("/admin/").status_code == 302
    time_machine.shift(5)  # past the throttle's delay
    response = client.post("/admin/mfa/", {"otp_token": code_for(device), "next": "/admin/"})
    assert response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200
    assert client.get("/api/v1/incidents/").status_code != 401  # the session is a login again


def test_superusers_need_a_second_factor(mfa_on):
    UserFactory(username="root", is_superuser=True)
    client = Client()
    assert log_in(client, "root")["Location"].startswith("/admin/mfa/")
    assert client.get("/admin/").status_code == 302


def test_a_user_outside_the_mfa_groups_logs_in_with_a_password_only(mfa_on):
    person("rita", Role.RESPONDER)
    client = Client()
    assert log_in(client, "rita")["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_with_debug_on_nobody_is_asked_for_a_second_factor(mfa_on):
    mfa_on.DEBUG = True
    person("oscar", Role.OPS_ADMIN)
    client = Client()
    assert log_in(client, "oscar")["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_the_second_factor_pages_offer_a_way_out(mfa_on):
    person("oscar", Role.OPS_ADMIN)
    client = Client()
    log_in(client, "oscar")
    assert client.post("/admin/mfa/logout/")["Location"] == "/admin/login/"
    assert not logged_in(client)
    assert client.get("/admin/mfa/")["Location"].startswith("/admin/login/")


def test_the_role_groups_for_mfa_exist():
    # MFA_REQUIRED_GROUPS names groups by their role names; a renamed role would silently drop MFA.
    assert set(
        Group.objects.filter(name__in=[Role.OPS_ADMIN, Role.COMPLIANCE_MANAGER]).values_list("name", flat=True)
    ) == {
        "Ops Admin",
        "Compliance Manager",
    }


# --- in a real browser ------------------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_browser_shows_the_lockout_message(live_server, browser, monkeypatch):
    from django.db import connections

    monkeypatch.setitem(connections.settings["default"], "CONN_MAX_AGE", 0)
    person("olga", Role.RESPONDER)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(15_000)
    page.goto(f"{live_server.url}/admin/login/")
    for _ in range(10):
        page.fill("#id_username", "olga")
        page.fill("#id_password", "not her password")
        with page.expect_navigation():  # each try is a new page: never read the previous one's message
            page.click("input[type=submit]")
    assert page.inner_text(".errornote").strip() == LOCKED_OUT_MESSAGE
    page.fill("#id_username", "olga")
    page.fill("#id_password", PASSWORD)  # the right one, refused all the same
    with page.expect_navigation():
        page.click("input[type=submit]")
    assert page.inner_text(".errornote").strip() == LOCKED_OUT_MESSAGE
    assert page.url.startswith(f"{live_server.url}/admin/login/")
    page.close()
