"""Uploaded files (incident evidence, drill evidence) are served only to people who may view their record.

Every FileField's URL points here, whatever the debug setting: a file is looked up by the record that
holds it, and sent (as an attachment, never rendered inline) to a staff user with that model's view
permission. Anyone else gets the login page, a 403, or a 404 for a name no record holds.
"""

import functools
import os

from django.apps import apps
from django.conf import settings
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import PermissionDenied, SuspiciousFileOperation
from django.db import models
from django.http import FileResponse, Http404
from django.utils._os import safe_join


@functools.cache
def _file_fields() -> list[tuple[type[models.Model], str]]:
    return [
        (model, field.name)
        for model in apps.get_models()
        for field in model._meta.get_fields()
        if isinstance(field, models.FileField)
    ]


def owner_of(name: str) -> type[models.Model] | None:
    """The model of the record that holds the stored file `name`, if any."""
    for model, field in _file_fields():
        if model._default_manager.filter(**{field: name}).exists():
            return model
    return None


@staff_member_required
def protected_media(request, path: str):
    model = owner_of(path)
    if model is None:
        raise Http404("No record holds this file.")
    if not request.user.has_perm(f"{model._meta.app_label}.view_{model._meta.model_name}"):
        raise PermissionDenied
    try:
        full_path = safe_join(settings.MEDIA_ROOT, path)
    except SuspiciousFileOperation as exc:
        raise Http404("No such file.") from exc
    if not os.path.isfile(full_path):
        raise Http404("The record's file is missing from storage.")
    return FileResponse(open(full_path, "rb"), as_attachment=True, filename=os.path.basename(full_path))
