"""Runbook Markdown: steps parsed from '## Step' sections, and rendering that lets no script through.

Rendering is two locks: markdown-it runs with raw HTML off (a `<script>` in the source is
text), and nh3 then keeps only an allow-list of tags and attributes and http/https/mailto
links, so `javascript:` and `data:` URLs and inline event handlers never reach the page.
"""

import hashlib
import re
from dataclasses import asdict, dataclass

import nh3
from markdown_it import MarkdownIt

STEP_HEADING = re.compile(r"^##\s+Step\b[ \t]*(?:\d+)?[ \t]*[:.\-–—]?[ \t]*(?P<title>.*?)\s*$")
FENCE = re.compile(r"^(?P<fence>```+|~~~+)[ \t]*(?P<info>[^`]*)$")
LABEL = re.compile(r"^\*{0,2}(?P<label>Expected|Expected result|Rollback)\*{0,2}\s*:\s*\*{0,2}\s*(?P<rest>.*)$", re.I)

ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr",
    "i", "kbd", "li", "ol", "p", "pre", "s", "strong", "sub", "sup", "table", "tbody", "td", "th", "thead",
    "tr", "ul",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "code": {"class"}, "th": {"align"}, "td": {"align"}}
URL_SCHEMES = {"http", "https", "mailto"}

_md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable("table")


@dataclass(frozen=True)
class Step:
    title: str
    instruction: str
    command: str
    expected: str
    rollback: str

    def as_dict(self) -> dict:
        return asdict(self)


def normalise(body: str) -> str:
    """One canonical text per content: LF line ends, no trailing blank lines, one final newline."""
    text = body.replace("\r\n", "\n").replace("\r", "\n").strip("\n")
    return text + "\n" if text else ""


def content_sha256(body: str) -> str:
    return hashlib.sha256(normalise(body).encode("utf-8")).hexdigest()


def step_heading_lines(body: str) -> list[int]:
    """1-based line numbers of the '## Step' headings (outside fenced blocks)."""
    lines, fence = [], None
    for number, line in enumerate(normalise(body).split("\n"), start=1):
        match = FENCE.match(line.strip())
        if match:
            marker = match.group("fence")
            if fence is None:
                fence = marker
            elif marker.startswith(fence[0]) and len(marker) >= len(fence):
                fence = None
            continue
        if fence is None and STEP_HEADING.match(line):
            lines.append(number)
    return lines


def parse_steps(body: str) -> list[Step]:
    """The ordered steps: each '## Step' section's first fenced block is its command, lines
    starting 'Expected:' and 'Rollback:' are the expected result and the rollback, the rest
    is the instruction."""
    lines = normalise(body).split("\n")
    starts = step_heading_lines(body)
    steps = []
    for index, start in enumerate(starts):
        end = starts[index + 1] - 1 if index + 1 < len(starts) else len(lines)
        title = STEP_HEADING.match(lines[start - 1]).group("title") or f"Step {index + 1}"
        section = lines[start:end]
        # A later '## ' heading that is not a step ends the section.
        for offset, line in enumerate(section):
            if line.startswith("## ") and not STEP_HEADING.match(line):
                section = section[:offset]
                break
        steps.append(_parse_section(title, section))
    return steps


def _parse_section(title: str, section: list[str]) -> Step:
    parts: dict[str, list[str]] = {"instruction": [], "expected": [], "rollback": []}
    command: list[str] | None = None
    current = "instruction"
    fence = None
    block: list[str] = []
    for line in section:
        match = FENCE.match(line.strip())
        if fence is None and match:
            fence, block = match.group("fence"), []
            continue
        if fence is not None:
            if match and match.group("fence").startswith(fence[0]) and len(match.group("fence")) >= len(fence):
                fence = None
                if command is None and current == "instruction":
                    command = block
                else:  # a second block (or one under Expected/Rollback) stays in that text
                    parts[current].extend(["```", *block, "```"])
                continue
            block.append(line)
            continue
        label = LABEL.match(line.strip())
        if label:
            current = "expected" if label.group("label").lower().startswith("expected") else "rollback"
            if label.group("rest"):
                parts[current].append(label.group("rest"))
            continue
        parts[current].append(line)
    return Step(
        title=title.strip()[:200],
        instruction="\n".join(parts["instruction"]).strip(),
        command="\n".join(command or []).strip("\n"),
        expected="\n".join(parts["expected"]).strip(),
        rollback="\n".join(parts["rollback"]).strip(),
    )


def render(markdown: str) -> str:
    """Markdown → HTML that is safe to put on an admin page as is."""
    return sanitise(_md.render(markdown or ""))


def sanitise(html: str) -> str:
    """The allow-list: anything else (tags, attributes, URL schemes) is dropped."""
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        clean_content_tags={"script", "style"},
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )


def introduction(body: str) -> str:
    """The text before the first step (context, prerequisites)."""
    starts = step_heading_lines(body)
    lines = normalise(body).split("\n")
    return "\n".join(lines[: starts[0] - 1] if starts else lines).strip()
