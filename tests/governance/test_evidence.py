"""The evidence bundle: reproducible, verifiable with sha256sum and openssl alone, and by verify_evidence offline."""

import datetime as dt
import io
import json
import os
import shutil
import subprocess
import sys
import zipfile

import pytest
import time_machine
from django.core.management import call_command

from governance.audit import audit_record
from governance.chain import audit_seal_all
from governance.evidence import BundleInvalid, export_evidence, verify_bundle
from tests.conftest import ROOT
from tests.incidents.factories import IncidentFactory

pytestmark = pytest.mark.django_db
MARCH = dt.date(2026, 3, 10)
APRIL = dt.date(2026, 4, 10)


def _activity(day: dt.date, n: int = 5) -> None:
    with time_machine.travel(dt.datetime.combine(day, dt.time(9), tzinfo=dt.UTC), tick=False):
        for i in range(n):
            IncidentFactory(title=f'Disk full on db-{i}, "quoted",\nsecond line')
            audit_record(action="incident.declare", object_type="incidents.incident", object_id=str(i))
        audit_seal_all()


def _export(start: dt.date, end: dt.date) -> bytes:
    out = io.BytesIO()
    export_evidence(start=start, end=end, out=out)
    return out.getvalue()


@pytest.fixture
def march_bundle(tmp_path):
    _activity(MARCH)
    path = tmp_path / "march.zip"
    path.write_bytes(_export(MARCH, MARCH))
    return path


def test_two_exports_of_the_same_period_are_byte_identical(march_bundle):
    audit_record(action="unrelated.later", object_type="x", object_id="1")  # after the period: not in it
    audit_seal_all()
    assert _export(MARCH, MARCH) == march_bundle.read_bytes()


def test_the_bundle_holds_every_exporter_and_the_audit_links(march_bundle):
    from governance.registries import evidence_exporters

    with zipfile.ZipFile(march_bundle) as bundle:
        names = bundle.namelist()
        manifest = json.loads(bundle.read("manifest.json"))
    trailer = ["scorecard.json", "checkpoint.json", "checkpoint.sig", "public_key.pem", "README.txt"]
    trailer += ["manifest.json", "manifest.sig", "SHA256SUMS"]
    data = names[: -len(trailer)]
    assert data == sorted(data)
    assert names[-len(trailer) :] == trailer
    for name, _exporter in evidence_exporters.items():
        assert f"{name}.csv" in names and f"{name}.jsonl" in names
    audit = next(f for f in manifest["files"] if f["path"] == "audit_events.jsonl")
    assert audit["rows"] >= 5
    assert manifest["audit_chain"]["start_hash"] == "0" * 64
    assert "SOC 2 CC7.2" in manifest["controls"]


def test_sha256sum_and_openssl_verify_a_fresh_bundle(march_bundle, tmp_path):
    folder = tmp_path / "unpacked"
    with zipfile.ZipFile(march_bundle) as bundle:
        bundle.extractall(folder)
    sums = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=folder, capture_output=True, text=True)
    assert sums.returncode == 0, sums.stdout + sums.stderr
    assert "manifest.json: OK" in sums.stdout
    openssl = shutil.which("openssl")
    assert openssl, "openssl is part of every Debian install"
    command = "openssl pkeyutl -verify -pubin -inkey public_key.pem -rawin -in manifest.json -sigfile manifest.sig"
    readme = (folder / "README.txt").read_text()
    assert command in readme
    verified = subprocess.run(command.split(), cwd=folder, capture_output=True, text=True)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "Signature Verified Successfully" in verified.stdout
    (folder / "manifest.json").write_text((folder / "manifest.json").read_text().replace('"format"', '"formaT"'))
    tampered = subprocess.run(command.split(), cwd=folder, capture_output=True, text=True)
    assert tampered.returncode != 0


def test_verify_evidence_passes_without_any_database(march_bundle, tmp_path):
    pinned = tmp_path / "pinned.pem"
    call_command("audit_public_key", stdout=pinned.open("w"), stderr=io.StringIO())
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings_test",
        "DATABASE_URL": "postgres://nobody@127.0.0.1:1/nothing",  # nothing listens there
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "verify_evidence", str(march_bundle), "--public-key", str(pinned)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("valid: ")


def _rewrite(source, target, change) -> None:
    """Copy the zip, passing each entry's bytes through `change(name, data)`."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for info in old.infolist():
            new.writestr(info, change(info.filename, old.read(info.filename)))


@pytest.mark.parametrize("victim", ["audit_events.jsonl", "incidents.csv", "manifest.json", "public_key.pem"])
def test_any_changed_byte_fails_verification(march_bundle, tmp_path, victim):
    with zipfile.ZipFile(march_bundle) as bundle:
        if victim not in bundle.namelist():
            victim = next(n for n in bundle.namelist() if n.endswith(".csv"))
    tampered = tmp_path / "tampered.zip"

    def flip(name, data):
        if name != victim:
            return data
        index = len(data) // 2
        return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1 :]

    _rewrite(march_bundle, tampered, flip)
    with pytest.raises(BundleInvalid):
        verify_bundle(tampered)


def test_a_removed_row_with_a_rehashed_manifest_fails_on_the_signature(march_bundle, tmp_path):
    import hashlib

    tampered = tmp_path / "tampered.zip"
    with zipfile.ZipFile(march_bundle) as bundle:
        lines = bundle.read("audit_events.jsonl").splitlines(keepends=True)
        shorter = b"".join(lines[:-1])
        manifest = json.loads(bundle.read("manifest.json"))
    for entry in manifest["files"]:
        if entry["path"] == "audit_events.jsonl":
            entry.update(sha256=hashlib.sha256(shorter).hexdigest(), size=len(shorter), rows=entry["rows"] - 1)
    manifest_bytes = json.dumps(manifest, indent=2, sort_keys=True).encode() + b"\n"
    contents = {"audit_events.jsonl": shorter, "manifest.json": manifest_bytes}

    def sums(name, data):
        if name == "SHA256SUMS":
            lines_ = []
            for line in data.decode().splitlines():
                digest, _, path = line.partition("  ")
                if path in contents:
                    digest = hashlib.sha256(contents[path]).hexdigest()
                lines_.append(f"{digest}  {path}\n")
            return "".join(lines_).encode()
        return contents.get(name, data)

    _rewrite(march_bundle, tampered, sums)
    with pytest.raises(BundleInvalid, match=r"manifest\.sig does not verify"):
        verify_bundle(tampered)


def test_the_next_period_links_to_the_previous_one(march_bundle, tmp_path):
    _activity(APRIL)
    april = tmp_path / "april.zip"
    april.write_bytes(_export(APRIL, APRIL))
    manifest = verify_bundle(april, previous=march_bundle)
    assert manifest["audit_chain"]["first_seq"] > 1
    # A bundle that skips a period does not link: the events between were left out.
    _activity(dt.date(2026, 5, 10))
    june = tmp_path / "june.zip"
    _activity(dt.date(2026, 6, 10))
    june.write_bytes(_export(dt.date(2026, 6, 1), dt.date(2026, 6, 30)))
    with pytest.raises(BundleInvalid, match="does not start where the previous bundle"):
        verify_bundle(june, previous=april)


def test_export_command_writes_the_zip_and_records_the_export(tmp_path, capsys):
    from governance.models import AuditEvent

    _activity(MARCH)
    out = tmp_path / "bundle.zip"
    call_command("export_evidence", "--from", "2026-03-01", "--to", "2026-03-31", "--out", str(out))
    assert out.exists()
    assert "peak memory" in capsys.readouterr().out
    assert AuditEvent.objects.filter(action="evidence.export", object_id="2026-03-01..2026-03-31").exists()
    verify_bundle(out)


# SOC 2 Trust Services Criteria ids (CC6.2, A1.2, ...) and ISO/IEC 27001:2022 Annex A ids (A.5.18, A.8.13, ...),
# each with its framework named the one way the bundle spells it.
CONTROL_ID = r"SOC 2 (CC[1-9]|A1|C1|PI1|P[1-8])\.[1-9]\d?|ISO 27001 A\.[5-8]\.[1-9]\d?"
ISSUE_CONTROLS = [
    *(f"SOC 2 {c}" for c in ("CC6.2", "CC6.3", "CC7.3", "CC7.4", "CC7.5", "A1.2", "A1.3")),
    *(f"ISO 27001 {c}" for c in ("A.5.18", "A.5.24", "A.5.25", "A.5.26", "A.5.27", "A.5.28", "A.8.13")),
]


def test_every_exporter_maps_to_real_control_ids_spelled_one_way():
    import re

    from governance.evidence import AUDIT_CONTROLS
    from governance.registries import evidence_exporters

    mapped = {name: exporter.controls for name, exporter in evidence_exporters.items()}
    mapped["audit_events"] = AUDIT_CONTROLS
    for name, controls in mapped.items():
        assert controls, f"{name} maps to no control"
        for control in controls:
            assert re.fullmatch(CONTROL_ID, control), f"{name}: {control!r} is not a SOC 2 or ISO 27001 control id"


def test_the_control_map_names_every_control_of_the_issue(march_bundle):
    with zipfile.ZipFile(march_bundle) as bundle:
        controls = json.loads(bundle.read("manifest.json"))["controls"]
    assert [c for c in ISSUE_CONTROLS if c not in controls] == []
    assert "backup_runs.csv" in controls["SOC 2 A1.2"]
    assert "backup_restore_drills.csv" in controls["SOC 2 A1.3"]
    assert "alerting_delivery_attempts.csv" in controls["SOC 2 CC7.3"]
