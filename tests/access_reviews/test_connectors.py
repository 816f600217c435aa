"""Connectors against real servers: the local PostgreSQL and a slapd this test starts."""

import shutil
import socket
import subprocess
import time
import uuid

import psycopg
import pytest

from access_reviews import services
from access_reviews.choices import Decision, ImportStatus, RemediationStatus
from access_reviews.models import AccessGrant, Remediation
from tests.conftest import _port_open, need

from .factories import SystemFactory

pytestmark = pytest.mark.django_db

PG_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- Vigil itself ---------------------------------------------------------------------------


def test_vigil_connector_reviews_vigils_own_users(org):
    org["alice"].is_superuser = True
    org["alice"].save()
    system = SystemFactory(slug="vigil", name="Vigil", owner=org["owner"], connector="vigil")
    record = services.system_pull(system=system)
    assert record.status == ImportStatus.SUCCEEDED
    alice = set(AccessGrant.objects.filter(system=system, account="alice").values_list("entitlement", "privileged"))
    assert ("superuser", True) in alice and ("login", False) in alice
    assert ("group:Access Reviewer", False) in alice
    assert AccessGrant.objects.get(system=system, account="alice", entitlement="login").identity.user == org["alice"]


# --- PostgreSQL ------------------------------------------------------------------------------


@pytest.fixture
def pg_role():
    need(_port_open("127.0.0.1", 5432), "no PostgreSQL on 127.0.0.1:5432")
    name = f"vigil_ar_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE ROLE "{name}" LOGIN CREATEROLE')
    yield name
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'DROP ROLE IF EXISTS "{name}"')


def test_postgresql_connector_sees_a_role_and_its_drop_verifies_the_revoke(org, pg_role):
    system = SystemFactory(
        slug="local-pg",
        name="Local PostgreSQL",
        owner=org["owner"],
        connector="postgresql",
        connector_settings={"dsn": PG_ADMIN_DSN},
    )
    org["template"].systems.set([system])
    first = services.system_pull(system=system)
    assert first.status == ImportStatus.SUCCEEDED, first.error
    held = dict(AccessGrant.objects.filter(system=system, account=pg_role).values_list("entitlement", "privileged"))
    assert held == {"login": False, "createrole": True}
    assert AccessGrant.objects.filter(system=system, account="postgres", entitlement="superuser").exists()

    campaign = services.campaign_launch(template=org["template"], period="pg")
    item = campaign.items.get(account=pg_role, entitlement="createrole")
    services.item_decide(item=item, reviewer=item.reviewer, decision=Decision.REVOKE, justification="Not needed")
    remediation = Remediation.objects.get(item=item)

    again = services.system_pull(system=system)  # still there: stays open
    remediation.refresh_from_db()
    assert again.status == ImportStatus.SUCCEEDED and remediation.status == RemediationStatus.OPEN

    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'DROP ROLE "{pg_role}"')
    after = services.system_pull(system=system)
    remediation.refresh_from_db()
    assert remediation.status == RemediationStatus.VERIFIED
    assert remediation.verified_by_import == after and after.removed >= 2
    assert not AccessGrant.objects.filter(system=system, account=pg_role).exists()


def test_postgresql_connector_reads_explicit_database_privileges(org, pg_role):
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'GRANT CREATE ON DATABASE postgres TO "{pg_role}"')
    try:
        system = SystemFactory(
            slug="local-pg2", owner=org["owner"], connector="postgresql", connector_settings={"dsn": PG_ADMIN_DSN}
        )
        services.system_pull(system=system)
        assert AccessGrant.objects.filter(
            system=system, account=pg_role, entitlement="database:postgres:CREATE"
        ).exists()
    finally:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'REVOKE CREATE ON DATABASE postgres FROM "{pg_role}"')


def test_postgresql_connector_with_wrong_password_records_failure_and_keeps_grants(org):
    need(_port_open("127.0.0.1", 5432), "no PostgreSQL on 127.0.0.1:5432")
    system = SystemFactory(
        slug="pg-bad",
        owner=org["owner"],
        connector="postgresql",
        connector_settings={"dsn": "postgresql://nobody_here@127.0.0.1:5432/nope"},
        connector_secret="wrong",
    )
    AccessGrant.objects.create(system=system, account="kept", entitlement="login")
    record = services.system_pull(system=system)
    assert record.status == ImportStatus.FAILED and record.error
    assert AccessGrant.objects.filter(system=system, account="kept").exists()


# --- LDAP (a real slapd from Debian's packages) --------------------------------------------------

SLAPD_CONF = """
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
pidfile {dir}/slapd.pid
modulepath /usr/lib/ldap
moduleload back_mdb
database mdb
maxsize 10485760
suffix "dc=example,dc=com"
rootdn "cn=admin,dc=example,dc=com"
rootpw {password}
directory {dir}/db
"""

DATA = """
dn: dc=example,dc=com
objectClass: dcObject
objectClass: organization
o: Example
dc: example

dn: ou=people,dc=example,dc=com
objectClass: organizationalUnit
ou: people

dn: ou=groups,dc=example,dc=com
objectClass: organizationalUnit
ou: groups

dn: uid=carol,ou=people,dc=example,dc=com
objectClass: inetOrgPerson
uid: carol
cn: Carol
sn: C
mail: carol@example.com

dn: uid=erin,ou=people,dc=example,dc=com
objectClass: inetOrgPerson
uid: erin
cn: Erin
sn: E
mail: erin@example.com

dn: cn=admins,ou=groups,dc=example,dc=com
objectClass: groupOfNames
cn: admins
member: uid=carol,ou=people,dc=example,dc=com

dn: cn=developers,ou=groups,dc=example,dc=com
objectClass: groupOfNames
cn: developers
member: uid=carol,ou=people,dc=example,dc=com
member: uid=erin,ou=people,dc=example,dc=com

dn: cn=ops,ou=groups,dc=example,dc=com
objectClass: posixGroup
cn: ops
gidNumber: 5000
memberUid: erin
"""


@pytest.fixture
def slapd(tmp_path):
    need(shutil.which("slapd") or shutil.os.path.exists("/usr/sbin/slapd"), "slapd is not installed")
    need(shutil.which("ldapadd"), "ldapadd (ldap-utils) is not installed")
    password = uuid.uuid4().hex
    (tmp_path / "db").mkdir()
    conf = tmp_path / "slapd.conf"
    conf.write_text(SLAPD_CONF.format(dir=tmp_path, password=password))
    port = _free_port()
    url = f"ldap://127.0.0.1:{port}"
    proc = subprocess.Popen(
        ["/usr/sbin/slapd", "-f", str(conf), "-h", f"{url}/", "-d", "0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 15
        while not _port_open("127.0.0.1", port):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"slapd did not start: {proc.stderr.read().decode()[-2000:]}")
            time.sleep(0.1)
        (tmp_path / "data.ldif").write_text(DATA)
        subprocess.run(
            [
                "ldapadd",
                "-x",
                "-H",
                url,
                "-D",
                "cn=admin,dc=example,dc=com",
                "-w",
                password,
                "-f",
                str(tmp_path / "data.ldif"),
            ],
            check=True,
            capture_output=True,
        )
        yield {"url": url, "bind_dn": "cn=admin,dc=example,dc=com", "password": password}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _ldap_system(org, slapd, password=None):
    return SystemFactory(
        slug="corp-ldap",
        name="Corporate LDAP",
        owner=org["owner"],
        connector="ldap",
        connector_settings={
            "url": slapd["url"],
            "bind_dn": slapd["bind_dn"],
            "base_dn": "dc=example,dc=com",
            "privileged_groups": ["admins"],
        },
        connector_secret=password or slapd["password"],
    )


def test_ldap_connector_pulls_group_memberships_from_slapd(org, slapd):
    system = _ldap_system(org, slapd)
    record = services.system_pull(system=system)
    assert record.status == ImportStatus.SUCCEEDED, record.error
    grants = set(AccessGrant.objects.filter(system=system).values_list("account", "entitlement", "privileged"))
    assert grants == {
        ("carol", "group:admins", True),
        ("carol", "group:developers", False),
        ("erin", "group:developers", False),
        ("erin", "group:ops", False),
    }
    carol = AccessGrant.objects.get(system=system, account="carol", entitlement="group:admins")
    assert carol.identity.user == org["carol"]


def test_ldap_removed_membership_verifies_the_revoke(org, slapd):
    system = _ldap_system(org, slapd)
    org["template"].systems.set([system])
    services.system_pull(system=system)
    campaign = services.campaign_launch(template=org["template"], period="ldap")
    item = campaign.items.get(account="carol", entitlement="group:developers")
    services.item_decide(item=item, reviewer=item.reviewer, decision=Decision.REVOKE, justification="Moved team")
    services.system_pull(system=system)  # still a member: stays open
    assert Remediation.objects.get(item=item).status == RemediationStatus.OPEN
    subprocess.run(
        ["ldapmodify", "-x", "-H", slapd["url"], "-D", slapd["bind_dn"], "-w", slapd["password"]],
        input=b"dn: cn=developers,ou=groups,dc=example,dc=com\nchangetype: modify\ndelete: member\n"
        b"member: uid=carol,ou=people,dc=example,dc=com\n",
        check=True,
        capture_output=True,
    )
    record = services.system_pull(system=system)
    assert record.remediations_verified == 1
    assert Remediation.objects.get(item=item).status == RemediationStatus.VERIFIED


def test_ldap_bad_bind_password_records_failure_and_keeps_grants(org, slapd):
    system = _ldap_system(org, slapd)
    services.system_pull(system=system)
    before = AccessGrant.objects.filter(system=system).count()
    system.connector_secret = "wrong-password"
    system.save()
    record = services.system_pull(system=system)
    assert record.status == ImportStatus.FAILED and "bind" in record.error.lower()
    assert AccessGrant.objects.filter(system=system).count() == before == 4
