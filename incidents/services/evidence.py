"""Forensic evidence: files preserved with their SHA-256, who and when."""

import hashlib

from django.db import transaction
from django.utils import timezone

from governance.audit import audit_record, diff, snapshot

from .. import events
from ..models import Evidence, Incident
from .incidents import locked_incident

EVIDENCE_CHUNK = 1024 * 1024


@transaction.atomic
def evidence_preserve(*, incident: Incident | int, file, description: str = "", actor=None) -> Evidence:
    """Store a file with its SHA-256, computed from the bytes as received."""
    incident = locked_incident(incident)
    digest = hashlib.sha256()
    size = 0
    for chunk in file.chunks(EVIDENCE_CHUNK) if hasattr(file, "chunks") else [file.read()]:
        digest.update(chunk)
        size += len(chunk)
    if hasattr(file, "seek"):
        file.seek(0)
    name = getattr(file, "name", "evidence") or "evidence"
    evidence = Evidence(
        incident=incident,
        original_name=name.rsplit("/", 1)[-1][:255],
        description=description[:300],
        sha256=digest.hexdigest(),
        size_bytes=size,
        uploaded_at=timezone.now(),
        uploaded_by=actor if getattr(actor, "pk", None) else None,
    )
    evidence.file.save(evidence.original_name, file, save=False)
    evidence.save()
    events.evidence_preserved(incident, actor, evidence=evidence)
    audit_record(action="incident.preserve_evidence", obj=evidence, changes=diff({}, snapshot(evidence)))
    return evidence
