"""docs/operations.md and docs/vigil-alerts.rules.yml say only what is true.

- promtool accepts the rules, and each alert fires on the condition the guide gives it (and not
  before its `for`), through `promtool test rules` on the same expressions;
- every metric the rules read is one Vigil's /metrics really serves (scraped with a health:read
  key), with the labels the rules match on; the rest are named as Prometheus' or blackbox_exporter's;
- every `manage.py` command, sub-command and option the guide names exists, every Vigil path it
  names resolves, every API key scope it hands out is a real scope;
- the FIELD_ENCRYPTION_KEY rotation snippet, run as printed, re-encrypts every secret.
"""

import argparse
import base64
import os
import re
import shutil
import subprocess
import textwrap

import pytest
import yaml
from cryptography.fernet import Fernet
from django.core.management import get_commands, load_command_class
from django.urls import Resolver404, resolve

from governance.choices import Scope
from governance.registries import metrics as metric_registry
from tests.conftest import ROOT, need

GUIDE = ROOT / "docs" / "operations.md"
RULES = ROOT / "docs" / "vigil-alerts.rules.yml"
# Series in the rules that Vigil does not serve, and who does.
NOT_FROM_VIGIL = {
    "up": "Prometheus, for every scrape target",
    "scrape_duration_seconds": "Prometheus, for every scrape target",
    "probe_success": "blackbox_exporter, probing /health/ready and /health",
}
PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool", "offset"}


def _rules() -> list[dict]:
    return [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]


@pytest.fixture(scope="module")
def promtool() -> str:
    path = shutil.which("promtool")
    need(path is not None, "promtool is not installed (Debian's prometheus package)")
    return path


def test_promtool_accepts_the_rules(promtool):
    result = subprocess.run([promtool, "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(_rules())} rules found" in result.stdout


# --- each alert fires on the condition the guide states ---------------------------------------------

V = 'job="vigil", instance="i"'
SCRAPED = {"job": "vigil", "instance": "i"}  # what every series of the vigil scrape job carries
READY, HEALTH = {"job": "vigil-ready", "instance": "r"}, {"job": "vigil-health", "instance": "h"}
HEARTBEAT_LABELS = {**SCRAPED, "exported_job": "governance.heartbeat"}
GAPS = f'vigil_oncall_coverage_gaps{{{V}, team="payments"}}'
HEARTBEAT = f'vigil_job_seconds_since_success{{{V}, exported_job="governance.heartbeat"}}'
OWN_BACKUP = f'vigil_backup_last_success_age_seconds{{{V}, target="vigil"}}'
OTHER_BACKUP = f'vigil_backup_last_success_age_seconds{{{V}, target="files"}}'
OWN_BACKUP_LABELS = {**SCRAPED, "target": "vigil"}
# (input series and their values a minute apart, the minute to evaluate at, the alert, the labels of
# each alert expected to fire then — none: not firing yet, or not for this input)
FIRING_CASES = [
    ([(f"up{{{V}}}", "1 1 0x10")], 6, "VigilMetricsUnreachable", []),  # down for 4 of the 5 minutes
    ([(f"up{{{V}}}", "1 1 0x10")], 8, "VigilMetricsUnreachable", [SCRAPED]),
    ([(f"scrape_duration_seconds{{{V}}}", "1 1 12x20")], 18, "VigilMetricsSlow", [SCRAPED]),
    ([('probe_success{job="vigil-ready", instance="r"}', "1 0x5")], 2, "VigilNotReady", []),
    (
        [('probe_success{job="vigil-ready", instance="r"}', "1 0x5")],
        4,
        "VigilNotReady",
        [READY],
    ),
    (
        [('probe_success{job="vigil-health", instance="h"}', "1 0x15")],
        12,
        "VigilUnhealthy",
        [HEALTH],
    ),
    # the heartbeat's age: 90 s at minute 3, then 60 s older each minute; over 300 s from minute 7, firing from 12
    ([(HEARTBEAT, "30 30 30 90+60x15")], 11, "VigilHeartbeatStale", []),
    (
        [(HEARTBEAT, "30 30 30 90+60x15")],
        12,
        "VigilHeartbeatStale",
        [HEARTBEAT_LABELS],
    ),
    # -1: no worker or no beat has ever run it
    ([(HEARTBEAT, "-1x10")], 6, "VigilHeartbeatStale", [HEARTBEAT_LABELS]),
    (
        [
            (f'vigil_job_stale{{{V}, exported_job="backups.rpo_monitor"}}', "0 1x20"),
            (f'vigil_job_stale{{{V}, exported_job="slos.evaluate"}}', "0x20"),
        ],
        17,
        "VigilScheduledJobStale",
        [{**SCRAPED, "exported_job": "backups.rpo_monitor"}],
    ),
    ([(f"vigil_notifications_dead_letter{{{V}}}", "0 0 3x10")], 8, "VigilNotificationsDeadLettered", [SCRAPED]),
    ([(f"vigil_notifications_pending{{{V}}}", "10 60x15")], 10, "VigilNotificationBacklog", []),
    ([(f"vigil_notifications_pending{{{V}}}", "10 60x15")], 12, "VigilNotificationBacklog", [SCRAPED]),
    (
        [(GAPS, "0 2x70")],
        62,
        "VigilOnCallCoverageGap",
        [{"team": "payments"}],
    ),
    # 26 h is 93 600 s: the vigil target passes it at minute 11 and fires 15 minutes later; another target never does
    ([(OWN_BACKUP, "93000+60x30"), (OTHER_BACKUP, "999999x30")], 25, "VigilOwnBackupStale", []),
    (
        [(OWN_BACKUP, "93000+60x30"), (OTHER_BACKUP, "999999x30")],
        27,
        "VigilOwnBackupStale",
        [{**SCRAPED, "target": "vigil"}],
    ),
    ([(OTHER_BACKUP, "60x70")], 61, "VigilOwnBackupMissing", [{"target": "vigil"}]),
    ([(OWN_BACKUP, "60x70")], 61, "VigilOwnBackupMissing", []),
    # ten refused logins a minute: 100 in ten minutes; refused roles are not counted
    (
        [
            (f'vigil_security_events_total{{{V}, kind="login_failed"}}', "0+10x20"),
            (f'vigil_security_events_total{{{V}, kind="role_refused"}}', "0+100x20"),
        ],
        12,
        "VigilAuthFailureBurst",
        [{}],
    ),
    ([(f'vigil_security_events_total{{{V}, kind="role_refused"}}', "0+100x20")], 12, "VigilAuthFailureBurst", []),
]


def test_each_alert_fires_on_its_condition_and_not_before(promtool, tmp_path):
    """The rules' expressions, `for` and labels, unit-tested by promtool. Annotations are left out of the
    copy under test: they are templates (validated by `promtool check rules` above) that the unit test
    would compare rendered, word for word."""
    bare = yaml.safe_load(RULES.read_text())
    for group in bare["groups"]:
        for rule in group["rules"]:
            rule.pop("annotations", None)
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(bare))
    severity = {rule["alert"]: rule["labels"]["severity"] for rule in _rules()}
    assert {case[2] for case in FIRING_CASES} == set(severity), "every alert in the rules has a case"
    tests = [
        {
            "interval": "1m",
            "input_series": [{"series": name, "values": values} for name, values in series],
            "alert_rule_test": [
                {
                    "eval_time": f"{minute}m",
                    "alertname": alert,
                    "exp_alerts": [{"exp_labels": {**labels, "severity": severity[alert]}} for labels in firing],
                }
            ],
        }
        for series, minute, alert, firing in FIRING_CASES
    ]
    (tmp_path / "tests.yml").write_text(
        yaml.safe_dump({"rule_files": ["rules.yml"], "evaluation_interval": "1m", "tests": tests})
    )
    result = subprocess.run(
        [promtool, "test", "rules", "tests.yml"], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --- the metrics the rules read are the ones Vigil serves -----------------------------------------------


def _metric_names(expr: str) -> set[str]:
    """The series names a PromQL expression reads (good enough for the rules we write)."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    expr = re.sub(r"\{[^}]*\}", " ", expr)
    expr = re.sub(r"\[[^\]]*\]", " ", expr)
    expr = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)
    names = set()
    for match in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*", expr):
        if expr[match.end() :].lstrip().startswith("(") or match.group(0) in PROMQL_WORDS:
            continue  # a function or a keyword
        names.add(match.group(0))
    return names


def _matchers(expr: str) -> list[tuple[str, str, str, str]]:
    """(metric, label, operator, value) of every label matcher in the expression."""
    found = []
    for metric, body in re.findall(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\}", expr):
        found += [
            (metric, label, op, value) for label, op, value in re.findall(r'(\w+)\s*(=~|!~|!=|=)\s*"([^"]*)"', body)
        ]
    return found


def test_the_metric_name_parser_sees_through_promql():
    expr = 'sum by (team) (increase(vigil_a{k=~"x|y"}[10m])) > 5 and on (job) vigil_b or absent(vigil_c{t="v"})'
    assert _metric_names(expr) == {"vigil_a", "vigil_b", "vigil_c"}


def _exposition(client) -> str:
    response = client.get("/metrics")
    assert response.status_code == 200, response.content
    return response.content.decode()


def _served_names(text: str) -> set[str]:
    names = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            names.add(name)
            if kind in ("histogram", "summary"):
                names |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
        elif line and not line.startswith("#"):
            names.add(re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line).group(0))
    return names


@pytest.fixture
def scraped(db, settings, api_client_for):
    """/metrics as Prometheus gets it: METRICS_PUBLIC off, a health:read key, Vigil's own backup on record."""
    from django.test import Client
    from django.utils import timezone

    from backups.services import backup_run_report
    from backups.services.vigil import vigil_target_ensure

    settings.METRICS_PUBLIC = False
    now = timezone.now()
    backup_run_report(target=vigil_target_ensure(), status="succeeded", started_at=now, finished_at=now)
    assert Client().get("/metrics").status_code in (401, 403)  # without the key, no scrape
    return _exposition(api_client_for("health:read"))


def test_every_metric_the_rules_read_is_served_by_vigil(scraped):
    served = _served_names(scraped)
    used = set().union(*(_metric_names(rule["expr"]) for rule in _rules()))
    missing = sorted(used - served - set(NOT_FROM_VIGIL))
    assert not missing, f"the rules read series Vigil's /metrics does not serve: {missing}"
    assert len({name for name in used if name.startswith("vigil_")}) >= 6  # the rules watch Vigil, not only `up`


def test_the_labels_the_rules_match_on_are_vigils(scraped):
    families = dict(metric_registry.items())
    for rule in _rules():
        for metric, label, op, value in _matchers(rule["expr"]):
            if metric in NOT_FROM_VIGIL:
                assert label == "job"  # the scrape or probe job of the guide's prometheus.yml
                continue
            # Prometheus keeps the scrape job in `job` and stores Vigil's own `job` label as `exported_job`.
            vigil_label = "job" if label == "exported_job" else label
            assert vigil_label in families[metric].labels, f"{rule['alert']}: {metric} has no label {vigil_label}"
            values = set(re.findall(rf'^{metric}\{{[^}}]*{vigil_label}="([^"]*)"', scraped, re.MULTILINE))
            wanted = value.split("|") if op == "=~" else [value]
            assert set(wanted) <= values, f"{rule['alert']}: {metric}{{{vigil_label}}} is never {set(wanted) - values}"


# --- the guide names only commands, options, paths and scopes that exist -------------------------------


def _guide() -> str:
    return GUIDE.read_text()


def _parser_options(name: str) -> tuple[set[str], dict[str, set[str]]]:
    command = load_command_class(get_commands()[name], name)
    parser = command.create_parser("manage.py", name)
    options, subcommands = set(), {}
    for action in parser._actions:
        options.update(action.option_strings)
        if isinstance(action, argparse._SubParsersAction):
            for sub, subparser in action.choices.items():
                subcommands[sub] = {option for a in subparser._actions for option in a.option_strings}
    return options, subcommands


def _command_lines() -> list[tuple[str, str]]:
    """(command, the rest of its line up to a pipe, `&&`, a comment or the end of the code span)."""
    return [
        (match.group(1), re.split(r"`|\||&&|;| #", match.group(2))[0])
        for match in re.finditer(r"manage\.py\s+([a-z_]+)([^\n]*)", _guide())
    ]


def test_every_manage_py_command_option_and_sub_command_in_the_guide_exists():
    lines = _command_lines()
    assert len(lines) >= 20
    known = get_commands()
    for name, rest in lines:
        assert name in known, f"manage.py {name} does not exist"
        options, subcommands = _parser_options(name)
        words = rest.split()
        if subcommands:
            assert words and words[0] in subcommands, f"manage.py {name} {rest!r}: not a sub-command"
            options = options | subcommands[words[0]]
        for option in re.findall(r"(?<!\S)(--[a-z][a-z-]*)", rest):
            assert option in options, f"manage.py {name}: no option {option}"


def test_every_vigil_path_in_the_guide_resolves():
    paths = {
        re.sub(r"\{[a-z_]+\}", "x", path).rstrip("…")
        for path in re.findall(r"/(?:api/v1/|health|metrics|\.well-known/)[^\s`\"'?)|\\\]]*", _guide())
    }
    assert {"/health/ready", "/health", "/metrics", "/api/v1/changes/gate/"} <= paths
    for path in sorted(paths):
        try:
            resolve(path)
        except Resolver404:
            pytest.fail(f"the guide names {path}, which Vigil does not serve")


def test_every_scope_the_guide_hands_out_is_a_real_scope():
    scopes = {scope for value in re.findall(r"--scopes ([a-z:,]+)", _guide()) for scope in value.split(",")}
    assert scopes and scopes <= set(Scope.values)


def test_the_readme_links_the_guide():
    assert "(docs/operations.md)" in (ROOT / "README.md").read_text()


# --- key rotation, as printed -------------------------------------------------------------------------


def _rotation_snippet() -> str:
    section = _guide().split("### `FIELD_ENCRYPTION_KEY`", 1)[1].split("### ", 1)[0]
    return textwrap.dedent(re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1))


def _new_key() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


@pytest.mark.django_db
def test_the_field_encryption_key_rotation_in_the_guide_re_encrypts_every_secret(settings, capsys):
    from django.db import connection

    from access_reviews.models import System
    from alerting.fields import PREFIX
    from alerting.models import Channel
    from slos.models import PrometheusSource

    old, new = _new_key(), _new_key()
    settings.FIELD_ENCRYPTION_KEY = old
    secrets = {"url": "https://hooks.example.com/T0/B0/abcd", "routing_key": "R0UT1NG", "signing_secret": "s3cret"}
    channel = Channel.objects.create(name="pager", kind="generic_webhook", headers="X-Token: t0k3n", **secrets)
    system = System.objects.create(slug="corp-ldap", name="Corp LDAP", connector="ldap", connector_secret="bind-pw")
    source = PrometheusSource.objects.create(name="prom", url="http://prometheus:9090", bearer_token="b3arer")
    rows = [
        (Channel, channel.pk, ["url", "routing_key", "signing_secret", "headers"]),
        (System, system.pk, ["connector_secret"]),
    ]
    rows.append((PrometheusSource, source.pk, ["bearer_token"]))

    def stored(model, pk, field) -> str:
        """The column as PostgreSQL holds it, not decrypted."""
        quote = connection.ops.quote_name
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT {quote(field)} FROM {quote(model._meta.db_table)} WHERE id = %s", [pk])
            return cursor.fetchone()[0]

    settings.FIELD_ENCRYPTION_KEY = new  # dropping the old key too early loses the secrets
    with pytest.raises(ValueError, match="does not match"):
        Channel.objects.get(pk=channel.pk)

    settings.FIELD_ENCRYPTION_KEY = f"{new},{old}"  # step 1
    exec(compile(_rotation_snippet(), "docs/operations.md", "exec"), {})  # step 2, as printed
    assert "Channel: 1 row(s) re-encrypted" in capsys.readouterr().out

    settings.FIELD_ENCRYPTION_KEY = new  # step 3
    for model, pk, fields in rows:
        for field in fields:
            raw = stored(model, pk, field)
            assert raw.startswith(PREFIX)
            Fernet(new.encode()).decrypt(raw[len(PREFIX) :].encode())  # readable with the new key alone
    channel = Channel.objects.get(pk=channel.pk)
    assert (channel.url, channel.routing_key, channel.signing_secret) == tuple(secrets.values())
    assert channel.headers == "X-Token: t0k3n"
    assert System.objects.get(pk=system.pk).connector_secret == "bind-pw"
    assert PrometheusSource.objects.get(pk=source.pk).bearer_token == "b3arer"
