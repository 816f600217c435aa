"""Uploaded evidence is served only to people who may view the record that holds it, debug or not."""

import pytest
from django.core.files.base import ContentFile
from django.utils import timezone

from governance.choices import Role
from incidents.models import Evidence
from tests.factories import person
from tests.incidents.factories import IncidentFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def evidence(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    incident = IncidentFactory(title="Disk full")
    item = Evidence(
        incident=incident,
        original_name="df.txt",
        sha256="0" * 64,
        size_bytes=12,
        uploaded_at=timezone.now(),
    )
    item.file.save("df.txt", ContentFile(b"/dev/sda1 100%"), save=False)
    item.save()
    return item


@pytest.mark.parametrize("debug", [False, True])
def test_evidence_is_served_to_those_who_may_view_it_and_to_nobody_else(client, settings, evidence, debug):
    settings.DEBUG = debug
    url = evidence.file.url
    assert url.startswith("/media/incidents/evidence/")

    anonymous = client.get(url)
    assert anonymous.status_code == 302 and "/admin/login/" in anonymous["Location"]

    client.force_login(person("nora.norole", is_staff=True))
    assert client.get(url).status_code == 403

    client.force_login(person("rita.responder", Role.RESPONDER))
    response = client.get(url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"/dev/sda1 100%"
    assert response["Content-Disposition"].startswith("attachment;")


def test_names_no_record_holds_and_paths_outside_media_are_404(client, evidence):
    client.force_login(person("rita.responder", Role.RESPONDER))
    assert client.get("/media/incidents/evidence/999/other.txt").status_code == 404
    assert client.get("/media/../config/settings.py").status_code == 404
