"""Runbook Markdown renders inert: no script, no javascript: or data: URL, no event handler."""

from html.parser import HTMLParser

import pytest

from runbooks.markdown import parse_steps, render, sanitise

HOSTILE = """# Restore

<script>window.pwned = 1</script>

<img src=x onerror="window.pwned = 2">

[click me](javascript:window.pwned=3) and [jump](JaVaScRiPt:alert(1))
and [data](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)

![pixel](data:image/png;base64,iVBORw0KGgo=)

<a href="https://example.org" onclick="window.pwned=4">raw link</a>

<div onmouseover="window.pwned=5">hover</div>

<iframe src="https://evil.example"></iframe>

[ok](https://example.org/runbook)
"""


@pytest.fixture(scope="module")
def html():
    return render(HOSTILE)


def test_script_tags_never_render_as_tags(html):
    assert "<script" not in html


class Tags(HTMLParser):
    def __init__(self, text):
        super().__init__()
        self.tags = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def test_inline_event_handlers_do_not_survive(html):
    tags = Tags(html).tags
    assert tags, "the page has real tags"
    assert not [(tag, name) for tag, attrs in tags for name in attrs if name.startswith("on")]
    assert {tag for tag, _ in tags} <= {"h1", "p", "a", "img", "code"}


def test_the_sanitiser_alone_strips_handlers_and_scripts_from_raw_html():
    """Even HTML that reached the sanitiser directly comes out inert (the second lock)."""
    cleaned = sanitise(
        '<p onclick="x()">a<script>x()</script><a href="javascript:x()">b</a><img src="data:x" onerror="x()"></p>'
    )
    tags = Tags(cleaned).tags
    assert not [(tag, name) for tag, attrs in tags for name in attrs if name.startswith("on")]
    assert "script" not in {tag for tag, _ in tags} and "x()</script>" not in cleaned
    assert all(not attrs.get("href", "").startswith("javascript") for _, attrs in tags)
    assert all(not attrs.get("src", "").startswith("data") for _, attrs in tags)


def test_javascript_and_data_urls_are_not_links(html):
    lowered = html.lower()
    assert 'href="javascript' not in lowered
    assert 'href="data:' not in lowered
    assert 'src="data:' not in lowered


def test_raw_html_is_shown_as_text_not_markup(html):
    assert "&lt;script&gt;" in html
    assert "<iframe" not in html and "<div" not in html


def test_ordinary_markdown_still_renders(html):
    assert "<h1>Restore</h1>" in html
    assert '<a href="https://example.org/runbook" rel="noopener noreferrer nofollow">ok</a>' in html


def test_steps_keep_their_command_expected_result_and_rollback():
    steps = parse_steps(
        "Intro\n\n## Step 1: Stop writes\nDrain traffic.\n\n```sh\nkubectl scale deploy/api --replicas=0\n```\n"
        "Expected: no pods.\nRollback: `kubectl scale deploy/api --replicas=3`\n\n"
        "## Step 2 — Restore\n~~~\npg_restore -d vigil dump\n~~~\n"
    )
    assert [s.title for s in steps] == ["Stop writes", "Restore"]
    assert steps[0].command == "kubectl scale deploy/api --replicas=0"
    assert steps[0].expected == "no pods."
    assert steps[0].rollback == "`kubectl scale deploy/api --replicas=3`"
    assert steps[1].command == "pg_restore -d vigil dump"


def test_a_step_heading_inside_a_code_block_is_not_a_step():
    steps = parse_steps("## Step 1: Show\n```md\n## Step 2: not a step\n```\n")
    assert len(steps) == 1 and "## Step 2" in steps[0].command


@pytest.mark.parametrize(
    "source",
    [
        "[x](java&#x09;script:alert(1))",
        "<javascript:alert(1)>",
        "![x](javascript:alert(1))",
        "[x][r]\n\n[r]: javascript:alert(1)",
        "[x](vbscript:msgbox(1))",
        '<a href="javascript:alert(1)">x</a>',
        "[x](data:text/html,<script>alert(1)</script>)",
        "[x](JAVASCRIPT%3Aalert(1))",
        "<svg onload=alert(1)>",
        "[x](<javascript:alert(1)>)",
        "[x](&#106;avascript:alert(1))",
    ],
)
def test_obfuscated_script_urls_never_become_executable_links(source):
    for tag, attrs in Tags(render(source)).tags:
        for name in ("href", "src"):
            value = "".join(ch for ch in attrs.get(name, "") if ch.isprintable() and not ch.isspace()).lower()
            assert not value.startswith(("javascript:", "vbscript:", "data:")), (tag, attrs)
        assert not [a for a in attrs if a.startswith("on")]
