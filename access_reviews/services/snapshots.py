"""Snapshots of grants per system, identities from HR, and what a snapshot proves.

A snapshot replaces a system's grants: rows not in it are removed, new rows added,
rows whose attributes moved are changed. The same pass verifies remediations the
snapshot proves done and raises orphaned grants of terminated identities.
"""

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from governance.audit import audit_record, current_context
from governance.errors import ValidationFailed

from .. import notifications
from ..choices import (
    BULK_BATCH,
    EmploymentStatus,
    ImportKind,
    ImportSource,
    ImportStatus,
    RemediationStatus,
)
from ..models import AccessGrant, Identity, OrphanedGrantAlert, Remediation, SnapshotImport, System
from ..parsing import GrantRow, IdentityRow, sha256_of

logger = logging.getLogger(__name__)
PREVIEW_LIMIT = 50


@dataclass
class SnapshotDiff:
    added: list[GrantRow] = field(default_factory=list)
    removed: list[tuple] = field(default_factory=list)  # (pk, account, entitlement)
    changed: list[tuple[GrantRow, dict]] = field(default_factory=list)  # row, field → [before, after]
    unchanged: int = 0
    touched: list[tuple[int, GrantRow]] = field(default_factory=list)  # (pk, row) whose last login moved

    def counts(self) -> dict:
        return {
            "added": len(self.added),
            "removed": len(self.removed),
            "changed": len(self.changed),
            "unchanged": self.unchanged,
        }


def _actor_label() -> str:
    ctx = current_context()
    if ctx.api_key is not None:
        return f"api-key:{ctx.api_key.name}"
    if ctx.user is not None and getattr(ctx.user, "is_authenticated", False):
        return ctx.user.get_username()
    return "system"


def _identity_map() -> dict[str, int]:
    return dict(Identity.objects.values_list("email", "pk"))


def _match(row: GrantRow, identities: dict[str, int]) -> int | None:
    email = row.email or (row.account.lower() if "@" in row.account else "")
    return identities.get(email)


def snapshot_diff(*, system: System, rows: list[GrantRow]) -> SnapshotDiff:
    """What importing `rows` would change, without writing anything."""
    identities = _identity_map()
    existing = {
        (account, entitlement): (pk, identity_id, privileged, email, last_login_at)
        for pk, account, entitlement, identity_id, privileged, email, last_login_at in AccessGrant.objects.filter(
            system=system
        ).values_list("pk", "account", "entitlement", "identity_id", "privileged", "email", "last_login_at")
    }
    result = SnapshotDiff()
    seen = set()
    for row in rows:
        seen.add(row.key)
        privileged = row.privileged or system.privileged
        identity_id = _match(row, identities)
        before = existing.get(row.key)
        if before is None:
            result.added.append(row)
            continue
        pk, old_identity, old_privileged, old_email, old_login = before
        changes = {}
        if old_privileged != privileged:
            changes["privileged"] = [old_privileged, privileged]
        if old_identity != identity_id:
            changes["identity"] = [old_identity, identity_id]
        if (old_email or "") != row.email:
            changes["email"] = [old_email, row.email]
        if changes:
            result.changed.append((row, changes))
        else:
            result.unchanged += 1
        if changes or old_login != row.last_login_at:
            result.touched.append((pk, row))
    result.removed = [(v[0], *k) for k, v in existing.items() if k not in seen]
    return result


def snapshot_preview(*, system: System, rows: list[GrantRow]) -> dict:
    """The dry run the admin shows before anything is written."""
    diff = snapshot_diff(system=system, rows=rows)
    return {
        "system": system,
        **diff.counts(),
        "added_rows": [(r.account, r.entitlement, r.email, r.privileged or system.privileged) for r in diff.added][
            :PREVIEW_LIMIT
        ],
        "removed_rows": [(account, entitlement) for _, account, entitlement in diff.removed][:PREVIEW_LIMIT],
        "changed_rows": [(r.account, r.entitlement, changes) for r, changes in diff.changed][:PREVIEW_LIMIT],
    }


def canonical_sha256(rows: list[GrantRow]) -> str:
    lines = sorted(
        json.dumps(
            [r.account, r.entitlement, r.email, r.privileged, r.last_login_at.isoformat() if r.last_login_at else None]
        )
        for r in rows
    )
    return sha256_of("\n".join(lines).encode())


def snapshot_import(
    *,
    system: System,
    rows: list[GrantRow],
    source: str,
    sha256: str = "",
    now: datetime | None = None,
) -> SnapshotImport:
    """Replace the system's grants with `rows`; verify remediations; raise orphaned grants. One transaction."""
    now = now or timezone.now()
    identities = _identity_map()
    with transaction.atomic():
        system = System.objects.select_for_update().get(pk=system.pk)
        diff = snapshot_diff(system=system, rows=rows)
        AccessGrant.objects.filter(pk__in=[pk for pk, *_ in diff.removed]).delete()
        AccessGrant.objects.bulk_create(
            [
                AccessGrant(
                    system=system,
                    account=r.account,
                    email=r.email,
                    identity_id=_match(r, identities),
                    entitlement=r.entitlement,
                    privileged=r.privileged or system.privileged,
                    last_login_at=r.last_login_at,
                    first_seen_at=now,
                    last_seen_at=now,
                    created_at=now,
                )
                for r in diff.added
            ],
            batch_size=BULK_BATCH,
        )
        touched = []
        for pk, r in diff.touched:
            touched.append(
                AccessGrant(
                    pk=pk,
                    email=r.email,
                    identity_id=_match(r, identities),
                    privileged=r.privileged or system.privileged,
                    last_login_at=r.last_login_at,
                )
            )
        AccessGrant.objects.bulk_update(
            touched, ["email", "identity_id", "privileged", "last_login_at"], batch_size=BULK_BATCH
        )
        AccessGrant.objects.filter(system=system).update(last_seen_at=now, updated_at=now)
        record = SnapshotImport.objects.create(
            kind=ImportKind.GRANTS,
            system=system,
            source=source,
            imported_at=now,
            imported_by=_actor_label(),
            sha256=sha256 or canonical_sha256(rows),
            rows=len(rows),
            **diff.counts(),
        )
        record.remediations_verified = _verify_remediations(system=system, keys={r.key for r in rows}, record=record)
        if record.remediations_verified:
            record.save(update_fields=["remediations_verified"])
        System.objects.filter(pk=system.pk).update(last_pulled_at=now)
        audit_record(
            action="access_snapshot_import",
            obj=record,
            changes={
                "system": [None, system.slug],
                "sha256": [None, record.sha256],
                **{k: [None, v] for k, v in diff.counts().items()},
                "remediations_verified": [None, record.remediations_verified],
            },
        )
        orphans_raise(system=system, now=now)
    return record


def _verify_remediations(*, system: System, keys: set[tuple[str, str]], record: SnapshotImport) -> int:
    """Verified only when this snapshot no longer shows the grant (or shows the modified entitlement)."""
    verified = 0
    pending = Remediation.objects.select_for_update().filter(
        system=system, status__in=[RemediationStatus.OPEN, RemediationStatus.DONE]
    )
    for remediation in pending:
        gone = (remediation.account, remediation.entitlement) not in keys
        target = remediation.target_entitlement
        if not gone or (target and (remediation.account, target) not in keys):
            continue
        remediation.status = RemediationStatus.VERIFIED
        remediation.verified_at = record.imported_at
        remediation.verified_by_import = record
        remediation.save(update_fields=["status", "verified_at", "verified_by_import", "updated_at"])
        audit_record(
            action="remediation_verify",
            obj=remediation,
            changes={"status": [None, RemediationStatus.VERIFIED], "snapshot": [None, record.pk]},
        )
        verified += 1
    return verified


def snapshot_import_failed(*, system: System, source: str, error: str, now: datetime | None = None) -> SnapshotImport:
    """A pull that failed: recorded with its reason and notified; the system's grants stay as they were."""
    now = now or timezone.now()
    with transaction.atomic():
        record = SnapshotImport.objects.create(
            kind=ImportKind.GRANTS,
            system=system,
            source=source,
            status=ImportStatus.FAILED,
            imported_at=now,
            imported_by=_actor_label(),
            error=error[:4000],
        )
        audit_record(action="access_snapshot_failed", obj=record, changes={"error": [None, error[:500]]})
        # No event type of its own in CONTRACTS.md: a system whose pull fails goes stale, like a job.
        notifications.send(
            "job.stale",
            subject=f"Access pull failed for {system.slug}: {error[:200]}",
            key=f"access_pull_failed:{system.pk}:{now:%Y-%m-%d}",
            obj=system,
            body=error,
            recipients=[system.owner],
            data={"system": system.slug, "error": error[:1000]},
        )
    return record


def orphans_raise(*, system: System | None = None, now: datetime | None = None) -> int:
    """`access.orphaned_grant` for each grant of a terminated identity, once per grant and day."""
    now = now or timezone.now()
    grants = AccessGrant.objects.filter(identity__employment_status=EmploymentStatus.TERMINATED).select_related(
        "system", "system__owner", "identity"
    )
    if system is not None:
        grants = grants.filter(system=system)
    raised = 0
    today = timezone.localdate(now)
    for grant in grants:
        key = f"{grant.system_id}|{grant.account}|{grant.entitlement}"
        alert, created = OrphanedGrantAlert.objects.get_or_create(
            grant_key=key,
            seen_on=today,
            defaults={
                "system": grant.system,
                "identity": grant.identity,
                "account": grant.account,
                "entitlement": grant.entitlement,
                "raised_at": now,
            },
        )
        if not created:
            continue
        raised += 1
        audit_record(action="orphaned_grant", obj=alert, changes={"account": [None, grant.account]})
        notifications.send(
            "access.orphaned_grant",
            subject=f"{grant.identity} is terminated but still holds {grant.entitlement} on {grant.system.slug}",
            key=f"access_orphan:{alert.pk}",
            obj=grant.system,
            recipients=[grant.system.owner],
            data={
                "system": grant.system.slug,
                "account": grant.account,
                "entitlement": grant.entitlement,
                "identity": grant.identity.email,
            },
        )
    return raised


def identities_import(*, rows: list[IdentityRow], source: str, sha256: str = "", now=None) -> SnapshotImport:
    """Upsert identities by email, then managers, then link users by email. Raises orphans for leavers."""
    now = now or timezone.now()
    User = get_user_model()
    with transaction.atomic():
        existing = {i.email: i for i in Identity.objects.select_for_update()}
        emails_in_file = {r.email for r in rows}
        for r in rows:
            if r.manager_email and r.manager_email not in emails_in_file and r.manager_email not in existing:
                raise ValidationFailed(
                    f"Row {r.row}, column manager_email: no identity {r.manager_email!r}. Nothing was changed.",
                    fields={f"row {r.row}, column manager_email": ["Unknown identity."]},
                )
        added = changed = unchanged = 0
        for r in rows:
            identity = existing.get(r.email)
            values = {"name": r.name, "department": r.department, "employment_status": r.employment_status}
            if identity is None:
                existing[r.email] = Identity.objects.create(email=r.email, **values)
                added += 1
            elif any(getattr(identity, k) != v for k, v in values.items()):
                for k, v in values.items():
                    setattr(identity, k, v)
                identity.save()
                changed += 1
            else:
                unchanged += 1
        for r in rows:
            identity = existing[r.email]
            manager_id = existing[r.manager_email].pk if r.manager_email else None
            if identity.manager_id != manager_id:
                identity.manager_id = manager_id
                identity.save(update_fields=["manager", "updated_at"])
        users = {
            email.lower(): pk
            for pk, email in User.objects.exclude(email="").filter(identity__isnull=True).values_list("pk", "email")
        }
        for identity in Identity.objects.filter(user__isnull=True, email__in=list(users)):
            identity.user_id = users[identity.email]
            identity.save(update_fields=["user", "updated_at"])
        # Grants whose email now matches an identity are matched.
        for identity in Identity.objects.filter(email__in=emails_in_file):
            AccessGrant.objects.filter(identity__isnull=True).filter(
                Q(email=identity.email) | Q(email="", account=identity.email)
            ).update(identity=identity)
        record = SnapshotImport.objects.create(
            kind=ImportKind.IDENTITIES,
            source=source,
            imported_at=now,
            imported_by=_actor_label(),
            sha256=sha256,
            rows=len(rows),
            added=added,
            changed=changed,
            unchanged=unchanged,
        )
        audit_record(
            action="identities_import",
            obj=record,
            changes={"added": [None, added], "changed": [None, changed], "sha256": [None, sha256]},
        )
        orphans_raise(now=now)
    return record


def system_pull(*, system: System, now: datetime | None = None) -> SnapshotImport:
    """Run the system's connector; a failure is recorded and notified and never empties the grants."""
    from ..connectors import ConnectorError, connector_for

    try:
        rows = connector_for(system)(system)
    except ConnectorError as exc:
        return snapshot_import_failed(system=system, source=ImportSource.CONNECTOR, error=str(exc), now=now)
    except Exception as exc:  # a driver error of any kind is a failed pull, recorded with its reason
        logger.warning("access pull for %s failed", system.slug, exc_info=True)
        return snapshot_import_failed(
            system=system, source=ImportSource.CONNECTOR, error=f"{type(exc).__name__}: {exc}", now=now
        )
    return snapshot_import(system=system, rows=rows, source=ImportSource.CONNECTOR, now=now)


def split_by_system(rows: list[GrantRow], *, system: System | None, what: str = "CSV file") -> dict:
    """Rows grouped by their system; a `system` column naming an unknown (or another) system is an error."""
    from ..parsing import RowErrors

    errors = RowErrors(what)
    slugs = {r.system for r in rows if r.system}
    known = {s.slug: s for s in System.objects.filter(slug__in=slugs)}
    groups: dict[System, list[GrantRow]] = {}
    if system is not None:
        groups[system] = []
    for r in rows:
        if r.system and r.system not in known:
            errors.add(r.row, "system", f"Unknown system {r.system!r}.")
            continue
        target = known.get(r.system) if r.system else system
        if target is None:
            errors.add(r.row, "system", "Required when no system is chosen for the upload.")
            continue
        if system is not None and target.pk != system.pk:
            errors.add(r.row, "system", f"{r.system!r} is not the system this upload is for ({system.slug}).")
            continue
        groups.setdefault(target, []).append(r)
    errors.raise_if_any()
    return groups


def snapshot_import_csv(*, data: bytes, system: System | None, source: str, dry_run: bool = False) -> list:
    """Parse and validate the whole file first; then previews (dry run) or one import per system, atomically."""
    from ..parsing import grants_from_csv

    rows = grants_from_csv(data)
    groups = split_by_system(rows, system=system)
    if dry_run:
        return [snapshot_preview(system=s, rows=r) for s, r in groups.items()]
    digest = sha256_of(data)
    with transaction.atomic():
        return [snapshot_import(system=s, rows=r, source=source, sha256=digest) for s, r in groups.items()]


def pending_uploads_purge(*, now: datetime | None = None, older_than_hours: int = 24) -> int:
    """CSV previews never confirmed nor discarded are dropped after a day (nothing was ever imported from them)."""
    from datetime import timedelta

    from ..models import PendingUpload

    now = now or timezone.now()
    with transaction.atomic():
        stale = PendingUpload.objects.filter(uploaded_at__lt=now - timedelta(hours=older_than_hours))
        ids = list(stale.values_list("pk", flat=True))
        if ids:
            PendingUpload.objects.filter(pk__in=ids).delete()
            audit_record(
                action="access_upload_purge",
                object_type="access_reviews.pendingupload",
                object_repr=f"{len(ids)} unconfirmed upload(s)",
                changes={"objects": [ids, None]},
            )
    return len(ids)
