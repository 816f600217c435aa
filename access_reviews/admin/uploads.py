"""CSV uploads with a dry run: parse and preview added / removed / changed, write only on confirmation."""

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse

from governance.audit import audit_record
from governance.errors import VigilError

from .. import services
from ..choices import ImportKind, ImportSource
from ..models import PendingUpload, System
from ..parsing import identities_from_csv, max_csv_bytes, sha256_of


class UploadForm(forms.Form):
    file = forms.FileField(help_text="UTF-8 CSV with a header row.")
    system = forms.ModelChoiceField(
        queryset=System.objects.all(),
        required=False,
        help_text="Leave empty when the file has a `system` column naming each row's system.",
    )


class IdentityUploadForm(forms.Form):
    file = forms.FileField(help_text="UTF-8 CSV: email, name, manager_email, department, employment_status.")


def _read(upload) -> bytes:
    # Stop reading past the limit: a 50 MB file costs at most limit + 1 bytes of memory.
    return upload.read(max_csv_bytes() + 1)


def upload_view(model_admin, request, *, kind: str, system: System | None = None):
    """GET: the form. POST without `pending`: dry run (nothing written). POST with `pending`: import it."""
    if not request.user.has_perm("access_reviews.import_snapshot"):
        raise PermissionDenied
    opts = model_admin.model._meta
    back = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
    form_class = UploadForm if kind == ImportKind.GRANTS else IdentityUploadForm
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": opts,
        "title": "Upload an access snapshot (CSV)" if kind == ImportKind.GRANTS else "Upload identities (CSV)",
        "kind": kind,
        "back": back,
    }
    if request.method == "POST" and request.POST.get("pending"):
        pending = PendingUpload.objects.filter(pk=request.POST["pending"], uploaded_by=request.user).first()
        if pending is None:
            raise Http404("That upload is gone; upload the file again.")
        if "_discard" in request.POST:
            pending.delete()
            model_admin.message_user(request, "Upload discarded; nothing was changed.", messages.INFO)
            return HttpResponseRedirect(back)
        try:
            with transaction.atomic():
                data = bytes(pending.content)
                if kind == ImportKind.GRANTS:
                    records = services.snapshot_import_csv(
                        data=data, system=pending.system, source=ImportSource.CSV, dry_run=False
                    )
                else:
                    records = [
                        services.identities_import(
                            rows=identities_from_csv(data), source=ImportSource.CSV, sha256=sha256_of(data)
                        )
                    ]
                pending.delete()
        except VigilError as exc:
            model_admin.message_user(request, exc.message, messages.ERROR)
            return HttpResponseRedirect(request.path)
        summary = "; ".join(
            f"{r.system.slug if r.system_id else 'identities'}: {r.added} added, {r.removed} removed, "
            f"{r.changed} changed, {r.unchanged} unchanged"
            + (f", {r.remediations_verified} remediation(s) verified" if r.remediations_verified else "")
            for r in records
        )
        model_admin.message_user(request, f"Imported. {summary}.", messages.SUCCESS)
        return HttpResponseRedirect(back)
    if request.method == "POST":
        form = form_class(request.POST, request.FILES, initial={"system": system})
        if form.is_valid():
            data = _read(form.cleaned_data["file"])
            chosen = form.cleaned_data.get("system") or system
            try:
                if kind == ImportKind.GRANTS:
                    previews = services.snapshot_import_csv(
                        data=data, system=chosen, source=ImportSource.CSV, dry_run=True
                    )
                else:
                    rows = identities_from_csv(data)
                    previews = [{"identities": len(rows), "rows": rows[:50]}]
            except VigilError as exc:
                context.update(form=form, error=exc)
                return TemplateResponse(request, "access_reviews/admin/upload.html", context)
            with transaction.atomic():
                pending = PendingUpload.objects.create(
                    kind=kind, system=chosen, content=data, sha256=sha256_of(data), uploaded_by=request.user
                )
                audit_record(action="access_upload_preview", obj=pending, changes={"sha256": [None, pending.sha256]})
            context.update(previews=previews, pending=pending)
            return TemplateResponse(request, "access_reviews/admin/upload.html", context)
    else:
        form = form_class(initial={"system": system})
    context["form"] = form
    return TemplateResponse(request, "access_reviews/admin/upload.html", context)
