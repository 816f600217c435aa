from access_reviews import services
from access_reviews.choices import ImportSource
from access_reviews.parsing import GrantRow


def grants(*specs) -> list[GrantRow]:
    """grants(("carol", "read"), ("carol@example.com", "admin", True)) — account, entitlement[, privileged]."""
    rows = []
    for spec in specs:
        account, entitlement, *rest = spec
        email = account if "@" in account else f"{account}@example.com"
        rows.append(GrantRow(account=account, entitlement=entitlement, email=email, privileged=bool(rest and rest[0])))
    return rows


def snapshot(system, *specs, now=None):
    return services.snapshot_import(system=system, rows=grants(*specs), source=ImportSource.API, now=now)
