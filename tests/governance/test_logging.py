"""LOG_LEVEL decides what Vigil's processes log, Django's own loggers included."""

import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

# A request Django answers 404 and logs as a warning on django.request ("Not Found: ..."), with no
# database involved; each run prints what reached stderr.
SCRIPT = """
import django
django.setup()
from django.test import Client
assert Client().get("/api/v1/no-such-endpoint/").status_code == 404
"""


def _stderr_with(log_level: str) -> str:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings_test", "LOG_LEVEL": log_level}
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return result.stderr


@pytest.mark.parametrize(("log_level", "logged"), [("INFO", True), ("warning", True), ("ERROR", False)])
def test_log_level_decides_whether_djangos_4xx_warnings_are_logged(log_level, logged):
    stderr = _stderr_with(log_level)
    assert ("WARNING django.request Not Found: /api/v1/no-such-endpoint/" in stderr) is logged, stderr
    # Once, through Vigil's one console handler.
    assert stderr.count("Not Found: /api/v1/no-such-endpoint/") == (1 if logged else 0), stderr
