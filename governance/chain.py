"""The tamper-evident audit chain: sealing, signed checkpoints and verification.

Canonical bytes of a link (what an outside verifier recomputes)::

    json.dumps({
        "seq": <int>, "prev": "<64 hex>", "id": <event id>, "occurred_at": "<UTC ISO 8601, microseconds, +00:00>",
        "actor_user_id": <int|null>, "actor_api_key_id": <int|null>, "actor_label": "...", "action": "...",
        "object_type": "...", "object_id": "...", "object_repr": "...", "changes": {...},
        "request_id": "...", "ip_address": "<str|null>",
    }, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")

    hash = sha256(canonical bytes), hex; the first link's prev is 64 zeros.

A checkpoint signs, with Ed25519, the canonical JSON of {"seq", "hash", "signed_at", "key_id"}.

Writers never wait for the sealer: they only insert events. The sealer (a scheduled job) appends seals
for committed, unsealed events in id order under a lock only sealers take; an event that commits late
(a long transaction) is sealed on the next run, later in the chain.
"""

import base64
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from .models import AuditCheckpoint, AuditEvent, AuditSeal, AuditSigningKey

GENESIS = "0" * 64
SEAL_BATCH = 5000
# Late commits are looked for among this many ids below the newest sealed one.
LATE_COMMIT_LOOKBACK = 10_000
# An unsealed event below the chain's head and older than this is not a late commit: it was slipped in.
UNSEALED_GRACE = timedelta(minutes=10)
_SEALER_LOCK = 0x5649474C  # "VIGL": the advisory lock only sealers take


# --- canonical form ------------------------------------------------------------------------------


def _utc(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def canonical_event(event: dict | AuditEvent, *, seq: int, prev: str) -> bytes:
    """The exact bytes a link's hash covers (see the module docstring)."""
    get = event.get if isinstance(event, dict) else lambda name: getattr(event, name)
    occurred_at = get("occurred_at")
    document = {
        "seq": seq,
        "prev": prev,
        "id": get("id"),
        "occurred_at": occurred_at if isinstance(occurred_at, str) else _utc(occurred_at),
        "actor_user_id": get("actor_user_id"),
        "actor_api_key_id": get("actor_api_key_id"),
        "actor_label": get("actor_label"),
        "action": get("action"),
        "object_type": get("object_type"),
        "object_id": get("object_id"),
        "object_repr": get("object_repr"),
        "changes": get("changes"),
        "request_id": get("request_id"),
        "ip_address": get("ip_address"),
    }
    return canonical_json(document)


def canonical_json(document: dict) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def link_hash(event, *, seq: int, prev: str) -> str:
    return hashlib.sha256(canonical_event(event, seq=seq, prev=prev)).hexdigest()


# --- keys ----------------------------------------------------------------------------------------


def signing_key() -> Ed25519PrivateKey:
    """The Ed25519 key from AUDIT_SIGNING_KEY (a raw 32-byte seed, base64)."""
    return Ed25519PrivateKey.from_private_bytes(base64.b64decode(settings.AUDIT_SIGNING_KEY))


def public_key_pem(key: Ed25519PrivateKey | None = None) -> str:
    public = (key or signing_key()).public_key()
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def key_id_of(public_pem: str) -> str:
    """The first 16 hex digits of the SHA-256 of the DER public key."""
    public = serialization.load_pem_public_key(public_pem.encode())
    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()[:16]


def current_signing_key() -> tuple[Ed25519PrivateKey, AuditSigningKey]:
    key = signing_key()
    pem = public_key_pem(key)
    row, _ = AuditSigningKey.objects.get_or_create(key_id=key_id_of(pem), defaults={"public_key_pem": pem})
    return key, row


def sign(document: dict, key: Ed25519PrivateKey | None = None) -> bytes:
    return (key or signing_key()).sign(canonical_json(document))


def checkpoint_statement(*, seq: int, hash: str, signed_at: datetime, key_id: str) -> dict:
    return {"seq": seq, "hash": hash, "signed_at": _utc(signed_at), "key_id": key_id}


# --- sealing -------------------------------------------------------------------------------------


def _take_sealer_lock() -> bool:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [_SEALER_LOCK])
            return bool(cursor.fetchone()[0])
    return True  # SQLite: the IMMEDIATE transaction already admits one writer at a time


def chain_head() -> AuditSeal | None:
    return AuditSeal.objects.order_by("-seq").first()


def audit_seal(*, batch: int = SEAL_BATCH) -> int:
    """Seal committed, unsealed events in id order. Returns how many were sealed (0 if another sealer runs)."""
    with transaction.atomic():
        if not _take_sealer_lock():
            return 0
        head = chain_head()
        seq, prev = (head.seq, head.hash) if head else (0, GENESIS)
        newest_sealed = AuditSeal.objects.aggregate(m=Max("event_id"))["m"] or 0
        candidates = list(
            AuditEvent.objects.filter(id__gt=max(newest_sealed - LATE_COMMIT_LOOKBACK, 0), seal__isnull=True)
            .order_by("id")
            .values(*EVENT_FIELDS)[:batch]
        )
        seals = []
        for event in candidates:
            seq += 1
            digest = link_hash(event, seq=seq, prev=prev)
            seals.append(AuditSeal(seq=seq, event_id=event["id"], prev_hash=prev, hash=digest))
            prev = digest
        AuditSeal.objects.bulk_create(seals, batch_size=1000)
        return len(seals)


def audit_seal_all() -> int:
    total = 0
    while sealed := audit_seal():
        total += sealed
    return total


def audit_checkpoint(*, now: datetime | None = None) -> AuditCheckpoint | None:
    """Sign the chain's head (None when the chain is empty or the head is already signed)."""
    head = chain_head()
    if head is None:
        return None
    latest = AuditCheckpoint.objects.order_by("-seq").first()
    if latest is not None and latest.seq == head.seq:
        return None
    key, key_row = current_signing_key()
    signed_at = now or timezone.now()
    statement = checkpoint_statement(seq=head.seq, hash=head.hash, signed_at=signed_at, key_id=key_row.key_id)
    return AuditCheckpoint.objects.create(
        seq=head.seq, hash=head.hash, signed_at=signed_at, key=key_row, signature=sign(statement, key).hex()
    )


# --- verification --------------------------------------------------------------------------------

EVENT_FIELDS = (
    "id",
    "occurred_at",
    "actor_user_id",
    "actor_api_key_id",
    "actor_label",
    "action",
    "object_type",
    "object_id",
    "object_repr",
    "changes",
    "request_id",
    "ip_address",
)
VERIFY_CHUNK = 5000


@dataclass
class ChainReport:
    links: int = 0
    checkpoints: int = 0
    unsealed: int = 0
    faults: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.faults

    def fail(self, message: str) -> None:
        self.faults.append(message)


def verify_signature(public_pem: str, document: dict, signature_hex: str) -> bool:
    public = serialization.load_pem_public_key(public_pem.encode())
    assert isinstance(public, Ed25519PublicKey)
    try:
        public.verify(bytes.fromhex(signature_hex), canonical_json(document))
    except Exception:
        return False
    return True


def audit_verify(*, progress=None, stop_at_first: bool = True, now: datetime | None = None) -> ChainReport:
    """Walk the whole chain, every checkpoint and the unsealed events; report every fault found."""
    report = ChainReport()
    expected_seq, prev = 1, GENESIS
    last_seq = 0
    for seals in _seal_chunks():
        # Seal order follows id order but for late commits: one index range per chunk, not a long IN list.
        ids = [s[1] for s in seals]
        in_range = AuditEvent.objects.filter(id__gte=min(ids), id__lte=max(ids))
        if max(ids) - min(ids) > 4 * len(ids):  # a late commit far behind: fetch exactly these
            in_range = AuditEvent.objects.filter(id__in=ids)
        events = {e["id"]: e for e in in_range.values(*EVENT_FIELDS)}
        for seq, event_id, prev_hash, digest in seals:
            if seq != expected_seq:
                report.fail(f"links {expected_seq}–{seq - 1} are missing before event #{event_id} (seq {seq})")
            elif prev_hash != prev:
                report.fail(f"event #{event_id} (seq {seq}) does not link to the previous hash")
            event = events.get(event_id)
            if event is None:
                report.fail(f"event #{event_id} (seq {seq}) was deleted")
            elif link_hash(event, seq=seq, prev=prev_hash) != digest:
                report.fail(f"event #{event_id} (seq {seq}) was modified: its hash does not match the seal")
            if report.faults and stop_at_first:
                return report
            expected_seq, prev, last_seq = seq + 1, digest, seq
            report.links += 1
        if progress:
            progress(report.links)
    _verify_checkpoints(report, last_seq)
    if report.faults and stop_at_first:
        return report
    _verify_unsealed(report, now=now or timezone.now())
    return report


def _seal_chunks() -> Iterator[list[tuple]]:
    after = 0
    while True:
        chunk = list(
            AuditSeal.objects.filter(seq__gt=after)
            .order_by("seq")
            .values_list("seq", "event_id", "prev_hash", "hash")[:VERIFY_CHUNK]
        )
        if not chunk:
            return
        yield chunk
        after = chunk[-1][0]


def _verify_checkpoints(report: ChainReport, last_seq: int) -> None:
    hashes = {}
    checkpoints = list(AuditCheckpoint.objects.select_related("key").order_by("seq", "id"))
    wanted = {c.seq for c in checkpoints}
    if wanted:
        hashes = dict(AuditSeal.objects.filter(seq__in=wanted).values_list("seq", "hash"))
    for checkpoint in checkpoints:
        statement = checkpoint_statement(
            seq=checkpoint.seq, hash=checkpoint.hash, signed_at=checkpoint.signed_at, key_id=checkpoint.key_id
        )
        if not verify_signature(checkpoint.key.public_key_pem, statement, checkpoint.signature):
            report.fail(f"checkpoint at seq {checkpoint.seq} has a bad signature")
        elif checkpoint.seq > last_seq:
            report.fail(f"checkpoint at seq {checkpoint.seq} but the chain ends at seq {last_seq}: events were removed")
        elif hashes.get(checkpoint.seq) != checkpoint.hash:
            report.fail(f"the chain's hash at seq {checkpoint.seq} differs from its signed checkpoint")
        report.checkpoints += 1


def _verify_unsealed(report: ChainReport, *, now: datetime) -> None:
    newest_sealed = AuditSeal.objects.aggregate(m=Max("event_id"))["m"] or 0
    slipped = (
        AuditEvent.objects.filter(id__lt=newest_sealed, seal__isnull=True, occurred_at__lt=now - UNSEALED_GRACE)
        .order_by("id")
        .values_list("id", flat=True)
        .first()
    )
    if slipped is not None:
        report.fail(f"event #{slipped} is inside the sealed range but not in the chain (inserted)")
    report.unsealed = AuditEvent.objects.filter(id__gt=newest_sealed).count()


@dataclass(frozen=True)
class ChainStatus:
    ok: bool
    detail: str
    head_seq: int
    last_verified_at: datetime | None


def chain_status() -> ChainStatus:
    """What health, ops_status and the dashboard say: the last scheduled verification's outcome."""
    from .selectors import job_freshness

    head = chain_head()
    head_seq = head.seq if head else 0
    fresh = job_freshness(job_name=VERIFY_JOB) or {}
    last_ok, last_failed = fresh.get("last_success_at"), fresh.get("last_failure_at")
    if last_failed and (last_ok is None or last_failed > last_ok):
        return ChainStatus(False, "the last verification found the chain broken (see audit_verify)", head_seq, last_ok)
    if last_ok is None:
        return ChainStatus(True, f"not verified yet; {head_seq} event(s) sealed", head_seq, None)
    return ChainStatus(
        True, f"{head_seq} event(s) sealed; verified {timezone.localtime(last_ok):%Y-%m-%d %H:%M}", head_seq, last_ok
    )


VERIFY_JOB = "governance.audit_verify"
