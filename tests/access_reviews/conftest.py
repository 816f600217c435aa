"""Access-review fixtures: people in each role, an org chart, a system with grants."""

import pytest

from access_reviews.models import Identity
from governance.choices import Role
from tests.factories import UserFactory

from .factories import IdentityFactory, SystemFactory, TemplateFactory


def person(username: str, role: str | None = Role.ACCESS_REVIEWER, *, manager: Identity | None = None, **fields):
    """A user with a role and an HR identity (same email), optionally reporting to `manager`."""
    user = UserFactory(username=username, roles=[role] if role else None, **fields)
    IdentityFactory(email=user.email, name=username, user=user, manager=manager)
    return user


def identity_of(user) -> Identity:
    return Identity.objects.get(user=user)


@pytest.fixture
def compliance(db):
    return person("compliance", Role.COMPLIANCE_MANAGER)


@pytest.fixture
def auditor(db):
    return person("auditor", Role.AUDITOR)


@pytest.fixture
def org(db, compliance):
    """Two managers, each with two reports; the fallback reviewer; a system owned by a third person."""
    fallback = person("fallback")
    boss = person("boss")
    alice = person("alice", manager=identity_of(boss))
    bob = person("bob", manager=identity_of(boss))
    alice_report = person("carol", role=None, manager=identity_of(alice))
    alice_report2 = person("dave", role=None, manager=identity_of(alice))
    bob_report = person("erin", role=None, manager=identity_of(bob))
    owner = person("owner", Role.OPS_ADMIN)
    system = SystemFactory(slug="billing-db", name="Billing DB", owner=owner)
    template = TemplateFactory(
        name="Billing quarterly", systems=[system], fallback_reviewer=fallback, owner=compliance, due_days=21
    )
    return {
        "fallback": fallback,
        "boss": boss,
        "alice": alice,
        "bob": bob,
        "carol": alice_report,
        "dave": alice_report2,
        "erin": bob_report,
        "owner": owner,
        "system": system,
        "template": template,
        "compliance": compliance,
    }
