"""Side-by-side diff of two versions' Markdown (difflib), safe to put on a page."""

import difflib

from django.utils.safestring import mark_safe

from .models import RunbookVersion


def version_diff_lines(old: RunbookVersion, new: RunbookVersion) -> list[str]:
    """A unified diff, for commands and tests."""
    return list(
        difflib.unified_diff(
            old.body.splitlines(),
            new.body.splitlines(),
            fromfile=f"v{old.number}",
            tofile=f"v{new.number}",
            lineterm="",
        )
    )


def version_diff_html(old: RunbookVersion, new: RunbookVersion, *, context: bool = True) -> str:
    # HtmlDiff escapes &, < and > in the text itself, so Markdown with HTML in it stays text.
    table = difflib.HtmlDiff(tabsize=4, wrapcolumn=90).make_table(
        old.body.splitlines(),
        new.body.splitlines(),
        fromdesc=f"v{old.number} ({'published' if old.is_published else 'draft'})",
        todesc=f"v{new.number} ({'published' if new.is_published else 'draft'})",
        context=context,
        numlines=3,
    )
    return mark_safe(table.replace('nowrap="nowrap"', ""))  # noqa: S308  (difflib escaped the content)
