"""Unrouted paths under /api/ answer in the error format, with debug on (as `make run` starts) or off."""

import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("debug", [True, False], ids=["debug on", "debug off"])
@pytest.mark.parametrize("path", ["/api/v1/incidents/-1/", "/api/v1/nothing/", "/api/nothing"])
def test_unrouted_api_path_is_a_json_404(client, settings, debug, path):
    settings.DEBUG = debug
    response = client.get(path)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"error": {"code": "not_found", "message": "No such endpoint.", "fields": {}}}


def test_an_admin_path_keeps_django_html_404(admin_client, settings):
    settings.DEBUG = True
    response = admin_client.get("/admin/nothing-here/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
