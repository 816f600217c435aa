"""Kernel writes: API keys, teams and services."""

import hashlib
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from .audit import audit_record, audit_update, diff, snapshot
from .choices import Scope
from .errors import ValidationFailed
from .models import ApiKey, Service, Team

API_KEY_PREFIX = "vgl"
# Verified keys are remembered per process this long: the key lookup is the API's hottest
# query. A revocation is seen at once by the revoking process, by the others within this.
API_KEY_CACHE_SECONDS = 5.0
_verified_keys: dict[str, tuple[ApiKey, float]] = {}
# last_used_at is written at most this often per key, to keep hot keys off the write path.
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class IssuedApiKey:
    api_key: ApiKey
    raw_key: str  # shown once, never stored


def _hash(secret: str) -> str:
    # Keys carry 256 bits of randomness, so a fast unsalted hash is safe and keeps lookups cheap.
    return hashlib.sha256(secret.encode()).hexdigest()


def _validate_scopes(scopes: list[str]) -> list[str]:
    unknown = sorted(set(scopes) - set(Scope.values))
    if unknown:
        raise ValidationFailed(
            f"Unknown scope(s): {', '.join(unknown)}.",
            fields={"scopes": [f"Choose from: {', '.join(Scope.values)}."]},
        )
    if not scopes:
        raise ValidationFailed("An API key needs at least one scope.", fields={"scopes": ["Required."]})
    return sorted(set(scopes))


@transaction.atomic
def api_key_create(*, name: str, scopes: list[str], expires_days: int | None = None, created_by=None) -> IssuedApiKey:
    if not name.strip():
        raise ValidationFailed("An API key needs a name.", fields={"name": ["Required."]})
    if expires_days is not None and expires_days <= 0:
        raise ValidationFailed("Expiry must be a positive number of days.", fields={"expires_days": ["Must be > 0."]})
    prefix = secrets.token_hex(4)
    secret = secrets.token_urlsafe(32)
    api_key = ApiKey.objects.create(
        name=name.strip(),
        prefix=prefix,
        hashed_secret=_hash(secret),
        scopes=_validate_scopes(scopes),
        created_by=created_by,
        expires_at=timezone.now() + timedelta(days=expires_days) if expires_days else None,
    )
    audit_record(action="create", obj=api_key, changes={"scopes": [None, api_key.scopes], "name": [None, name]})
    return IssuedApiKey(api_key=api_key, raw_key=f"{API_KEY_PREFIX}_{prefix}_{secret}")


@transaction.atomic
def api_key_revoke(*, api_key: ApiKey) -> ApiKey:
    api_key = ApiKey.objects.select_for_update().get(pk=api_key.pk)
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at", "updated_at"])
        _forget_verified_key(api_key.prefix)
        transaction.on_commit(lambda: _forget_verified_key(api_key.prefix))
        audit_record(action="revoke", obj=api_key, changes={"revoked_at": [None, api_key.revoked_at]})
    return api_key


def _forget_verified_key(prefix: str) -> None:
    _verified_keys.pop(prefix, None)


def _lookup(prefix: str) -> ApiKey | None:
    cached = _verified_keys.get(prefix)
    if cached is not None and time.monotonic() - cached[1] < API_KEY_CACHE_SECONDS:
        return cached[0]
    try:
        api_key = ApiKey.objects.get(prefix=prefix)
    except ApiKey.DoesNotExist:
        return None
    _verified_keys[prefix] = (api_key, time.monotonic())
    return api_key


def api_key_authenticate(*, raw_key: str, ip_address: str | None = None) -> ApiKey | None:
    """The active key for `raw_key`, or None. Marks it used (at most once a minute)."""
    parts = raw_key.split("_", 2)
    if len(parts) != 3 or parts[0] != API_KEY_PREFIX:
        return None
    _, prefix, secret = parts
    api_key = _lookup(prefix)
    if api_key is None:
        return None
    if not secrets.compare_digest(api_key.hashed_secret, _hash(secret)):
        return None
    now = timezone.now()
    if not api_key.is_active(now=now):
        return None
    if api_key.last_used_at is None or now - api_key.last_used_at > LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now, last_used_ip=ip_address)
        api_key.last_used_at, api_key.last_used_ip = now, ip_address
    return api_key


@transaction.atomic
def team_create(*, name: str, slug: str, manager=None, members=(), description: str = "") -> Team:
    team = Team.objects.create(name=name, slug=slug, manager=manager, description=description)
    if members:
        team.members.set(members)
    audit_record(action="create", obj=team, changes=diff({}, snapshot(team)))
    return team


@transaction.atomic
def service_create(
    *, slug: str, name: str, tier: int = 2, owner_team: Team | None = None, description: str = "", links=None
) -> Service:
    service = Service(
        slug=slug, name=name, tier=tier, owner_team=owner_team, description=description, links=links or []
    )
    service.full_clean()
    service.save()
    audit_record(action="create", obj=service, changes=diff({}, snapshot(service)))
    return service


SERVICE_EDITABLE = ("slug", "name", "tier", "owner_team", "description", "links")


@transaction.atomic
def service_update(*, service: Service, **fields) -> Service:
    audit_update(service, action="update", editable=SERVICE_EDITABLE, fields=fields, clean_exclude=[])
    return service
