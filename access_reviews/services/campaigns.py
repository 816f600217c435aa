"""Templates launch campaigns; reviewers decide; reminders, escalation, close and sign-off.

Launch freezes the in-scope grants into ReviewItems with bulk inserts (BULK_BATCH rows each):
the grants are read as tuples, never as model instances, so 100 000 grants launch in seconds.
"""

import hashlib
import time
from datetime import UTC, datetime, timedelta

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from governance.audit import audit_record, current_context
from governance.console import needs_you_changed
from governance.errors import Conflict, NotFound, ValidationFailed

from .. import notifications
from ..choices import (
    BULK_BATCH,
    CampaignStatus,
    Connector,
    Decision,
    ItemChange,
    RemediationStatus,
    ReviewerRule,
)
from ..models import AccessGrant, Campaign, Identity, Remediation, ReviewItem, ReviewTemplate


def quarter_of(moment: datetime) -> tuple[str, datetime]:
    """("2026-Q4", start of that quarter in UTC)."""
    moment = moment.astimezone(UTC)
    quarter = (moment.month - 1) // 3 + 1
    start = datetime(moment.year, 3 * quarter - 2, 1, tzinfo=UTC)
    return f"{moment.year}-Q{quarter}", start


def _actor_label(actor=None) -> str:
    if actor is not None and getattr(actor, "is_authenticated", False):
        return actor.get_username()
    ctx = current_context()
    if ctx.user is not None and getattr(ctx.user, "is_authenticated", False):
        return ctx.user.get_username()
    return "system"


# --- reviewer assignment -----------------------------------------------------------------------


class ReviewerPicker:
    """Who reviews a grant: the rule's reviewer, else the fallback, else the campaign owner — never the subject.

    Someone is the subject of a grant when they are its identity's linked user, their email is the
    identity's (or the grant's) email, or (on Vigil's own system) the account is their user name.
    """

    def __init__(self, template: ReviewTemplate, system_rows: dict):
        User = get_user_model()
        self.template = template
        self.rule = template.reviewer_rule
        self.fallback = template.fallback_reviewer_id
        self.owner = template.owner_id
        self.systems = system_rows  # pk → (owner_id, connector)
        self.identities = {
            pk: (user_id, email, manager_id)
            for pk, user_id, email, manager_id in Identity.objects.values_list("pk", "user_id", "email", "manager_id")
        }
        self.users_by_email: dict[str, set[int]] = {}
        self.users_by_name: dict[str, int] = {}
        for pk, email, username in User.objects.values_list("pk", "email", "username"):
            if email:
                self.users_by_email.setdefault(email.lower(), set()).add(pk)
            self.users_by_name[username] = pk

    def subjects(self, *, identity_id, email: str, account: str, system_id: int) -> set[int]:
        found: set[int] = set()
        emails = {email.lower()} if email else set()
        if identity_id is not None and identity_id in self.identities:
            user_id, identity_email, _ = self.identities[identity_id]
            if user_id:
                found.add(user_id)
            emails.add(identity_email)
        for address in emails:
            found |= self.users_by_email.get(address, set())
        if self.systems[system_id][1] == Connector.VIGIL and account in self.users_by_name:
            found.add(self.users_by_name[account])
        return found

    def rule_reviewer(self, *, identity_id, system_id: int) -> int | None:
        if self.rule == ReviewerRule.SYSTEM_OWNER:
            return self.systems[system_id][0]
        if identity_id is None or identity_id not in self.identities:
            return None
        manager_id = self.identities[identity_id][2]
        if manager_id is None or manager_id not in self.identities:
            return None
        return self.identities[manager_id][0]

    def pick(self, *, identity_id, email: str, account: str, system_id: int) -> int:
        subjects = self.subjects(identity_id=identity_id, email=email, account=account, system_id=system_id)
        for candidate in (self.rule_reviewer(identity_id=identity_id, system_id=system_id), self.fallback, self.owner):
            if candidate is not None and candidate not in subjects:
                return candidate
        raise Conflict(
            f"Nobody but the subject can review {account} on system #{system_id}: "
            "the fallback reviewer and the template owner are both the subject.",
            code="no_reviewer",
        )


# --- launch ------------------------------------------------------------------------------------


def _grants_in_scope(template: ReviewTemplate):
    grants = AccessGrant.objects.filter(system__in=template.systems.all())
    if template.privileged_only:
        grants = grants.filter(privileged=True)
    return grants.order_by("system__slug", "account", "entitlement", "pk").values_list(
        "system_id", "system__slug", "account", "email", "identity_id", "entitlement", "privileged", "last_login_at"
    )


def _previous_items(template: ReviewTemplate, before: Campaign | None) -> tuple[dict, set]:
    previous = Campaign.objects.filter(template=template).exclude(pk=getattr(before, "pk", None)).first()
    if previous is None:
        return {}, set()
    keys, accounts = {}, set()
    for system_id, account, entitlement, privileged, identity_id in previous.items.values_list(
        "system_id", "account", "entitlement", "privileged", "identity_id"
    ).iterator(chunk_size=BULK_BATCH):
        keys[(system_id, account, entitlement)] = (privileged, identity_id)
        accounts.add((system_id, account))
    return keys, accounts


def campaign_launch(
    *, template: ReviewTemplate, now: datetime | None = None, actor=None, period: str | None = None
) -> Campaign:
    """Freeze the template's in-scope grants into a new campaign. Conflict if this period already has one."""
    started = time.monotonic()
    now = now or timezone.now()
    label, _ = quarter_of(now)
    period = period or label
    with transaction.atomic():
        template = ReviewTemplate.objects.select_for_update().get(pk=template.pk)
        if Campaign.objects.filter(template=template, period=period).exists():
            raise Conflict(
                f"{template.name} already has a campaign for {period}.",
                code="campaign_exists",
                fields={"period": [period]},
            )
        systems = {
            pk: (owner, connector)
            for pk, owner, connector in template.systems.values_list("pk", "owner_id", "connector")
        }
        if not systems:
            raise ValidationFailed(
                f"{template.name} has no systems in scope.", fields={"systems": ["Choose at least one."]}
            )
        picker = ReviewerPicker(template, systems)
        campaign = Campaign.objects.create(
            template=template,
            name=f"{template.name} {period}",
            period=period,
            status=CampaignStatus.ACTIVE,
            owner_id=template.owner_id,
            launched_at=now,
            launched_by=_actor_label(actor),
            due_at=now + timedelta(days=template.due_days),
            closes_at=now + timedelta(days=template.due_days + template.escalation_days),
            snapshot_sha256="",
        )
        previous, previous_accounts = _previous_items(template, campaign)
        digest = hashlib.sha256()
        batch: list[ReviewItem] = []
        count = 0
        reviewers: set[int] = set()
        for system_id, slug, account, email, identity_id, entitlement, privileged, last_login in _grants_in_scope(
            template
        ).iterator(chunk_size=BULK_BATCH):
            before = previous.get((system_id, account, entitlement))
            if before is None:
                change = ItemChange.CHANGED if (system_id, account) in previous_accounts else ItemChange.NEW
            else:
                change = ItemChange.UNCHANGED if before == (privileged, identity_id) else ItemChange.CHANGED
            reviewer = picker.pick(identity_id=identity_id, email=email, account=account, system_id=system_id)
            reviewers.add(reviewer)
            digest.update(
                f"{slug}\t{account}\t{entitlement}\t{int(privileged)}\t{email}\t"
                f"{last_login.isoformat() if last_login else ''}\n".encode()
            )
            batch.append(
                ReviewItem(
                    campaign=campaign,
                    system_id=system_id,
                    account=account,
                    identity_id=identity_id,
                    entitlement=entitlement,
                    privileged=privileged,
                    last_login_at=last_login,
                    change=change,
                    reviewer_id=reviewer,
                )
            )
            if len(batch) >= BULK_BATCH:
                ReviewItem.objects.bulk_create(batch)
                count += len(batch)
                batch = []
        if batch:
            ReviewItem.objects.bulk_create(batch)
            count += len(batch)
        needs_you_changed()  # bulk inserts send no signals: the reviewers' lists are stale
        campaign.snapshot_sha256 = digest.hexdigest()
        campaign.item_count = count
        campaign.launch_seconds = round(time.monotonic() - started, 3)
        campaign.save(update_fields=["snapshot_sha256", "item_count", "launch_seconds", "updated_at"])
        audit_record(
            action="campaign_launch",
            obj=campaign,
            changes={
                "period": [None, period],
                "items": [None, count],
                "snapshot_sha256": [None, campaign.snapshot_sha256],
            },
        )
        User = get_user_model()
        notifications.send(
            "access_review.launched",
            subject=f"Access review {campaign.name}: {count} item(s) due {campaign.due_at:%Y-%m-%d}",
            key=f"access_review:{campaign.pk}:launched",
            obj=campaign,
            recipients=list(User.objects.filter(pk__in=reviewers)),
            data={"campaign": campaign.name, "items": count, "due_at": campaign.due_at},
        )
        if count == 0:
            _close(campaign, now=now)
    return campaign


def campaigns_launch_due(*, now: datetime | None = None) -> list[Campaign]:
    """The quarterly launch: one campaign per active template per quarter; running it twice launches nothing."""
    now = now or timezone.now()
    period, quarter_start = quarter_of(now)
    launched = []
    templates = ReviewTemplate.objects.filter(active=True, created_at__lt=quarter_start).exclude(
        campaigns__period=period
    )
    for template in templates:
        try:
            launched.append(campaign_launch(template=template, now=now, period=period))
        except Conflict:
            continue  # a concurrent run launched it
    return launched


# --- decisions ---------------------------------------------------------------------------------


def _locked_item(item, *, reviewer) -> ReviewItem:
    pk = item.pk if isinstance(item, ReviewItem) else item
    found = (
        ReviewItem.objects.select_for_update(of=("self",))
        .select_related("campaign", "campaign__template")
        .filter(pk=pk, reviewer=reviewer)
        .first()
    )
    if found is None:
        raise NotFound("No such review item among yours.")
    return found


def item_decide(
    *,
    item: ReviewItem | int,
    reviewer,
    decision: str,
    justification: str = "",
    modified_entitlement: str = "",
    now: datetime | None = None,
) -> ReviewItem:
    """Keep, revoke or modify one of the reviewer's own items. Revoke and modify open a remediation."""
    now = now or timezone.now()
    justification = (justification or "").strip()
    modified_entitlement = (modified_entitlement or "").strip()
    fields: dict[str, list[str]] = {}
    if decision not in (Decision.KEEP, Decision.REVOKE, Decision.MODIFY):
        fields["decision"] = ["Choose keep, revoke or modify."]
    if decision == Decision.MODIFY and not modified_entitlement:
        fields["modified_entitlement"] = ["Say what the access becomes."]
    if fields:
        raise ValidationFailed("The decision is not valid.", fields=fields)
    with transaction.atomic():
        item = _locked_item(item, reviewer=reviewer)
        if item.campaign.status != CampaignStatus.ACTIVE:
            raise Conflict(f"{item.campaign.name} is closed: its decisions are final.", code="campaign_closed")
        needs_reason = decision in (Decision.REVOKE, Decision.MODIFY) or item.privileged
        if needs_reason and not justification:
            why = "privileged access" if decision == Decision.KEEP else f"a {decision}"
            raise ValidationFailed(
                f"A justification is required for {why}.", fields={"justification": [f"Required for {why}."]}
            )
        before = {"decision": item.decision, "justification": item.justification}
        item.decision = decision
        item.justification = justification
        item.modified_entitlement = modified_entitlement if decision == Decision.MODIFY else ""
        item.decided_by = reviewer
        item.decided_at = now
        item.defaulted = False
        item.save(
            update_fields=["decision", "justification", "modified_entitlement", "decided_by", "decided_at", "defaulted"]
        )
        audit_record(
            action="review_item_decide",
            obj=item,
            changes={
                "decision": [before["decision"], decision],
                "justification": [before["justification"], justification],
            },
        )
        _sync_remediation(item, now=now)
        if not ReviewItem.objects.filter(campaign=item.campaign, decision=Decision.PENDING).exists():
            _close(Campaign.objects.select_for_update().get(pk=item.campaign_id), now=now)
    return item


def items_decide(*, items, reviewer, decision: str, justification: str = "", now=None) -> int:
    """The bulk action: every item or none (one transaction)."""
    with transaction.atomic():
        count = 0
        for pk in list(items.values_list("pk", flat=True)):
            item_decide(item=pk, reviewer=reviewer, decision=decision, justification=justification, now=now)
            count += 1
    return count


def _sync_remediation(item: ReviewItem, *, now: datetime) -> None:
    existing = Remediation.objects.filter(item=item).first()
    if item.decision == Decision.KEEP:
        if existing is not None and existing.status == RemediationStatus.OPEN:
            audit_record(action="remediation_cancel", obj=existing, changes={"status": [existing.status, None]})
            existing.delete()
        return
    if existing is not None:
        if existing.status != RemediationStatus.OPEN:
            raise Conflict("The remediation is already under way; the decision can no longer change.")
        existing.target_entitlement = item.modified_entitlement
        existing.save(update_fields=["target_entitlement", "updated_at"])
        return
    remediation = Remediation.objects.create(
        item=item,
        system_id=item.system_id,
        account=item.account,
        entitlement=item.entitlement,
        target_entitlement=item.modified_entitlement,
        assignee_id=item.system.owner_id if item.system_id else None,
        due_at=now + timedelta(days=item.campaign.template.remediation_days),
        created_at=now,
    )
    audit_record(action="remediation_open", obj=remediation, changes={"status": [None, RemediationStatus.OPEN]})


def item_delegate(*, item: ReviewItem | int, reviewer, to, reason: str) -> ReviewItem:
    """Hand an item to another reviewer, with a reason; never to the grant's own subject."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed("A reason is required to delegate.", fields={"reason": ["Required."]})
    if to is None or not to.is_active:
        raise ValidationFailed("Choose an active user to delegate to.", fields={"to": ["Unknown or inactive user."]})
    if to.pk == reviewer.pk:
        raise ValidationFailed("The item is already yours.", fields={"to": ["Choose someone else."]})
    with transaction.atomic():
        item = _locked_item(item, reviewer=reviewer)
        if item.campaign.status != CampaignStatus.ACTIVE:
            raise Conflict(f"{item.campaign.name} is closed.", code="campaign_closed")
        if item.decision != Decision.PENDING:
            raise Conflict("Only pending items can be delegated.", code="already_decided")
        template = item.campaign.template
        systems = {item.system_id: (item.system.owner_id, item.system.connector)}
        picker = ReviewerPicker(template, systems)
        email = item.identity.email if item.identity_id else ""
        if to.pk in picker.subjects(
            identity_id=item.identity_id, email=email, account=item.account, system_id=item.system_id
        ):
            raise ValidationFailed("Nobody reviews their own access.", fields={"to": ["This is the item's subject."]})
        item.delegated_from = reviewer
        item.delegation_reason = reason
        item.reviewer = to
        item.save(update_fields=["delegated_from", "delegation_reason", "reviewer"])
        audit_record(
            action="review_item_delegate",
            obj=item,
            changes={"reviewer": [reviewer.pk, to.pk], "delegation_reason": [None, reason]},
        )
    return item


# --- close and sign-off ------------------------------------------------------------------------


def _close(campaign: Campaign, *, now: datetime) -> None:
    campaign.status = CampaignStatus.CLOSING
    campaign.closed_at = now
    campaign.save(update_fields=["status", "closed_at", "updated_at"])
    audit_record(action="campaign_close", obj=campaign, changes={"status": [CampaignStatus.ACTIVE, campaign.status]})


def campaign_close(*, campaign: Campaign | int, now: datetime | None = None) -> int:
    """Apply the no-response default to pending items (recorded as defaulted) and close. Returns how many."""
    now = now or timezone.now()
    pk = campaign.pk if isinstance(campaign, Campaign) else campaign
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().select_related("template").get(pk=pk)
        if campaign.status != CampaignStatus.ACTIVE:
            return 0
        default = campaign.template.no_response_default
        note = f"No response by {campaign.closes_at:%Y-%m-%d}: the template's default ({default}) was applied."
        pending = list(campaign.items.filter(decision=Decision.PENDING).select_related("system"))
        for item in pending:
            item.decision = default
            item.justification = note
            item.decided_at = now
            item.defaulted = True
        ReviewItem.objects.bulk_update(pending, ["decision", "justification", "decided_at", "defaulted"], BULK_BATCH)
        needs_you_changed()
        if default != Decision.KEEP:
            for item in pending:
                item.campaign = campaign
                _sync_remediation(item, now=now)
        audit_record(
            action="campaign_apply_default",
            obj=campaign,
            changes={"defaulted": [None, len(pending)], "default": [None, default]},
        )
        _close(campaign, now=now)
    return len(pending)


def campaign_sign_off(*, campaign: Campaign | int, actor, note: str = "", now=None) -> Campaign:
    now = now or timezone.now()
    pk = campaign.pk if isinstance(campaign, Campaign) else campaign
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().get(pk=pk)
        if campaign.status != CampaignStatus.CLOSING:
            raise Conflict(
                "Only a closed campaign (every item decided or defaulted) can be signed off.",
                code="invalid_transition",
            )
        campaign.status = CampaignStatus.SIGNED_OFF
        campaign.signed_off_at = now
        campaign.signed_off_by = actor
        campaign.sign_off_note = note
        campaign.save(update_fields=["status", "signed_off_at", "signed_off_by", "sign_off_note", "updated_at"])
        audit_record(
            action="campaign_sign_off",
            obj=campaign,
            changes={"status": [CampaignStatus.CLOSING, CampaignStatus.SIGNED_OFF], "note": [None, note]},
        )
    return campaign


# --- reminders and escalation ------------------------------------------------------------------


def _pending_by_reviewer(campaign: Campaign) -> dict[int, int]:
    return dict(
        campaign.items.filter(decision=Decision.PENDING)
        .values("reviewer_id")
        .annotate(n=Count("pk"))
        .values_list("reviewer_id", "n")
    )


def campaign_remind(*, campaign: Campaign, now: datetime) -> int:
    """`access_review.reminder` on the template's offsets (days before due); once per reviewer and offset."""
    if campaign.status != CampaignStatus.ACTIVE or now >= campaign.due_at:
        return 0
    offsets = sorted(int(d) for d in campaign.template.reminder_offsets or [])
    reached = [d for d in offsets if campaign.due_at - timedelta(days=d) <= now]
    if not reached:
        return 0
    offset = reached[0]  # the nearest offset reached; a late sweep does not send the earlier ones too
    User = get_user_model()
    sent = 0
    for reviewer_id, pending in _pending_by_reviewer(campaign).items():
        sent += bool(
            notifications.send(
                "access_review.reminder",
                subject=f"{pending} access review item(s) due {campaign.due_at:%Y-%m-%d} ({campaign.name})",
                key=f"access_review:{campaign.pk}:reminder:{offset}:{reviewer_id}",
                obj=campaign,
                recipients=[User.objects.get(pk=reviewer_id)],
                data={"campaign": campaign.name, "pending": pending, "days_before_due": offset},
            )
        )
    return sent


def _manager_of(user_id: int):
    identity = Identity.objects.select_related("manager__user").filter(user_id=user_id).first()
    if identity and identity.manager_id and identity.manager.user_id:
        return identity.manager.user
    return None


def campaign_escalate(*, campaign: Campaign, now: datetime) -> int:
    """After the due date: `access_review.overdue` to each late reviewer's manager and the campaign owner."""
    if campaign.status != CampaignStatus.ACTIVE or now < campaign.due_at:
        return 0
    User = get_user_model()
    sent = 0
    for reviewer_id, pending in _pending_by_reviewer(campaign).items():
        reviewer = User.objects.get(pk=reviewer_id)
        sent += bool(
            notifications.send(
                "access_review.overdue",
                subject=f"{reviewer.get_full_name() or reviewer.get_username()} has {pending} overdue access review "
                f"item(s) in {campaign.name}",
                key=f"access_review:{campaign.pk}:overdue:{reviewer_id}",
                obj=campaign,
                recipients=[_manager_of(reviewer_id), campaign.owner],
                data={"campaign": campaign.name, "reviewer": reviewer.get_username(), "pending": pending},
            )
        )
    return sent


def campaigns_sweep(*, now: datetime | None = None) -> dict:
    """The scheduled pass: launch the quarter's campaigns, remind, escalate, close."""
    now = now or timezone.now()
    result = {"launched": len(campaigns_launch_due(now=now)), "reminded": 0, "escalated": 0, "closed": 0}
    for campaign in Campaign.objects.filter(status=CampaignStatus.ACTIVE).select_related("template", "owner"):
        if now >= campaign.closes_at:
            campaign_close(campaign=campaign, now=now)
            result["closed"] += 1
            continue
        with transaction.atomic():
            result["reminded"] += campaign_remind(campaign=campaign, now=now)
            result["escalated"] += campaign_escalate(campaign=campaign, now=now)
    return result


# --- remediations ------------------------------------------------------------------------------


def remediation_mark_done(*, remediation: Remediation | int, ticket_url: str = "", now=None) -> Remediation:
    """The assignee says the access is removed; only a later snapshot makes it verified."""
    now = now or timezone.now()
    pk = remediation.pk if isinstance(remediation, Remediation) else remediation
    with transaction.atomic():
        remediation = Remediation.objects.select_for_update().get(pk=pk)
        if remediation.status != RemediationStatus.OPEN:
            raise Conflict(f"The remediation is {remediation.status}.", code="invalid_transition")
        remediation.status = RemediationStatus.DONE
        remediation.done_at = now
        if ticket_url:
            remediation.ticket_url = ticket_url
            remediation.full_clean(exclude=["item", "system", "assignee", "verified_by_import"])
        remediation.save(update_fields=["status", "done_at", "ticket_url", "updated_at"])
        audit_record(
            action="remediation_done",
            obj=remediation,
            changes={"status": [RemediationStatus.OPEN, RemediationStatus.DONE], "ticket_url": [None, ticket_url]},
        )
    return remediation


def remediations_flag_overdue(*, now: datetime | None = None) -> int:
    """Unverified past the deadline: flagged once and notified to the assignee, system owner and campaign owner."""
    now = now or timezone.now()
    flagged = 0
    overdue = Remediation.objects.filter(
        ~Q(status=RemediationStatus.VERIFIED), due_at__lte=now, flagged_at__isnull=True
    ).select_related("system__owner", "assignee", "item__campaign__owner")
    for remediation in overdue:
        with transaction.atomic():
            updated = Remediation.objects.filter(pk=remediation.pk, flagged_at__isnull=True).update(flagged_at=now)
            if not updated:
                continue
            audit_record(action="remediation_flag", obj=remediation, changes={"flagged_at": [None, now]})
            notifications.send(
                "access_review.overdue",
                subject=f"Remediation #{remediation.pk} ({remediation.account} · {remediation.entitlement} on "
                f"{remediation.system.slug}) is unverified past its deadline",
                key=f"access_remediation:{remediation.pk}:overdue",
                obj=remediation,
                recipients=[remediation.assignee, remediation.system.owner, remediation.item.campaign.owner],
                data={"remediation": remediation.pk, "system": remediation.system.slug, "due_at": remediation.due_at},
            )
            flagged += 1
    return flagged
