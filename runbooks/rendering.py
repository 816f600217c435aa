"""A version as a page: the introduction and each step (instruction, command with a copy
button, expected result, rollback), every piece of Markdown sanitised by `markdown.render`."""

from django.template.loader import render_to_string
from django.utils.safestring import mark_safe

from .markdown import introduction, render
from .models import RunbookVersion


def rendered_steps(version: RunbookVersion) -> list[dict]:
    return [
        {
            "position": index,
            "title": step.get("title", ""),
            # render() output is sanitised by nh3's allow-list; nothing else is marked safe here.
            "instruction": mark_safe(render(step.get("instruction", ""))),  # noqa: S308
            "command": step.get("command", ""),
            "expected": mark_safe(render(step.get("expected", ""))),  # noqa: S308
            "rollback": mark_safe(render(step.get("rollback", ""))),  # noqa: S308
        }
        for index, step in enumerate(version.steps, start=1)
    ]


def render_version(version: RunbookVersion, *, results: dict | None = None) -> str:
    return render_to_string(
        "runbooks/content.html",
        {
            "version": version,
            "introduction": mark_safe(render(introduction(version.body))),  # noqa: S308  (sanitised)
            "steps": rendered_steps(version),
            "results": results or {},
        },
    )
