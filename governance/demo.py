"""Demo data for the kernel: a few teams with people, and a service catalog."""

from django.contrib.auth import get_user_model

from .choices import Role
from .models import Service, Team
from .services import service_create, team_create

PEOPLE = [
    # username, first, last, role
    ("amara.okafor", "Amara", "Okafor", Role.INCIDENT_COMMANDER),
    ("liam.chen", "Liam", "Chen", Role.RESPONDER),
    ("sofia.rossi", "Sofia", "Rossi", Role.RESPONDER),
    ("noah.fischer", "Noah", "Fischer", Role.OPS_ADMIN),
    ("priya.nair", "Priya", "Nair", Role.COMPLIANCE_MANAGER),
    ("jonas.berg", "Jonas", "Berg", Role.AUDITOR),
    ("elena.garcia", "Elena", "García", Role.ACCESS_REVIEWER),
]

TEAMS = [
    ("Platform", "platform", "noah.fischer", ["noah.fischer", "liam.chen", "sofia.rossi"]),
    ("Payments", "payments", "amara.okafor", ["amara.okafor", "liam.chen", "elena.garcia"]),
]

SERVICES = [
    ("checkout-api", "Checkout API", 1, "payments"),
    ("payments-ledger", "Payments ledger", 1, "payments"),
    ("identity", "Identity (SSO)", 1, "platform"),
    ("primary-postgres", "Primary PostgreSQL", 1, "platform"),
    ("search", "Search", 2, "platform"),
    ("reporting", "Reporting", 3, "payments"),
]


def seed_kernel(stdout) -> None:
    from django.contrib.auth.models import Group

    User = get_user_model()
    users = {}
    for username, first, last, role in PEOPLE:
        # Demo people cannot log in (unusable password) until an admin sets one.
        user, created = User.objects.get_or_create(
            username=username,
            defaults={"first_name": first, "last_name": last, "email": f"{username}@example.com", "is_staff": True},
        )
        if created:
            user.set_unusable_password()
            user.save(update_fields=["password"])
            # get_or_create: the groups come from a migration, but a flushed database has none.
            user.groups.add(Group.objects.get_or_create(name=role.value)[0])
        users[username] = user
    teams = {}
    for name, slug, manager, members in TEAMS:
        team = Team.objects.filter(slug=slug).first() or team_create(
            name=name, slug=slug, manager=users[manager], members=[users[m] for m in members]
        )
        teams[slug] = team
    for slug, name, tier, team in SERVICES:
        if not Service.objects.filter(slug=slug).exists():
            service_create(slug=slug, name=name, tier=tier, owner_team=teams[team])
    stdout.write(f"  demo data: kernel ({len(users)} people, {len(teams)} teams, {len(SERVICES)} services)")
