"""Runbooks fixtures: people in each role, a service, a published runbook."""

import pytest

from governance.choices import Role
from runbooks import services
from tests.factories import ServiceFactory, TeamFactory, person

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
