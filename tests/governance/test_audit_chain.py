"""The audit hash chain: sealing, signed checkpoints, tamper detection, writers that never wait."""

import datetime as dt
import hashlib
import threading
import time

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection, connections, transaction
from django.utils import timezone

from governance import chain
from governance.audit import audit_maintenance, audit_record
from governance.models import AuditCheckpoint, AuditEvent, AuditSeal

pytestmark = pytest.mark.django_db


def _events(n: int, start: int = 0) -> list[AuditEvent]:
    return [
        audit_record(action="update", object_type="incidents.incident", object_id=str(i), object_repr=f"INC-{i}")
        for i in range(start, start + n)
    ]


def _verify_command(capsys) -> tuple[int, str]:
    try:
        call_command("audit_verify")
        code = 0
    except SystemExit as exit_:
        code = exit_.code
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def _raw(sql: str, params=()) -> None:
    """A tamperer with direct database access: the append-only triggers are out of the way."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET session_replication_role = replica")  # no triggers fire (superuser only)
            try:
                cursor.execute(sql, params)
            finally:
                cursor.execute("RESET session_replication_role")
        return
    with audit_maintenance(), connection.cursor() as cursor:
        cursor.execute(sql, params)


@pytest.fixture
def sealed():
    """Ten events sealed and signed."""
    events = _events(10)
    assert chain.audit_seal_all() == 10
    assert chain.audit_checkpoint() is not None
    return events


def test_links_follow_the_documented_canonical_bytes(sealed):
    first, second = AuditSeal.objects.order_by("seq")[:2]
    event = AuditEvent.objects.get(pk=first.event_id)
    expected = hashlib.sha256(
        chain.canonical_json(
            {
                "seq": 1,
                "prev": "0" * 64,
                "id": event.pk,
                "occurred_at": event.occurred_at.astimezone(dt.UTC).isoformat(timespec="microseconds"),
                "actor_user_id": None,
                "actor_api_key_id": None,
                "actor_label": "system",
                "action": "update",
                "object_type": "incidents.incident",
                "object_id": "0",
                "object_repr": "INC-0",
                "changes": {},
                "request_id": "",
                "ip_address": None,
            }
        )
    ).hexdigest()
    assert first.hash == expected
    assert second.prev_hash == first.hash


def test_an_untouched_chain_verifies(sealed, capsys):
    code, out = _verify_command(capsys)
    assert code == 0, out
    assert "audit chain intact: 10 link(s), 1 checkpoint(s) checked" in out


def test_sealing_twice_seals_each_event_once(sealed):
    _events(3, start=10)
    assert chain.audit_seal_all() == 3
    assert chain.audit_seal_all() == 0
    assert AuditSeal.objects.count() == AuditEvent.objects.count() == 13


def test_a_changed_field_is_named(sealed, capsys):
    victim = sealed[4]
    _raw("UPDATE governance_auditevent SET object_repr = %s WHERE id = %s", ["INC-forged", victim.pk])
    code, out = _verify_command(capsys)
    assert code == 1
    assert f"event #{victim.pk} (seq 5) was modified" in out


def test_a_deleted_middle_event_is_named(sealed, capsys):
    victim = sealed[3]
    _raw("DELETE FROM governance_auditevent WHERE id = %s", [victim.pk])
    code, out = _verify_command(capsys)
    assert code == 1
    assert f"event #{victim.pk} (seq 4) was deleted" in out


def test_a_deleted_event_with_its_seal_breaks_the_links(sealed, capsys):
    victim = sealed[3]
    _raw("DELETE FROM governance_auditseal WHERE event_id = %s", [victim.pk])
    _raw("DELETE FROM governance_auditevent WHERE id = %s", [victim.pk])
    code, out = _verify_command(capsys)
    assert code == 1
    assert "links 4–4 are missing" in out


def test_newest_events_deleted_after_a_checkpoint_are_noticed(sealed, capsys):
    for victim in sealed[-3:]:
        _raw("DELETE FROM governance_auditseal WHERE event_id = %s", [victim.pk])
        _raw("DELETE FROM governance_auditevent WHERE id = %s", [victim.pk])
    code, out = _verify_command(capsys)
    assert code == 1
    assert "checkpoint at seq 10 but the chain ends at seq 7: events were removed" in out


def test_a_forged_event_inserted_in_the_sealed_range_is_named(capsys):
    before = _events(3)
    gap = audit_record(action="rolled back", object_type="x", object_id="1")
    _raw("DELETE FROM governance_auditevent WHERE id = %s", [gap.pk])  # an id that never committed
    _events(3, start=3)
    chain.audit_seal_all()
    _raw(
        "INSERT INTO governance_auditevent (id, occurred_at, actor_label, action, object_type, object_id, "
        "object_repr, changes, request_id) VALUES (%s, %s, 'mallory', 'access.grant', 'auth.user', '1', 'root', "
        "'{}', '')",
        [gap.pk, before[0].occurred_at],
    )
    with time_machine.travel(timezone.now() + chain.UNSEALED_GRACE + dt.timedelta(minutes=1)):
        code, out = _verify_command(capsys)
    assert code == 1
    assert f"event #{gap.pk} is inside the sealed range but not in the chain (inserted)" in out


def test_two_events_swapped_are_noticed(sealed, capsys):
    a, b = sealed[2], sealed[6]
    _raw("UPDATE governance_auditevent SET object_id = %s, object_repr = %s WHERE id = %s", ["6", "INC-6", a.pk])
    _raw("UPDATE governance_auditevent SET object_id = %s, object_repr = %s WHERE id = %s", ["2", "INC-2", b.pk])
    code, out = _verify_command(capsys)
    assert code == 1
    assert f"event #{a.pk} (seq 3) was modified" in out


def test_a_checkpoint_with_a_forged_signature_is_refused(sealed, capsys):
    checkpoint = AuditCheckpoint.objects.get()
    forged = ("00" if checkpoint.signature[:2] != "00" else "11") + checkpoint.signature[2:]
    _raw("UPDATE governance_auditcheckpoint SET signature = %s WHERE id = %s", [forged, checkpoint.pk])
    code, out = _verify_command(capsys)
    assert code == 1
    assert "checkpoint at seq 10 has a bad signature" in out


def test_old_checkpoints_verify_after_the_key_is_rotated(sealed, settings, capsys):
    import base64
    import secrets

    old_key = AuditCheckpoint.objects.get().key_id
    settings.AUDIT_SIGNING_KEY = base64.b64encode(secrets.token_bytes(32)).decode()
    _events(2, start=10)
    chain.audit_seal_all()
    new = chain.audit_checkpoint()
    assert new.key_id != old_key
    code, out = _verify_command(capsys)
    assert code == 0, out
    assert "2 checkpoint(s) checked" in out


def test_the_public_key_is_served_and_printed(client, capsys):
    response = client.get("/.well-known/vigil-audit-key.pem")
    assert response.status_code == 200
    pem = response.content.decode()
    assert pem.startswith("-----BEGIN PUBLIC KEY-----")
    call_command("audit_public_key")
    assert capsys.readouterr().out == pem


def test_the_scheduled_verification_raises_chain_broken(sealed, monkeypatch):
    from governance import tasks
    from governance.registries import notifiers

    raised = []
    monkeypatch.setattr(notifiers, "_items", {"test": lambda **kw: raised.append(kw)})
    assert "verified" in tasks.audit_verify()
    _raw("UPDATE governance_auditevent SET action = 'forged' WHERE id = %s", [sealed[0].pk])
    with pytest.raises(tasks.ChainBroken):
        tasks.audit_verify()
    assert raised[0]["event_type"] == "audit.chain_broken"
    assert f"event #{sealed[0].pk}" in raised[0]["subject"]
    assert not chain.chain_status().ok


def test_health_and_ops_status_report_the_chain(sealed, capsys):
    from governance import tasks
    from governance.health import check_audit_chain

    assert check_audit_chain().status == "warning"  # not verified yet: never "ok" from an absence
    tasks.audit_verify()
    result = check_audit_chain()
    assert result.status == "ok"
    assert result.detail.startswith("10 event(s) sealed; verified")


def test_a_chain_of_100_000_events_verifies():
    now = timezone.now()
    AuditEvent.objects.bulk_create(
        (
            AuditEvent(
                occurred_at=now - dt.timedelta(seconds=100_000 - n),
                actor_label="system",
                action="update",
                object_type="incidents.incident",
                object_id=str(n),
                object_repr=f"INC-{n}",
                changes={"status": ["declared", "acknowledged"]},
            )
            for n in range(100_000)
        ),
        batch_size=5000,
    )
    assert chain.audit_seal_all() == 100_000
    chain.audit_checkpoint()
    report = chain.audit_verify()
    assert report.ok, report.faults
    assert report.links == 100_000


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_writers_never_wait_for_the_sealer(postgres_only):
    """The sealer holds its lock for two seconds; every writer's transaction still commits at once."""
    _events(5)
    writer_seconds: list[float] = []
    errors: list[BaseException] = []
    sealer_holding = threading.Event()

    def sealer():
        try:
            with transaction.atomic():
                chain.audit_seal()
                sealer_holding.set()
                time.sleep(2.0)  # a slow sealing run, lock held
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    def writer(n: int):
        try:
            sealer_holding.wait(5)
            for i in range(10):
                started = time.monotonic()
                with transaction.atomic():
                    audit_record(action="update", object_type="x", object_id=f"{n}-{i}")
                writer_seconds.append(time.monotonic() - started)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=sealer)] + [threading.Thread(target=writer, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    assert sealer_holding.wait(10)
    assert chain.audit_seal() == 0  # a second sealer does not queue behind the first: it skips this turn
    for thread in threads:
        thread.join(30)
    assert not errors, errors
    assert len(writer_seconds) == 200
    assert max(writer_seconds) < 1.0, max(writer_seconds)  # the sealer's 2 s never showed up in a writer
    chain.audit_seal_all()
    sealed_ids = list(AuditSeal.objects.values_list("event_id", flat=True))
    assert len(sealed_ids) == len(set(sealed_ids)) == AuditEvent.objects.count() == 205
    assert chain.audit_verify().ok
