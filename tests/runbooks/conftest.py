"""Runbooks fixtures: people in each role, a service, a published runbook."""

import importlib

import pytest
from django.contrib.auth.models import Group, Permission

from governance.choices import Role
from runbooks import services
from tests.factories import ServiceFactory, TeamFactory, UserFactory

BODY = """Use this when checkout errors spike.

## Step 1: Check the error rate
Look at the dashboard first.

```sh
manage.py ops_status
```

Expected: exit code 0 or 1.
Rollback: nothing to roll back.

## Step 2: Roll back the deploy
```sh
kubectl rollout undo deploy/checkout
```
Expected: the pods restart on the previous image.
"""


def ensure_role(role: str) -> None:
    """The role's group with the permissions the migrations grant (a transactional test's flush
    removes what data migrations made)."""
    grants = {
        **{
            r: list(p)
            for r, p in importlib.import_module("incidents.migrations.0002_policies_and_roles").GRANTS.items()
        },
    }
    ours = importlib.import_module("runbooks.migrations.0003_roles").GRANTS
    group, _ = Group.objects.get_or_create(name=str(role))
    for perm in [*grants.get(role, []), *ours.get(role, [])]:
        app_label, codename = perm.split(".", 1)
        group.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))


def person(username: str, role: str, **fields):
    ensure_role(role)
    return UserFactory(username=username, roles=[role], **fields)


@pytest.fixture
def author(db):
    return person("author", Role.OPS_ADMIN)


@pytest.fixture
def approver(db):
    return person("approver", Role.OPS_ADMIN)


@pytest.fixture
def commander(db):
    return person("commander", Role.INCIDENT_COMMANDER)


@pytest.fixture
def responder(db):
    return person("responder", Role.RESPONDER)


@pytest.fixture
def team(db):
    return TeamFactory(slug="payments", name="Payments")


@pytest.fixture
def service(team):
    return ServiceFactory(slug="checkout-api", name="Checkout API", owner_team=team, tier=1)


def make_runbook(service, author, approver=None, *, slug="checkout-errors", body=BODY, publish=True, **fields):
    fields.setdefault("severities", ["SEV1", "SEV2"])
    runbook = services.runbook_create(
        slug=slug, title=fields.pop("title", "Checkout errors"), service=service, body=body, actor=author, **fields
    )
    if publish:
        services.version_publish(version=runbook.versions.get(), actor=approver)
        runbook.refresh_from_db()
    return runbook


@pytest.fixture
def runbook(service, author, approver):
    return make_runbook(service, author, approver)
