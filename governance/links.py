"""Absolute links into Vigil's admin, for what leaves Vigil: notifications, the release gate's
reasons, API answers.

`admin_url(obj)` is VIGIL_BASE_URL + the path of obj's admin change page. The path is reversed once
per model, script prefix and URLconf, then each object's id is put in its place: `reverse()` walks
the admin's namespaces on every call (about 50 µs here), and the release gate names every open
incident it refuses for while a pipeline waits on its answer.
"""

from functools import lru_cache

from django.conf import settings
from django.urls import get_script_prefix, get_urlconf, reverse

# Stands in for the id while the path is reversed: digits only, so nothing is quoted around it.
_ID_MARKER = "987654321987654321"


@lru_cache(maxsize=256)
def _change_path_around_id(label: str, script_prefix: str, urlconf: str) -> tuple[str, str] | None:
    path = reverse(f"admin:{label}_change", args=[_ID_MARKER], urlconf=urlconf)
    head, marker, tail = path.rpartition(_ID_MARKER)
    return (head, tail) if marker else None


def admin_path(obj) -> str:
    """The path of `obj`'s admin change page, as `reverse()` gives it."""
    opts = obj._meta
    label = f"{opts.app_label}_{opts.model_name}"
    pk = obj.pk
    if isinstance(pk, int):
        around = _change_path_around_id(label, get_script_prefix(), get_urlconf() or settings.ROOT_URLCONF)
        if around is not None:
            return f"{around[0]}{pk}{around[1]}"
    return reverse(f"admin:{label}_change", args=[pk])


def admin_url(obj) -> str:
    """The absolute URL of `obj`'s admin change page."""
    return settings.VIGIL_BASE_URL.rstrip("/") + admin_path(obj)
