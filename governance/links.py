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


def admin_paths(model, pks) -> list[str]:
    """The paths of the admin change pages of `model`'s rows `pks`, as `reverse()` gives them: the path
    around the id is looked up once for all of them."""
    opts = model._meta
    label = f"{opts.app_label}_{opts.model_name}"
    around = _change_path_around_id(label, get_script_prefix(), get_urlconf() or settings.ROOT_URLCONF)
    return [
        f"{around[0]}{pk}{around[1]}"
        if around is not None and isinstance(pk, int)
        else reverse(f"admin:{label}_change", args=[pk])
        for pk in pks
    ]


def admin_path(obj) -> str:
    """The path of `obj`'s admin change page."""
    return admin_paths(type(obj), [obj.pk])[0]


def admin_urls(model, pks) -> list[str]:
    """The absolute URLs of the admin change pages of `model`'s rows `pks`."""
    base = settings.VIGIL_BASE_URL.rstrip("/")
    return [base + path for path in admin_paths(model, pks)]


def admin_url(obj) -> str:
    """The absolute URL of `obj`'s admin change page."""
    return admin_urls(type(obj), [obj.pk])[0]
