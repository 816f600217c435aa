"""On-call writes: rotations, overrides, calendar feeds, the coverage check; and the iCalendar render."""

import secrets
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from governance.audit import audit_record, diff, snapshot
from governance.console import needs_you_changed
from governance.errors import ValidationFailed

from ..models import CalendarFeed, CoverageGap, OnCallOverride, OnCallRotation, RotationMember
from ..selectors import COVERAGE_HORIZON, coverage_gaps_for, rotation_plans, segments, teams_paged_for_sev1


def _full_clean(obj) -> None:
    from django.core.exceptions import ValidationError

    try:
        obj.full_clean()
    except ValidationError as exc:
        raise ValidationFailed(
            "; ".join(m for ms in exc.message_dict.values() for m in ms), fields=exc.message_dict
        ) from exc


@transaction.atomic
def rotation_create(
    *,
    team,
    name: str,
    members: list,
    shift_length: timedelta = timedelta(days=7),
    handoff_time="09:00",
    time_zone: str = "UTC",
    starts_on=None,
) -> OnCallRotation:
    rotation = OnCallRotation(
        team=team,
        name=name,
        shift_length=shift_length,
        handoff_time=handoff_time,
        time_zone=time_zone,
        starts_on=starts_on or timezone.localdate(),
    )
    _full_clean(rotation)
    rotation.save()
    RotationMember.objects.bulk_create(
        [RotationMember(rotation=rotation, user=user, position=i) for i, user in enumerate(members)]
    )
    needs_you_changed()
    audit_record(
        action="create",
        obj=rotation,
        changes={**diff({}, snapshot(rotation)), "members": [None, [u.pk for u in members]]},
    )
    return rotation


@transaction.atomic
def override_create(
    *, rotation: OnCallRotation, user, starts_at: datetime, ends_at: datetime, replaces=None, reason: str = ""
) -> OnCallOverride:
    override = OnCallOverride(
        rotation=rotation, user=user, replaces=replaces, starts_at=starts_at, ends_at=ends_at, reason=reason
    )
    if ends_at <= starts_at:
        raise ValidationFailed("An override ends after it starts.", fields={"ends_at": ["Must be after the start."]})
    override.save()
    audit_record(action="create", obj=override, changes=diff({}, snapshot(override)))
    return override


@transaction.atomic
def calendar_feed_for(*, rotation: OnCallRotation | None = None, user=None) -> CalendarFeed:
    """The private feed of a rotation or a person, created on first use."""
    if (rotation is None) == (user is None):
        raise ValueError("give exactly one of rotation= or user=")
    lookup = {"rotation": rotation} if rotation is not None else {"user": user}
    feed = CalendarFeed.objects.filter(**lookup).first()
    if feed is None:
        feed = CalendarFeed.objects.create(**lookup)
        audit_record(action="create", obj=feed, changes={"owner": [None, str(rotation or user)]})
    return feed


@transaction.atomic
def calendar_feed_rotate_token(*, feed: CalendarFeed) -> CalendarFeed:
    """A new private URL; the old one stops working at once."""
    feed.token = secrets.token_urlsafe(32)
    feed.save(update_fields=["token", "updated_at"])
    audit_record(action="rotate_token", obj=feed, changes={"token": ["(old)", "(new)"]})
    return feed


# --- iCalendar ------------------------------------------------------------------------------------

FEED_PAST = timedelta(days=7)
FEED_FUTURE = timedelta(days=60)


def _name(user) -> str:
    return user.get_full_name() or user.get_username()


def render_calendar(*, feed: CalendarFeed, now: datetime | None = None) -> bytes:
    """VEVENTs for the feed's shifts from a week back to 60 days ahead, overrides applied."""
    from icalendar import Calendar, Event

    now = now or timezone.now()
    start, end = now - FEED_PAST, now + FEED_FUTURE
    calendar = Calendar()
    calendar.add("prodid", "-//Vigil//On-call//EN")
    calendar.add("version", "2.0")
    if feed.rotation_id:
        plans = rotation_plans(rotation_ids=[feed.rotation_id], window=(start, end))
        calendar.add("x-wr-calname", f"On call: {feed.rotation}")
        wanted = None
    else:
        plans = rotation_plans(window=(start, end))
        plans = [p for p in plans if any(m.pk == feed.user_id for m in p.members)] or [
            p for p in plans if any(o.user_id == feed.user_id for o in p.overrides)
        ]
        calendar.add("x-wr-calname", f"On call: {_name(feed.user)}")
        wanted = feed.user_id
    for plan in plans:
        for segment in segments([plan], start, end):
            for role, person in (("Primary", segment.primary), ("Secondary", segment.secondary)):
                if person is None or (wanted is not None and person.pk != wanted):
                    continue
                event = Event()
                event.add("uid", f"vigil-{plan.rotation.pk}-{role.lower()}-{int(segment.starts_at.timestamp())}@vigil")
                event.add("dtstamp", now)
                event.add("dtstart", segment.starts_at)
                event.add("dtend", segment.ends_at)
                event.add("summary", f"{role} on call: {_name(person)} ({plan.rotation})")
                event.add("categories", [role.upper()])
                calendar.add_component(event)
    return calendar.to_ical()


# --- coverage ----------------------------------------------------------------------------------------


@transaction.atomic
def coverage_check(*, now: datetime | None = None) -> str:
    """Flag windows in the next 14 days where a team a SEV1 route pages lacks a primary or secondary."""
    now = now or timezone.now()
    end = now + COVERAGE_HORIZON
    teams = teams_paged_for_sev1()
    plans = rotation_plans(team_ids=[t.pk for t in teams], window=(now, end))
    CoverageGap.objects.all().delete()  # derived state: replaced on every run
    gaps = []
    for team in teams:
        team_plans = [p for p in plans if p.rotation.team_id == team.pk]
        for missing, begin, finish in coverage_gaps_for(team_plans, now, end):
            gaps.append(CoverageGap(team=team, missing=missing, starts_at=begin, ends_at=finish, detected_at=now))
    CoverageGap.objects.bulk_create(gaps)
    teams_with_gaps = sorted({g.team.name for g in gaps})
    if gaps:
        return f"{len(gaps)} gap(s) in {len(teams_with_gaps)} team(s): {', '.join(teams_with_gaps)}"
    return f"{len(teams)} team(s) covered for 14 days"
