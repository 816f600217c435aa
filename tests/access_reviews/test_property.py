"""Self-review never happens, whatever the org chart: hypothesis draws random charts and grants."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from access_reviews import services
from access_reviews.choices import ReviewerRule
from access_reviews.models import AccessGrant, Campaign, Identity, ReviewItem, ReviewTemplate, System
from tests.factories import UserFactory

N = 8  # people per chart


@st.composite
def org_charts(draw):
    # managers[i] is None or an index; cycles are allowed (HR data is messy), including managing oneself.
    managers = draw(st.lists(st.one_of(st.none(), st.integers(0, N - 1)), min_size=N, max_size=N))
    has_user = draw(st.lists(st.booleans(), min_size=N, max_size=N))
    fallback = draw(st.integers(0, N - 1))
    owner = draw(st.integers(0, N - 1).filter(lambda i: i != fallback))
    system_owner = draw(st.integers(0, N - 1))
    rule = draw(st.sampled_from(list(ReviewerRule)))
    vigil = draw(st.booleans())
    grants = draw(
        st.lists(
            st.tuples(st.integers(0, N + 1), st.sampled_from(["read", "write", "admin"]), st.booleans()),
            min_size=1,
            max_size=25,
            unique_by=lambda g: (g[0], g[1]),
        )
    )
    return managers, has_user, fallback, owner, system_owner, rule, vigil, grants


@pytest.mark.django_db
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(chart=org_charts())
def test_nobody_is_ever_assigned_their_own_access(chart):
    managers, has_user, fallback, owner, system_owner, rule, vigil, grants = chart
    ReviewItem.objects.all().delete()
    Campaign.objects.all().delete()
    ReviewTemplate.objects.all().delete()
    AccessGrant.objects.all().delete()
    System.objects.all().delete()
    Identity.objects.all().delete()
    users = [UserFactory(username=f"p{i}", email=f"p{i}@example.com") for i in range(N)]
    identities = [
        Identity.objects.create(email=f"p{i}@example.com", user=users[i] if has_user[i] else None) for i in range(N)
    ]
    for i, m in enumerate(managers):
        if m is not None:
            identities[i].manager = identities[m]
            identities[i].save()
    system = System.objects.create(slug="s", name="S", owner=users[system_owner], connector="vigil" if vigil else "")
    template = ReviewTemplate.objects.create(
        name="T", fallback_reviewer=users[fallback], owner=users[owner], reviewer_rule=rule
    )
    template.systems.set([system])
    for who, entitlement, by_email in grants:
        # who in 0..N-1: a person's account (matched by email or only by user name); N, N+1: unmatched accounts.
        account = f"p{who}" if who < N else f"svc{who}"
        email = f"p{who}@example.com" if who < N and by_email else ""
        identity = identities[who] if who < N and by_email else None
        AccessGrant.objects.create(
            system=system, account=account, email=email, identity=identity, entitlement=entitlement
        )
    campaign = services.campaign_launch(template=template, period="p")
    assert campaign.items.count() == len(grants)
    for item in campaign.items.select_related("reviewer", "identity"):
        reviewer = item.reviewer
        assert item.identity is None or item.identity.email != reviewer.email
        assert item.identity is None or item.identity.user_id != reviewer.pk
        if vigil:
            assert item.account != reviewer.username
