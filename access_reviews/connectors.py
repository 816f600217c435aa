"""Connectors pull a system's grants from the system itself: a registry, one callable per name.

Each takes a System and returns GrantRows; each raises ConnectorError with a sentence on failure.
Settings (non-secret) live in `System.connector_settings`, the secret in `System.connector_secret`.
"""

from collections.abc import Callable

from django.contrib.auth import get_user_model

from governance.registries import Registry

from .choices import Connector
from .parsing import GrantRow

CONNECT_TIMEOUT_SECONDS = 10

connectors: Registry[Callable[..., list[GrantRow]]] = Registry("access connector")


class ConnectorError(Exception):
    pass


def connector_for(system) -> Callable[..., list[GrantRow]]:
    if not system.connector or system.connector not in connectors:
        raise ConnectorError(f"System {system.slug} has no connector (got {system.connector!r}).")
    return connectors.get(system.connector)


def _setting(system, name: str) -> str:
    value = (system.connector_settings or {}).get(name)
    if not value:
        raise ConnectorError(f"System {system.slug}: connector setting {name!r} is missing.")
    return str(value)


def pull_vigil(system) -> list[GrantRow]:
    """Vigil's own users: login, staff, superuser and each group, so Vigil is reviewed like any system."""
    rows = []
    users = get_user_model().objects.filter(is_active=True).prefetch_related("groups").order_by("pk")
    for user in users:
        common = {"account": user.get_username(), "email": (user.email or "").lower(), "last_login_at": user.last_login}
        rows.append(GrantRow(entitlement="login", privileged=False, **common))
        if user.is_staff:
            rows.append(GrantRow(entitlement="staff", privileged=False, **common))
        if user.is_superuser:
            rows.append(GrantRow(entitlement="superuser", privileged=True, **common))
        for group in user.groups.all():
            rows.append(GrantRow(entitlement=f"group:{group.name}", privileged=group.name == "Ops Admin", **common))
    return rows


PG_ROLES_SQL = """
SELECT r.rolname, r.rolcanlogin, r.rolsuper, r.rolcreaterole, r.rolcreatedb, r.rolreplication, r.rolbypassrls,
       COALESCE(ARRAY(SELECT g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid
                      WHERE m.member = r.oid ORDER BY g.rolname), '{}')
FROM pg_roles r
WHERE r.rolname NOT LIKE 'pg\\_%%'
ORDER BY r.rolname
"""
PG_DATABASE_ACL_SQL = """
SELECT d.datname, g.rolname, a.privilege_type
FROM pg_database d, aclexplode(d.datacl) a JOIN pg_roles g ON g.oid = a.grantee
WHERE NOT d.datistemplate
ORDER BY 1, 2, 3
"""
PG_SCHEMA_ACL_SQL = """
SELECT current_database(), n.nspname, g.rolname, a.privilege_type
FROM pg_namespace n, aclexplode(n.nspacl) a JOIN pg_roles g ON g.oid = a.grantee
WHERE n.nspname NOT LIKE 'pg\\_%%' AND n.nspname <> 'information_schema'
ORDER BY 2, 3, 4
"""


def pull_postgresql(system) -> list[GrantRow]:
    """Roles with login, superuser, createrole, createdb, memberships, and explicit database/schema privileges."""
    import psycopg

    dsn = _setting(system, "dsn")
    try:
        conn = psycopg.connect(
            dsn, password=system.connector_secret or None, connect_timeout=CONNECT_TIMEOUT_SECONDS, autocommit=True
        )
    except psycopg.Error as exc:
        raise ConnectorError(f"Cannot connect to PostgreSQL for {system.slug}: {str(exc).strip()}") from exc
    rows = []
    with conn:
        roles = conn.execute(PG_ROLES_SQL).fetchall()
        for name, login, superuser, createrole, createdb, replication, bypassrls, member_of in roles:
            flags = [
                ("login", login, False),
                ("superuser", superuser, True),
                ("createrole", createrole, True),
                ("createdb", createdb, False),
                ("replication", replication, True),
                ("bypassrls", bypassrls, True),
            ]
            for entitlement, held, privileged in flags:
                if held:
                    rows.append(GrantRow(account=name, entitlement=entitlement, privileged=privileged))
            for group in member_of:
                rows.append(GrantRow(account=name, entitlement=f"member:{group}", privileged=False))
        for database, role, privilege in conn.execute(PG_DATABASE_ACL_SQL).fetchall():
            rows.append(GrantRow(account=role, entitlement=f"database:{database}:{privilege}"))
        for database, schema, role, privilege in conn.execute(PG_SCHEMA_ACL_SQL).fetchall():
            rows.append(GrantRow(account=role, entitlement=f"schema:{database}.{schema}:{privilege}"))
    return _dedupe(rows)


def pull_ldap(system) -> list[GrantRow]:
    """Group memberships under the base DN (groupOfNames, groupOfUniqueNames, posixGroup)."""
    import ldap3
    from ldap3.core.exceptions import LDAPException

    url = _setting(system, "url")
    base_dn = _setting(system, "base_dn")
    bind_dn = (system.connector_settings or {}).get("bind_dn") or None
    privileged_groups = set((system.connector_settings or {}).get("privileged_groups") or [])
    try:
        server = ldap3.Server(url, connect_timeout=CONNECT_TIMEOUT_SECONDS, get_info=ldap3.NONE)
        conn = ldap3.Connection(
            server,
            user=bind_dn,
            password=system.connector_secret or None,
            auto_bind=True,
            receive_timeout=CONNECT_TIMEOUT_SECONDS,
            read_only=True,
        )
    except LDAPException as exc:
        raise ConnectorError(f"Cannot bind to LDAP {url} for {system.slug}: {exc}") from exc
    try:
        people = {}
        conn.search(
            base_dn,
            "(|(objectClass=inetOrgPerson)(objectClass=posixAccount))",
            attributes=["uid", "mail"],
            paged_size=500,
        )
        for entry in conn.entries:
            uid = entry.uid.value if "uid" in entry else None
            mail = entry.mail.value if "mail" in entry else None
            people[entry.entry_dn.lower()] = (uid or entry.entry_dn, (mail or "").lower())
            if uid:
                people[f"uid:{uid}".lower()] = (uid, (mail or "").lower())
        conn.search(
            base_dn,
            "(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames)(objectClass=posixGroup))",
            attributes=["cn", "member", "uniqueMember", "memberUid"],
            paged_size=500,
        )
        rows = []
        for entry in conn.entries:
            cn = entry.cn.value if "cn" in entry else entry.entry_dn
            cn = cn[0] if isinstance(cn, list) else cn
            members = []
            for attr in ("member", "uniqueMember"):
                if attr in entry:
                    members.extend(people.get(dn.lower(), (dn, "")) for dn in entry[attr].values)
            if "memberUid" in entry:
                members.extend(people.get(f"uid:{uid}".lower(), (uid, "")) for uid in entry.memberUid.values)
            for account, email in members:
                if not account:
                    continue
                rows.append(
                    GrantRow(
                        account=account, email=email, entitlement=f"group:{cn}", privileged=cn in privileged_groups
                    )
                )
    except LDAPException as exc:
        raise ConnectorError(f"LDAP search under {base_dn} failed for {system.slug}: {exc}") from exc
    finally:
        conn.unbind()
    return _dedupe(rows)


def _dedupe(rows: list[GrantRow]) -> list[GrantRow]:
    seen = {}
    for row in rows:
        seen.setdefault(row.key, row)
    return list(seen.values())


connectors.register(Connector.VIGIL, pull_vigil)
connectors.register(Connector.POSTGRESQL, pull_postgresql)
connectors.register(Connector.LDAP, pull_ldap)
