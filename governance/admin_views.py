"""Kernel pages of the admin: the maturity scorecard and the evidence export."""

import datetime as dt
import tempfile

from django import forms
from django.core.exceptions import PermissionDenied
from django.http import FileResponse
from django.template.response import TemplateResponse

from .audit import audit_record
from .chain import audit_seal_all, chain_status, key_id_of, public_key_pem
from .evidence import export_evidence
from .scorecard import headline, scorecard_now

SCORECARD_PERMISSION = "governance.view_scorecardsnapshot"
EXPORT_PERMISSION = "governance.export_evidence"


def scorecard_view(request, admin_site):
    if not request.user.has_perm(SCORECARD_PERMISSION):
        raise PermissionDenied
    rows = scorecard_now()
    context = {
        **admin_site.each_context(request),
        "title": "Operational maturity scorecard",
        "rows": rows,
        "headline": headline(rows),
        "can_export": request.user.has_perm(EXPORT_PERMISSION),
    }
    return TemplateResponse(request, "governance/scorecard.html", context)


class EvidenceForm(forms.Form):
    # ISO dates: what an <input type="date"> reads and sends, whatever the locale's format.
    start = forms.DateField(label="From", widget=forms.DateInput(format="%Y-%m-%d", attrs={"type": "date"}))
    end = forms.DateField(label="To (inclusive)", widget=forms.DateInput(format="%Y-%m-%d", attrs={"type": "date"}))

    def clean(self):
        data = super().clean()
        if data.get("start") and data.get("end") and data["end"] < data["start"]:
            self.add_error("end", "The end is before the start.")
        return data


def evidence_view(request, admin_site):
    if not request.user.has_perm(EXPORT_PERMISSION):
        raise PermissionDenied
    today = dt.date.today()
    form = EvidenceForm(request.POST or None, initial={"start": today.replace(day=1), "end": today})
    if request.method == "POST" and form.is_valid():
        start, end = form.cleaned_data["start"], form.cleaned_data["end"]
        audit_seal_all()
        # Spooled to disk above 32 MB: a year of evidence never sits in the web process's memory.
        spool = tempfile.SpooledTemporaryFile(max_size=32 * 1024 * 1024)  # noqa: SIM115 (FileResponse closes it)
        result = export_evidence(start=start, end=end, out=spool)
        audit_record(
            action="evidence.export",
            object_type="governance.evidence",
            object_id=f"{start}..{end}",
            object_repr=f"vigil-evidence-{start}-{end}.zip",
            changes={"manifest_end_hash": [None, result.manifest["audit_chain"]["end_hash"]]},
        )
        spool.seek(0)
        return FileResponse(spool, as_attachment=True, filename=f"vigil-evidence-{start}-{end}.zip")
    pem = public_key_pem()
    context = {
        **admin_site.each_context(request),
        "title": "Export evidence",
        "form": form,
        "public_key_pem": pem,
        "key_id": key_id_of(pem),
        "chain": chain_status(),
    }
    return TemplateResponse(request, "governance/evidence.html", context)
