"""Rotation maths (DST, overrides) with frozen time, the iCalendar feeds, the coverage check."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.urls import reverse
from icalendar import Calendar

from alerting.models import CoverageGap
from alerting.selectors import who_is_on_call
from alerting.services import calendar_feed_for, coverage_check, render_calendar
from governance.choices import Severity
from tests.factories import TeamFactory, UserFactory

from .factories import ChannelFactory, OverrideFactory, PolicyFactory, RotationFactory, RuleFactory

pytestmark = pytest.mark.django_db

BERLIN = ZoneInfo("Europe/Berlin")


def berlin(*args) -> datetime:
    return datetime(*args, tzinfo=BERLIN)


@pytest.fixture
def people():
    return [UserFactory(username=name) for name in ("ana", "ben", "cy")]


@pytest.fixture
def daily_berlin(people):
    # Daily 09:00 hand-offs in Berlin; EU summer time starts 2026-03-29 and ends 2026-10-25.
    return RotationFactory(
        members=people, shift_length=timedelta(days=1), time_zone="Europe/Berlin", starts_on=date(2026, 3, 1)
    )


def test_primary_is_the_current_member_and_secondary_the_next(daily_berlin, people):
    with time_machine.travel(berlin(2026, 3, 1, 12, 0), tick=False):
        on_call = who_is_on_call(daily_berlin.team)
    assert on_call == (people[0], people[1])


def test_members_rotate_at_the_handoff(daily_berlin, people):
    assert who_is_on_call(daily_berlin.team, berlin(2026, 3, 2, 8, 59)).primary == people[0]
    assert who_is_on_call(daily_berlin.team, berlin(2026, 3, 2, 9, 0)).primary == people[1]


def test_secondary_wraps_around_to_the_first_member(daily_berlin, people):
    assert who_is_on_call(daily_berlin.team, berlin(2026, 3, 3, 10, 0)) == (people[2], people[0])


def test_handoff_stays_at_local_nine_after_spring_forward(daily_berlin, people):
    # 2026-03-30 09:00 CEST is 07:00 UTC (it was 08:00 UTC the week before).
    before = datetime(2026, 3, 30, 6, 59, tzinfo=UTC)
    after = datetime(2026, 3, 30, 7, 0, tzinfo=UTC)
    assert who_is_on_call(daily_berlin.team, after).primary != who_is_on_call(daily_berlin.team, before).primary
    with time_machine.travel(after, tick=False):
        assert who_is_on_call(daily_berlin.team).primary == people[(30 - 1) % 3]


def test_handoff_stays_at_local_nine_after_fall_back(people):
    rotation = RotationFactory(
        members=people, shift_length=timedelta(days=7), time_zone="Europe/Berlin", starts_on=date(2026, 10, 19)
    )
    # The week of 19 Oct spans the change on 25 Oct; the hand-off on 26 Oct is 09:00 CET = 08:00 UTC.
    assert who_is_on_call(rotation.team, datetime(2026, 10, 26, 7, 59, tzinfo=UTC)).primary == people[0]
    assert who_is_on_call(rotation.team, datetime(2026, 10, 26, 8, 0, tzinfo=UTC)).primary == people[1]


def test_nobody_is_on_call_before_the_rotation_starts(daily_berlin):
    assert who_is_on_call(daily_berlin.team, berlin(2026, 2, 28, 12, 0)) == (None, None)


def test_override_without_replaces_takes_primary(daily_berlin, people):
    stand_in = UserFactory(username="dee")
    OverrideFactory(
        rotation=daily_berlin, user=stand_in, starts_at=berlin(2026, 3, 1, 10), ends_at=berlin(2026, 3, 1, 14)
    )
    with time_machine.travel(berlin(2026, 3, 1, 12, 0), tick=False):
        assert who_is_on_call(daily_berlin.team) == (stand_in, people[1])
    with time_machine.travel(berlin(2026, 3, 1, 14, 0), tick=False):
        assert who_is_on_call(daily_berlin.team) == (people[0], people[1])


def test_leave_override_replaces_only_that_member(daily_berlin, people):
    cover = UserFactory(username="eve")
    OverrideFactory(
        rotation=daily_berlin,
        user=cover,
        replaces=people[1],
        starts_at=berlin(2026, 3, 1, 0),
        ends_at=berlin(2026, 3, 8, 0),
        reason="leave",
    )
    assert who_is_on_call(daily_berlin.team, berlin(2026, 3, 1, 12)) == (people[0], cover)
    assert who_is_on_call(daily_berlin.team, berlin(2026, 3, 2, 12)) == (cover, people[2])


def test_swap_is_two_overrides(daily_berlin, people):
    # ana and ben swap 2 March (ben's shift) and 1 March (ana's).
    OverrideFactory(
        rotation=daily_berlin,
        user=people[1],
        replaces=people[0],
        starts_at=berlin(2026, 3, 1, 9),
        ends_at=berlin(2026, 3, 2, 9),
    )
    assert who_is_on_call(daily_berlin.team, berlin(2026, 3, 1, 12)).primary == people[1]
    assert who_is_on_call(daily_berlin.team, berlin(2026, 3, 1, 12)).secondary is None


def test_override_crossing_dst_holds_for_its_whole_window(daily_berlin, people):
    stand_in = UserFactory(username="fay")
    OverrideFactory(
        rotation=daily_berlin, user=stand_in, starts_at=berlin(2026, 3, 28, 9), ends_at=berlin(2026, 3, 30, 9)
    )
    assert who_is_on_call(daily_berlin.team, datetime(2026, 3, 29, 1, 30, tzinfo=UTC)).primary == stand_in
    assert who_is_on_call(daily_berlin.team, datetime(2026, 3, 30, 7, 0, tzinfo=UTC)).primary != stand_in


# --- iCalendar ---------------------------------------------------------------------------------------


def _events(ics: bytes):
    return list(Calendar.from_ical(ics).walk("VEVENT"))


def test_rotation_feed_parses_with_icalendar_and_starts_shifts_at_local_handoff(daily_berlin):
    feed = calendar_feed_for(rotation=daily_berlin)
    with time_machine.travel(berlin(2026, 3, 25, 12, 0), tick=False):
        events = _events(render_calendar(feed=feed))
    primaries = [e for e in events if str(e.get("summary")).startswith("Primary")]
    starts = {e.decoded("dtstart").astimezone(BERLIN).time() for e in primaries}
    assert starts <= {time(9, 0), time(12, 0)} and time(9, 0) in starts  # the first starts at "now - 7 days"
    assert len(primaries) >= 60


def test_personal_feed_only_has_that_persons_shifts(daily_berlin, people):
    feed = calendar_feed_for(user=people[0])
    with time_machine.travel(berlin(2026, 3, 25, 12, 0), tick=False):
        events = _events(render_calendar(feed=feed))
    assert events
    name = people[0].get_full_name()
    assert all(f": {name} (" in str(e.get("summary")) for e in events)


def test_calendar_url_serves_the_feed_by_token(client, daily_berlin):
    feed = calendar_feed_for(rotation=daily_berlin)
    response = client.get(reverse("alerting:calendar", args=[feed.token]))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/calendar")
    assert _events(response.content)


def test_calendar_url_with_a_wrong_token_is_not_found(client, daily_berlin):
    calendar_feed_for(rotation=daily_berlin)
    assert client.get(reverse("alerting:calendar", args=["nope"])).status_code == 404


# --- coverage --------------------------------------------------------------------------------------


def _sev1_route(team):
    return RuleFactory(
        team=team, min_severity=Severity.SEV1, channels=[ChannelFactory()], escalation_policy=PolicyFactory()
    )


def test_coverage_check_flags_a_team_without_secondary(people):
    rotation = RotationFactory(members=[people[0]], shift_length=timedelta(days=1), starts_on=date(2026, 1, 1))
    _sev1_route(rotation.team)
    with time_machine.travel(datetime(2026, 4, 1, 12, tzinfo=UTC), tick=False):
        coverage_check()
    (gap,) = CoverageGap.objects.all()
    assert (gap.team, gap.missing) == (rotation.team, "secondary")
    assert gap.ends_at - gap.starts_at == timedelta(days=14)


def test_coverage_check_flags_a_paged_team_without_rotation():
    team = TeamFactory()
    _sev1_route(team)
    coverage_check()
    assert list(CoverageGap.objects.values_list("team", "missing")) == [(team.pk, "both")]


def test_coverage_check_flags_the_window_before_a_rotation_starts(people):
    rotation = RotationFactory(members=people[:2], shift_length=timedelta(days=1), starts_on=date(2026, 4, 5))
    _sev1_route(rotation.team)
    with time_machine.travel(datetime(2026, 4, 1, 9, tzinfo=UTC), tick=False):
        coverage_check()
    (gap,) = CoverageGap.objects.all()
    assert gap.ends_at == datetime(2026, 4, 5, 9, tzinfo=UTC)


def test_coverage_check_finds_no_gap_in_a_covered_team(daily_berlin):
    _sev1_route(daily_berlin.team)
    with time_machine.travel(berlin(2026, 3, 20, 12), tick=False):
        assert "covered" in coverage_check()
    assert not CoverageGap.objects.exists()


def test_coverage_check_ignores_teams_no_sev1_route_pages(people):
    RotationFactory(members=[people[0]])
    RuleFactory(team=TeamFactory(), min_severity=Severity.SEV1)  # no channels, no policy: pages nobody
    coverage_check()
    assert not CoverageGap.objects.exists()
