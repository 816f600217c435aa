"""The console: "Needs you now" for the person looking, the jump box, a dashboard whose cost does not grow."""

import datetime as dt
from unittest import mock

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from access_reviews import services as access_services
from governance.choices import Role
from governance.console import needs_you_for, span
from governance.registries import NeedsYouSource, needs_you
from incidents.choices import IncidentStatus
from tests.access_reviews.conftest import identity_of
from tests.access_reviews.conftest import person as reviewer_person
from tests.access_reviews.factories import SystemFactory, TemplateFactory
from tests.access_reviews.helpers import snapshot
from tests.factories import ServiceFactory, person
from tests.incidents.factories import ActionItemFactory, IncidentFactory

pytestmark = pytest.mark.django_db


def superuser(username):
    user = person(username)
    user.is_staff = user.is_superuser = True
    user.save()
    return user


def labels(user):
    lines, failed = needs_you_for(user)
    assert failed == []
    return [(line.item.label, line.clock, line.late) for line in lines]


def test_span_reads_like_a_person_would_say_it():
    assert span(30) == "under a minute"
    assert span(61, round_up=True) == "2 min"
    assert span(3 * 3600 + 12 * 60) == "3 h 12 min"
    assert span(2 * 86400 + 3600) == "2 d 1 h"


def test_a_commander_sees_their_declared_sev1_with_its_ack_clock_and_nothing_of_others():
    commander = person("cora.commander", Role.INCIDENT_COMMANDER)
    someone_else = person("sam.else", Role.INCIDENT_COMMANDER)
    mine = IncidentFactory(title="Checkout down", commander=commander)
    IncidentFactory(title="Not mine", commander=someone_else)
    resolved = IncidentFactory(title="Mine but resolved", commander=commander)
    type(resolved).objects.filter(pk=resolved.pk).update(
        status=IncidentStatus.RESOLVED, acknowledged_at=timezone.now(), resolved_at=timezone.now()
    )
    lines = labels(commander)
    assert len(lines) == 1
    label, clock, late = lines[0]
    assert label == f"{mine.reference} Checkout down: acknowledge"
    assert clock.startswith("ack due in ") and not late


def test_late_lines_come_first_and_say_by_how_much():
    commander = person("cora.commander", Role.INCIDENT_COMMANDER)
    IncidentFactory(title="Fresh", commander=commander)
    late = IncidentFactory(title="Old", commander=commander)
    type(late).objects.filter(pk=late.pk).update(ack_due_at=timezone.now() - dt.timedelta(minutes=12, seconds=5))
    (first_label, first_clock, first_late), (second_label, _, second_late) = labels(commander)
    assert first_label.startswith(f"{late.reference} Old") and first_late
    assert first_clock == "ack late by 12 min"
    assert second_label.startswith("INC-") and "Fresh" in second_label and not second_late


def test_the_on_call_person_sees_incidents_of_their_teams_services():
    from alerting.models import OnCallRotation, RotationMember
    from tests.factories import TeamFactory

    responder = person("rita.responder", Role.RESPONDER)
    team = TeamFactory(slug="payments", name="Payments")
    rotation = OnCallRotation.objects.create(
        name="Payments primary",
        team=team,
        starts_on=timezone.localdate() - dt.timedelta(days=7),
        handoff_time=dt.time(9, 0),
        time_zone="UTC",
        shift_length=dt.timedelta(days=7),
    )
    RotationMember.objects.create(rotation=rotation, user=responder, position=0)
    incident = IncidentFactory(title="Payments latency", service=ServiceFactory(slug="pay", owner_team=team))
    IncidentFactory(title="Elsewhere", service=ServiceFactory(slug="other"))
    assert [label for label, _, _ in labels(responder)] == [f"{incident.reference} Payments latency: acknowledge"]


def test_action_items_they_own_are_listed_with_their_due_date():
    owner = person("olga.owner", Role.RESPONDER)
    item = ActionItemFactory(
        title="Add a disk alert", owner=owner, due_date=timezone.localdate() + dt.timedelta(days=3)
    )
    [(label, clock, late)] = labels(owner)
    assert label == f"INC-{item.incident_id} action item: Add a disk alert"
    assert clock.startswith("action item due in 3 d") and not late


def test_a_reviewer_sees_their_pending_items_and_the_page_that_lists_them(compliance_and_campaign):
    manager, other = compliance_and_campaign
    [(label, clock, _)] = labels(manager)
    assert label.startswith("2 access review items to decide in Billing quarterly")
    assert clock.startswith("decisions due in ")
    [(other_label, _, _)] = labels(other)
    assert other_label.startswith("1 access review item to decide in Billing quarterly")


def test_nothing_needs_you_is_said_plainly(client):
    quiet = person("quinn.quiet", Role.RESPONDER)
    client.force_login(quiet)
    page = client.get(reverse("admin:index")).content.decode()
    assert "Needs you now" in page
    assert "Nothing needs you now." in page


def test_a_broken_source_is_named_and_the_rest_still_shows(client):
    commander = person("cora.commander", Role.INCIDENT_COMMANDER)
    IncidentFactory(title="Checkout down", commander=commander)

    def broken(user, now):
        raise RuntimeError("boom")

    needs_you.register("zz_broken", NeedsYouSource("zz_broken", broken))
    try:
        client.force_login(commander)
        page = client.get(reverse("admin:needs_you")).content.decode()
    finally:
        needs_you.unregister("zz_broken")
    assert "Checkout down: acknowledge" in page
    assert "Could not read what zz_broken needs from you" in page


def test_the_refresh_fragment_is_never_cached_and_needs_a_login(client):
    commander = person("cora.commander", Role.INCIDENT_COMMANDER)
    assert client.get(reverse("admin:needs_you")).status_code == 302  # to the login page
    client.force_login(commander)
    response = client.get(reverse("admin:needs_you"))
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]


def _fill(n: int, commander, reviewer_items: int = 0):
    for i in range(n):
        IncidentFactory(title=f"Incident {i}", commander=commander)
        ActionItemFactory(owner=commander, due_date=timezone.localdate())


def test_the_dashboard_runs_the_same_queries_for_few_and_many_incidents_items_and_runs(client):
    commander = superuser("cora.commander")  # every panel of every app renders for a superuser
    client.force_login(commander)
    url = reverse("admin:index")
    _fill(2, commander)
    client.get(url)  # warm: content types, sessions
    with CaptureQueriesContext(connection) as few:
        assert client.get(url).status_code == 200
    _fill(30, commander)
    with CaptureQueriesContext(connection) as many:
        page = client.get(url).content.decode()
    assert page.count("vigil-need vigil-need-incident") == 20  # the most urgent; the rest are counted
    assert "…and at least 20 more, less urgent." in page  # each app lists its 20 most urgent
    assert len(many) == len(few), [q["sql"][:120] for q in many.captured_queries]


def test_jump_opens_an_incident_a_change_or_a_runbook_by_reference(client):
    from changes.models import Change
    from runbooks.models import Runbook

    client.force_login(superuser("ops.admin"))
    incident = IncidentFactory(title="Disk full on db-1")
    change = Change.objects.create(title="Resize db-1 volume")
    runbook = Runbook.objects.create(slug="disk-full", title="Disk full", service=incident.service)
    jump = reverse("admin:jump")
    assert client.get(jump, {"q": f"inc-{incident.pk}"})["Location"] == reverse(
        "admin:incidents_incident_change", args=[incident.pk]
    )
    assert client.get(jump, {"q": change.reference})["Location"] == reverse(
        "admin:changes_change_change", args=[change.pk]
    )
    assert client.get(jump, {"q": "disk-full"})["Location"] == reverse(
        "admin:runbooks_runbook_change", args=[runbook.pk]
    )
    listing = client.get(jump, {"q": "db-1"}).content.decode()
    assert "Disk full on db-1" in listing and "Resize db-1 volume" in listing
    assert "Nothing you may see matches" in client.get(jump, {"q": "no such thing"}).content.decode()
    assert client.get(jump, {"q": "INC-99999999999999999999"}).status_code == 200  # not a 500


def test_jump_shows_nothing_a_person_may_not_see(client):
    IncidentFactory(title="Secret outage")
    nobody = person("nora.norole")
    nobody.is_staff = True
    nobody.save()
    client.force_login(nobody)
    response = client.get(reverse("admin:jump"), {"q": "Secret"})
    assert response.status_code == 200
    assert "Secret outage" not in response.content.decode()


def billing_review():
    """A Billing DB review template: maria.manager reviews carol and dave, olaf.other reviews erin."""
    compliance = reviewer_person("compliance", Role.COMPLIANCE_MANAGER)
    manager = reviewer_person("maria.manager")
    other = reviewer_person("olaf.other")
    for name in ("carol", "dave"):
        reviewer_person(name, role=None, manager=identity_of(manager))
    reviewer_person("erin", role=None, manager=identity_of(other))
    system = SystemFactory(slug="billing-db", name="Billing DB", owner=reviewer_person("owner", Role.OPS_ADMIN))
    template = TemplateFactory(
        name="Billing quarterly", systems=[system], fallback_reviewer=reviewer_person("fallback"), owner=compliance
    )
    snapshot(system, ("carol", "read"), ("dave", "read"), ("erin", "read"))
    return template, manager, other


@pytest.fixture
def compliance_and_campaign(db):
    template, manager, other = billing_review()
    access_services.campaign_launch(template=template)
    return manager, other


def test_shared_panels_render_once_for_everyone_and_come_from_the_cache_in_one_round_trip(client, settings):
    """A shared panel (the same for everyone allowed to see it) is rendered once per
    DASHBOARD_PANEL_CACHE_SECONDS for all; a personal one on every view; a panel a person may not see is
    never shown, cached or not."""
    from unittest import mock

    from django.core.cache import cache

    from governance.registries import DashboardPanel, dashboard_panels

    settings.DASHBOARD_PANEL_CACHE_SECONDS = 30
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    cache.clear()
    renders = {"zz_shared": 0, "zz_personal": 0, "zz_auditors": 0}

    def renderer(name):
        def render(request):
            renders[name] += 1
            return f"<p>{name} for {request.user.get_username()}</p>"

        return render

    dashboard_panels.register("zz_shared", DashboardPanel("zz_shared", "Shared", renderer("zz_shared"), shared=True))
    dashboard_panels.register("zz_personal", DashboardPanel("zz_personal", "Personal", renderer("zz_personal")))
    dashboard_panels.register(
        "zz_auditors",
        DashboardPanel(
            "zz_auditors", "Auditors", renderer("zz_auditors"), shared=True, permission="governance.view_auditevent"
        ),
    )
    try:
        pages = []
        for username in ("ada.admin", "bob.admin"):
            client.force_login(superuser(username))
            with mock.patch.object(cache, "get_many", wraps=cache.get_many) as get_many:
                pages.append(client.get(reverse("admin:index")).content.decode())
            assert get_many.call_count == 1
        client.force_login(person("cora.commander", Role.INCIDENT_COMMANDER))
        commander_page = client.get(reverse("admin:index")).content.decode()
    finally:
        for name in renders:
            dashboard_panels.unregister(name)
        cache.clear()
    assert renders == {"zz_shared": 1, "zz_personal": 3, "zz_auditors": 1}
    assert "zz_shared for ada.admin" in pages[1]  # rendered for the first viewer, shown to the next
    assert "zz_personal for bob.admin" in pages[1]
    assert "zz_shared for ada.admin" in commander_page
    assert "zz_auditors" not in commander_page


def test_with_the_cache_down_the_dashboard_renders_every_panel_fresh(client, settings):
    """Redis gone (nothing listens on the port): the dashboard still answers, panels rendered on the spot."""
    import socket

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings.DASHBOARD_PANEL_CACHE_SECONDS = 30
    settings.NEEDS_YOU_CACHE_SECONDS = 30
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{port}/0",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5},
        }
    }
    ada = superuser("ada.admin")
    IncidentFactory(title="Checkout down", severity="SEV1", commander=ada)
    client.force_login(ada)
    response = client.get(reverse("admin:index"))
    assert response.status_code == 200
    page = response.content.decode()
    assert "Checkout down" in page  # the open-incidents panel, rendered fresh
    assert "Checkout down: acknowledge" in page  # and her needs-you list, collected afresh


# --- the needs-you cache -------------------------------------------------------------------------


@pytest.fixture
def needs_you_cache(settings):
    from django.core.cache import cache

    settings.NEEDS_YOU_CACHE_SECONDS = 30
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    cache.clear()
    yield
    cache.clear()


def retirements(callbacks) -> list:
    from governance.console import _RetireLists

    return [callback for callback in callbacks if isinstance(callback, _RetireLists)]


def source_queries(user) -> int:
    with CaptureQueriesContext(connection) as captured:
        needs_you_for(user)
    return len(captured)


def test_a_persons_list_is_kept_until_a_write_to_what_it_reads_commits(
    needs_you_cache, django_capture_on_commit_callbacks
):
    """The second view reads no source; an acknowledgement (committed) retires the list at once, and a
    write that commits while a list is being collected retires that list too."""
    from incidents.services import incident_acknowledge

    with django_capture_on_commit_callbacks(execute=True):  # as if each step were its own request
        commander = person("cora.commander", Role.INCIDENT_COMMANDER)
        incident = IncidentFactory(title="Checkout down", commander=commander)
    assert [label for label, _, _ in labels(commander)] == [f"{incident.reference} Checkout down: acknowledge"]
    assert source_queries(commander) == 0  # from the cache
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        incident_acknowledge(incident=incident, actor=commander)
    assert len(retirements(callbacks)) == 1
    assert [label for label, _, _ in labels(commander)] == [f"{incident.reference} Checkout down: post an update"]
    assert source_queries(commander) == 0

    # A write that commits between reading the generation and storing the list: that list is never served.
    from governance import console

    real_collect = console._collect

    def collect_then_someone_writes(user, now):
        found = real_collect(user, now)
        with django_capture_on_commit_callbacks(execute=True):
            IncidentFactory(title="Payments down", commander=commander)
        return found

    with django_capture_on_commit_callbacks(execute=True):
        console.needs_you_changed()  # a write elsewhere: the next view collects
    console._collect = collect_then_someone_writes
    try:
        assert len(labels(commander)) == 1  # collected before the second incident existed
    finally:
        console._collect = real_collect
    assert len(labels(commander)) == 2  # so collected again
    assert source_queries(commander) == 0


def test_writes_in_one_transaction_retire_the_lists_once_and_other_models_not_at_all(
    needs_you_cache, django_capture_on_commit_callbacks
):
    from django.core.cache import cache

    from governance.console import GENERATION_KEY
    from governance.models import Team

    with django_capture_on_commit_callbacks(execute=True):
        commander = person("cora.commander", Role.INCIDENT_COMMANDER)
    labels(commander)

    before = cache.get(GENERATION_KEY)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        for n in range(5):
            IncidentFactory(title=f"Incident {n}", commander=commander)
    assert len(retirements(callbacks)) == 1  # one cache write for the whole transaction
    retired = cache.get(GENERATION_KEY)
    assert retired != before
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        Team.objects.create(slug="unwatched", name="Unwatched")  # no source reads teams directly
    assert retirements(callbacks) == []
    assert cache.get(GENERATION_KEY) == retired


def test_a_launched_campaign_reaches_its_reviewers_lists_though_its_items_are_bulk_inserted(
    needs_you_cache, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        template, manager, _other = billing_review()
    assert labels(manager) == []
    from access_reviews.models import ReviewItem

    with (
        mock.patch.object(ReviewItem.objects, "bulk_create", wraps=ReviewItem.objects.bulk_create) as bulk,
        django_capture_on_commit_callbacks(execute=True),
    ):
        access_services.campaign_launch(template=template)
    assert bulk.called
    [(label, _, _)] = labels(manager)
    assert label.startswith("2 access review items to decide in Billing quarterly")


def test_a_failing_source_is_asked_again_on_the_next_view(needs_you_cache):
    calls = []

    def flaky(user, now):
        calls.append(now)
        if len(calls) == 1:
            raise RuntimeError("database hiccup")
        return []

    needs_you.register("zz_flaky", NeedsYouSource("zz_flaky", flaky, watches=("incidents.Incident",)))
    try:
        quiet = person("quinn.quiet", Role.RESPONDER)
        assert needs_you_for(quiet)[1] == ["zz_flaky"]
        assert needs_you_for(quiet)[1] == []  # not served from the cache: asked again
        needs_you_for(quiet)
    finally:
        needs_you.unregister("zz_flaky")
    assert len(calls) == 2  # the good answer was kept


def test_every_source_says_which_models_it_reads():
    from governance.console import watched_models

    for name, source in needs_you.items():
        assert source.watches, f"{name} declares no watched models: its cached lists would never be retired"
    labels_ = {model._meta.label for model in watched_models()}
    assert {"incidents.Incident", "access_reviews.ReviewItem", "changes.Change_approvers"} <= labels_
