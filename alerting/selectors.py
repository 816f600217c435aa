"""Reads: who is on call (rotation maths with overrides), routing matches, coverage, outbox state."""

import itertools
import zoneinfo
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from django.db.models import Count, Prefetch, Q
from django.utils import timezone

from governance.choices import SEVERITY_RANK
from governance.models import Team

from .choices import NotificationStatus
from .models import Notification, OnCallOverride, OnCallRotation, RotationMember, RoutingRule

COVERAGE_HORIZON = timedelta(days=14)
REDISPATCH_AFTER = timedelta(minutes=5)


class OnCall(NamedTuple):
    primary: Any  # a User, or None when nobody is on call
    secondary: Any


NOBODY = OnCall(None, None)


# --- rotation maths -----------------------------------------------------------------------------


@dataclass
class RotationPlan:
    """A rotation loaded once (members, overrides) so the maths runs without queries."""

    rotation: OnCallRotation
    members: list
    overrides: list = field(default_factory=list)

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.rotation.time_zone)

    @property
    def anchor(self) -> datetime:
        """The first hand-off as a naive local wall-clock time."""
        return datetime.combine(self.rotation.starts_on, self.rotation.handoff_time)

    def _wall(self, at: datetime) -> datetime:
        return at.astimezone(self.tz).replace(tzinfo=None)

    def _instant(self, wall: datetime) -> datetime:
        return wall.replace(tzinfo=self.tz).astimezone(zoneinfo.ZoneInfo("UTC"))

    def shift_index(self, at: datetime) -> int | None:
        """Which shift `at` falls in, counted in wall-clock time (so hand-offs keep their local hour)."""
        elapsed = self._wall(at) - self.anchor
        if elapsed < timedelta(0):
            return None
        return int(elapsed // self.rotation.shift_length)

    def shift_start(self, index: int) -> datetime:
        return self._instant(self.anchor + self.rotation.shift_length * index)

    def scheduled(self, at: datetime) -> OnCall:
        index = self.shift_index(at)
        if index is None or not self.members:
            return NOBODY
        count = len(self.members)
        primary = self.members[index % count]
        secondary = self.members[(index + 1) % count] if count > 1 else None
        return OnCall(primary, secondary)

    def at(self, at: datetime) -> OnCall:
        primary, secondary = self.scheduled(at)
        for override in self.overrides:
            if not (override.starts_at <= at < override.ends_at):
                continue
            if override.replaces_id is None:
                if secondary is not None and secondary.pk == override.user_id:
                    secondary = primary
                primary = override.user
            elif primary is not None and primary.pk == override.replaces_id:
                primary = override.user
            elif secondary is not None and secondary.pk == override.replaces_id:
                secondary = override.user
        if primary is not None and secondary is not None and primary.pk == secondary.pk:
            secondary = None  # one person cannot back themselves up
        return OnCall(primary, secondary)

    def boundaries(self, start: datetime, end: datetime) -> set[datetime]:
        """Every instant in (start, end) where the answer may change."""
        points: set[datetime] = set()
        first = self.shift_index(start)
        index = 0 if first is None else first + 1
        while True:
            point = self.shift_start(index)
            if point >= end:
                break
            if point > start:
                points.add(point)
            index += 1
        for override in self.overrides:
            for point in (override.starts_at, override.ends_at):
                if start < point < end:
                    points.add(point)
        return points


def rotation_plans(*, team_ids=None, rotation_ids=None, window: tuple[datetime, datetime] | None = None) -> list:
    """Enabled rotations with their members and the overrides touching `window`, in 3 queries."""
    overrides = OnCallOverride.objects.select_related("user").order_by("starts_at", "pk")
    if window is not None:
        overrides = overrides.filter(ends_at__gt=window[0], starts_at__lt=window[1])
    rotations = OnCallRotation.objects.filter(enabled=True).order_by("pk")
    if team_ids is not None:
        rotations = rotations.filter(team_id__in=team_ids)
    if rotation_ids is not None:
        rotations = rotations.filter(pk__in=rotation_ids)
    rotations = rotations.prefetch_related(
        Prefetch("memberships", queryset=RotationMember.objects.select_related("user").order_by("position", "pk")),
        Prefetch("overrides", queryset=overrides),
    )
    return [
        RotationPlan(rotation, [m.user for m in rotation.memberships.all()], list(rotation.overrides.all()))
        for rotation in rotations
    ]


def _team_answer(plans: list[RotationPlan], at: datetime) -> OnCall:
    # A team with several rotations: the first (oldest) that has somebody on call answers.
    for plan in plans:
        answer = plan.at(at)
        if answer.primary is not None:
            return answer
    return NOBODY


def who_is_on_call(team: Team | None, at: datetime | None = None) -> OnCall:
    """The primary and secondary on call for `team` at `at` (default: now), overrides applied."""
    if team is None:
        return NOBODY
    at = at or timezone.now()
    return _team_answer(rotation_plans(team_ids=[team.pk], window=(at, at + timedelta(microseconds=1))), at)


def on_call_now_by_team(*, team_ids, at: datetime | None = None) -> dict[int, OnCall]:
    """`who_is_on_call` for many teams in 3 queries."""
    at = at or timezone.now()
    by_team: dict[int, list[RotationPlan]] = {}
    for plan in rotation_plans(team_ids=list(team_ids), window=(at, at + timedelta(microseconds=1))):
        by_team.setdefault(plan.rotation.team_id, []).append(plan)
    return {team_id: _team_answer(by_team.get(team_id, []), at) for team_id in team_ids}


def teams_where_on_call(user, at: datetime | None = None) -> list[int]:
    """The ids of the teams `user` is primary or secondary for at `at` (default: now), in at most 4 queries."""
    at = at or timezone.now()
    candidates = set(
        OnCallRotation.objects.filter(enabled=True)
        .filter(Q(memberships__user=user) | Q(overrides__user=user, overrides__ends_at__gt=at))
        .values_list("team_id", flat=True)
    )
    if not candidates:
        return []
    answers = on_call_now_by_team(team_ids=sorted(candidates), at=at)
    return [team_id for team_id, answer in answers.items() if user in (answer.primary, answer.secondary)]


@dataclass(frozen=True)
class Segment:
    starts_at: datetime
    ends_at: datetime
    primary: Any
    secondary: Any


def _same(a, b) -> bool:
    return (a.pk if a else None) == (b.pk if b else None)


def segments(plans: list[RotationPlan], start: datetime, end: datetime) -> list[Segment]:
    """Who is on call over [start, end), as contiguous segments (shifts split by overrides)."""
    points = sorted({start, end, *(p for plan in plans for p in plan.boundaries(start, end))})
    result: list[Segment] = []
    for begin, finish in itertools.pairwise(points):
        primary, secondary = _team_answer(plans, begin)
        last = result[-1] if result else None
        if last and _same(last.primary, primary) and _same(last.secondary, secondary):
            result[-1] = Segment(last.starts_at, finish, primary, secondary)
        else:
            result.append(Segment(begin, finish, primary, secondary))
    return result


def coverage_gaps_for(
    plans: list[RotationPlan], start: datetime, end: datetime
) -> list[tuple[str, datetime, datetime]]:
    gaps = []
    for segment in segments(plans, start, end):
        missing = [name for name, who in (("primary", segment.primary), ("secondary", segment.secondary)) if not who]
        if missing:
            label = "both" if len(missing) == 2 else missing[0]
            if gaps and gaps[-1][0] == label and gaps[-1][2] == segment.starts_at:
                gaps[-1] = (label, gaps[-1][1], segment.ends_at)
            else:
                gaps.append((label, segment.starts_at, segment.ends_at))
    return gaps


# --- routing ---------------------------------------------------------------------------------------


def severity_matches(minimum: str, severity: str | None) -> bool:
    if not minimum:
        return True
    return bool(severity) and SEVERITY_RANK[severity] <= SEVERITY_RANK[minimum]


def rule_matches(rule: RoutingRule, *, event_type: str, severity, service, team) -> bool:
    if rule.event_types and event_type not in rule.event_types:
        return False
    if not severity_matches(rule.min_severity, severity):
        return False
    if rule.service_id and (service is None or service.pk != rule.service_id):
        return False
    if rule.team_id:
        teams = {t for t in (team.pk if team else None, service.owner_team_id if service else None) if t}
        if rule.team_id not in teams:
            return False
    return True


def enabled_rules():
    return (
        RoutingRule.objects.filter(enabled=True)
        .select_related("escalation_policy", "service", "team")
        .prefetch_related("channels")
        .order_by("position", "pk")
    )


def matching_rules(*, event_type: str, severity=None, service=None, team=None, rules=None) -> list[RoutingRule]:
    rules = enabled_rules() if rules is None else rules
    return [r for r in rules if rule_matches(r, event_type=event_type, severity=severity, service=service, team=team)]


def teams_paged_for_sev1() -> list[Team]:
    """Teams whose on-call a SEV1 route can page: the rule's team, its service's owner, or
    (for a rule without team or service) every team with a rotation."""
    team_ids: set[int] = set()
    for rule in enabled_rules():
        if not (rule.escalation_policy_id or rule.channels.all()):
            continue
        if rule.team_id:
            team_ids.add(rule.team_id)
        elif rule.service_id:
            if rule.service.owner_team_id:
                team_ids.add(rule.service.owner_team_id)
        elif rule.escalation_policy_id:
            team_ids.update(OnCallRotation.objects.filter(enabled=True).values_list("team_id", flat=True))
    return list(Team.objects.filter(pk__in=team_ids).order_by("name"))


# --- the outbox ------------------------------------------------------------------------------------


def notifications_due(*, now: datetime, grace: timedelta, limit: int) -> list[int]:
    """Pending rows whose task should have run by now and that nobody is sending.

    A row the sweeper already re-dispatched waits `REDISPATCH_AFTER` before the next
    try, so a backlogged queue is not flooded with copies of the same task.
    """
    return list(
        Notification.objects.filter(status=NotificationStatus.PENDING, next_attempt_at__lte=now - grace)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .filter(Q(swept_at__isnull=True) | Q(swept_at__lt=now - REDISPATCH_AFTER))
        .order_by("next_attempt_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )


def outbox_counts() -> dict[str, int]:
    row = Notification.objects.aggregate(
        pending=Count("pk", filter=Q(status=NotificationStatus.PENDING)),
        dead_letter=Count("pk", filter=Q(status=NotificationStatus.DEAD_LETTER)),
        delivered_24h=Count(
            "pk",
            filter=Q(status=NotificationStatus.DELIVERED, delivered_at__gte=timezone.now() - timedelta(hours=24)),
        ),
    )
    return {k: v or 0 for k, v in row.items()}


# --- the "who gets paged for what" matrix ------------------------------------------------------------


def matrix() -> tuple[list[dict], list[str]]:
    """Rows of event × severities × team (or service) → channels, escalation policy, on call now.

    Severities with the same outcome share a row. Returns (rows, event types no rule routes).
    """
    from governance.choices import Severity

    from .choices import EventType

    rules = list(enabled_rules())
    teams = list(Team.objects.select_related("manager").order_by("name"))
    services = sorted({r.service for r in rules if r.service_id}, key=lambda s: s.slug)
    team_by_id = {t.pk: t for t in teams}
    on_call = on_call_now_by_team(team_ids=list(team_by_id))
    scopes = [(team, None) for team in teams] + [(team_by_id.get(s.owner_team_id), s) for s in services]
    rows: list[dict] = []
    routed: set[str] = set()
    for event in [e for e in EventType.values if e != EventType.CHANNEL_TEST]:
        for team, service in scopes:
            outcomes: dict[tuple, dict] = {}
            for severity in [*Severity.values, None]:
                matched = matching_rules(event_type=event, severity=severity, service=service, team=team, rules=rules)
                channels = list(dict.fromkeys(c for r in matched for c in r.channels.all() if c.enabled))
                policy = next((r.escalation_policy for r in matched if r.escalation_policy_id), None)
                if not channels and policy is None:
                    continue
                signature = (tuple(c.pk for c in channels), policy.pk if policy else None)
                row = outcomes.setdefault(
                    signature,
                    {
                        "event": event,
                        "severities": [],
                        "team": team,
                        "service": service,
                        "channels": channels,
                        "policy": policy,
                        "rules": [r.name for r in matched],
                        "on_call": on_call.get(team.pk) if team else None,
                    },
                )
                row["severities"].append(severity or "none")
            rows.extend(outcomes.values())
            if outcomes:
                routed.add(event)
    unrouted = [e for e in EventType.values if e not in routed and e != EventType.CHANNEL_TEST]
    return rows, unrouted
