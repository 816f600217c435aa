"""The role matrix: every URL the URLconf produces, requested as every role, against role_matrix's table.

The URLs come from walking the resolver, so a new page cannot escape: test_every_url_has_a_row fails
naming a URL that has neither a rule nor a row. Each role is a user in the group the migrations made
(plus a staff user without a role, and an anonymous visitor). The data is seeded once for the module
inside a transaction that is rolled back at the end; each request runs in a savepoint that is rolled
back too, so an allowed write never changes what the next role sees.
"""

import re
from dataclasses import dataclass

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.db import transaction
from django.forms.models import model_to_dict
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from governance.choices import Role
from tests.factories import person

from .role_matrix import (
    ADMIN_VIEWS,
    ANONYMOUS,
    BULK_ACTIONS,
    GET_TOOLS,
    MODEL_ADMIN_EXCEPTIONS,
    NO_ROLE,
    OBJECT_ACTIONS,
    OTHER_VIEWS,
    ROLES,
    Needs,
    Request,
    needs,
)

MODEL_KINDS = ("changelist", "add", "change", "delete", "history")
LOGIN = "/admin/login/"


# --- the URLs, from the resolver ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Url:
    route: str  # the pattern as the resolver joins it, e.g. admin/incidents/incident/<path:object_id>/change/
    key: str  # the URL name, or for a ModelAdmin's own URLs "model:kind"
    model: str | None = None  # app_label.model_name for a ModelAdmin's URLs
    kind: str | None = None


def _walk(patterns, prefix="", namespace=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            ns = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern), ns)
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern), f"{namespace}{pattern.name}" if pattern.name else None


def _model_admin_prefixes() -> dict[str, str]:
    return {f"admin/{m._meta.app_label}/{m._meta.model_name}/": m._meta.label_lower for m in admin.site._registry}


def discover_urls() -> list[Url]:
    prefixes = _model_admin_prefixes()
    urls = []
    for route, name in _walk(get_resolver().url_patterns):
        model = next((label for prefix, label in prefixes.items() if route.startswith(prefix)), None)
        kind = None
        if model is not None:
            app_label, model_name = model.split(".")
            base = f"admin:{app_label}_{model_name}_"
            if name and name.startswith(base) and name.removeprefix(base) in MODEL_KINDS:
                kind = name.removeprefix(base)
            elif name == f"{base}actions":
                kind = "object_actions" if "(?P<pk>" in route else "changelist_actions"
            elif name is None and route.endswith("<path:object_id>/"):
                kind = "redirect"  # Django's old-style object URL, redirecting to the change page
        if kind is not None:
            urls.append(Url(route, f"{model}:{kind}", model, kind))
        elif name == "admin:app_list":
            urls.append(Url(route, name, kind="app_list"))
        elif name is None and route == "admin/(?P<url>.*)$":
            urls.append(Url(route, "admin:(catch-all)"))
        else:
            urls.append(Url(route, name or f"(unnamed) {route}"))
    return urls


URLS = discover_urls()
ROWS = {**ADMIN_VIEWS, **OTHER_VIEWS}


def test_every_url_has_a_row():
    """A URL the URLconf produces but the matrix does not know fails here, by route and name."""
    missing = [f"{url.route} ({url.key})" for url in URLS if url.kind is None and url.key not in ROWS]
    assert not missing, "URLs without a row in tests/governance/role_matrix.py:\n" + "\n".join(missing)


def test_every_row_names_a_url():
    known = {url.key for url in URLS}
    assert not set(ROWS) - known, f"rows for URLs that no longer exist: {sorted(set(ROWS) - known)}"


def test_every_object_action_and_bulk_action_has_a_row():
    missing = []
    for model, model_admin in admin.site._registry.items():
        label = model._meta.label_lower
        for tool in [*getattr(model_admin, "change_actions", []), *getattr(model_admin, "changelist_actions", [])]:
            if (label, tool) not in OBJECT_ACTIONS:
                missing.append(f"object action {label} {tool}")
        for action in model_admin.actions or ():
            name = action if isinstance(action, str) else action.__name__
            if (label, name) not in BULK_ACTIONS:
                missing.append(f"bulk action {label} {name}")
    assert not missing, "\n".join(missing)


def test_the_matrix_knows_every_role_the_migrations_made(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        groups = set(Group.objects.values_list("name", flat=True))
    assert groups == {str(role) for role in Role}, "a group without a column in the role matrix (ROLES)"


# --- the world: demo data, one object per model, one signed-in client per role ------------------------------
@dataclass
class World:
    perms: dict[str, frozenset[str] | None]  # role -> its permissions (None: anonymous)
    users: dict[str, object]
    cookies: dict[str, str]
    args: dict[str, str]  # argument name in role_matrix -> value

    def client(self, role: str) -> Client:
        client = Client()
        if role != ANONYMOUS:
            client.cookies["sessionid"] = self.cookies[role]
        return client


def _seed_missing_objects(users) -> None:
    """Objects the demo seeder leaves out but whose pages the matrix must open."""
    from django.apps import apps

    from alerting.models import CalendarFeed, OnCallRotation
    from changes.models import ChangeCalendarFeed
    from governance.chain import audit_seal_all
    from governance.services import api_key_create
    from runbooks.models import Runbook, RunbookExecution

    api_key_create(name="role matrix", scopes=["incidents:read"])
    CalendarFeed.objects.create(rotation=OnCallRotation.objects.order_by("pk").first())
    ChangeCalendarFeed.objects.create(name="role matrix")
    runbook = Runbook.objects.exclude(current_version=None).order_by("pk").first()
    RunbookExecution.objects.create(runbook=runbook, version=runbook.current_version, purpose="drill")
    audit_seal_all()
    if apps.is_installed("django_otp.plugins.otp_totp"):
        from django_otp.plugins.otp_totp.models import TOTPDevice

        TOTPDevice.objects.create(user=users[NO_ROLE], name="role matrix", confirmed=False)


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        atomic = transaction.atomic()
        atomic.__enter__()
        try:
            call_command("seed_demo", verbosity=0)
            users = {str(role): person(f"matrix-{i}", str(role)) for i, role in enumerate(Role)}
            users[NO_ROLE] = person("matrix-norole")
            _seed_missing_objects(users)
            from access_reviews.models import ReviewItem

            # The access reviewer's own item: the one whose pages the matrix opens.
            item = ReviewItem.objects.order_by("pk").first()
            ReviewItem.objects.filter(pk=item.pk).update(reviewer=users[str(Role.ACCESS_REVIEWER)])
            perms = {
                role: frozenset(
                    f"{app}.{codename}"
                    for app, codename in Permission.objects.filter(group__user=user).values_list(
                        "content_type__app_label", "codename"
                    )
                )
                for role, user in users.items()
            }
            perms[ANONYMOUS] = None
            cookies = {}
            for role, user in users.items():
                client = Client()
                client.force_login(user)
                cookies[role] = client.cookies["sessionid"].value
            args = {}
            for model in admin.site._registry:
                obj = model._default_manager.order_by("pk").first()
                args[model._meta.model_name] = str(obj.pk) if obj else "0"
                args[model._meta.label_lower] = args[model._meta.model_name]
            from alerting.models import CalendarFeed
            from changes.models import Change, ChangeCalendarFeed
            from governance.models import Service

            args["service_ct"] = str(ContentType.objects.get_for_model(Service).pk)
            args["calendarfeed_token"] = CalendarFeed.objects.get().token
            args["changecalendarfeed_token"] = ChangeCalendarFeed.objects.get().token
            args["change_reference"] = Change.objects.order_by("pk").first().reference
            args["system_slug"] = admin_slug("access_reviews.system")
            args["backuptarget_slug"] = admin_slug("backups.backuptarget")
            args["slo_slug"] = admin_slug("slos.slo")
            args["reviewitem"] = str(item.pk)
            yield World(perms, users, cookies, args)
        finally:
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)


def admin_slug(label: str) -> str:
    from django.apps import apps

    return apps.get_model(label).objects.order_by("pk").first().slug


def _request(world: World, role: str, method: str, path: str, data=None):
    client = world.client(role)
    with transaction.atomic():
        if method == "GET":
            response = client.get(path)
        elif path.startswith("/api/"):
            response = client.post(path, data or {}, content_type="application/json")
        else:
            response = client.post(path, data or {})
        transaction.set_rollback(True)
    return response


def _verdict(
    response, *, role: str, allowed: bool, path: str, allowed_status=(200, 302), refused_status=(403,)
) -> str | None:
    """None when the response is the answer the matrix expects, else what went wrong."""
    status = response.status_code
    location = response.get("Location", "")
    if allowed:
        if path.startswith("/api/") and allowed_status == (200, 302):
            # Past the permission check: a validation error or a state conflict is the endpoint's answer.
            return None if status not in (401, 403) and status < 500 else f"expected allowed, got {status}"
        # (signing out sends you to the login page: that is its allowed answer)
        if status in allowed_status and not (status == 302 and location.startswith(LOGIN) and "logout" not in path):
            return None
        return f"expected allowed {allowed_status}, got {status} {location}"
    # Pages for people (the admin, uploaded evidence) send a stranger to the login page; the rest answer 401.
    if path.startswith("/api/") or not path.startswith(("/admin/", "/media/")):
        # a staff session on a key-only endpoint (Alertmanager's) is asked for the key: 401
        expected = (401,) if role == ANONYMOUS else (401, 403)
        if status not in expected:
            return f"expected refused {expected}, got {status}"
        if path.startswith("/api/") and "error" not in response.json():
            return f"refused without the error format: {response.content[:200]!r}"
        return None
    if role == ANONYMOUS:
        if (status == 302 and location.startswith(LOGIN)) or status in refused_status:
            return None
        return f"expected the login page, got {status} {location}"
    if status in refused_status:
        return None
    return f"expected refused {refused_status}, got {status} {location}"


# --- the rule for a ModelAdmin's own URLs -------------------------------------------------------------------
def model_rule(label: str, kind: str) -> Needs:
    if (label, kind) in MODEL_ADMIN_EXCEPTIONS:
        return MODEL_ADMIN_EXCEPTIONS[(label, kind)]
    from django.apps import apps

    from governance.admin_base import ReadOnlyAdmin, VigilModelAdmin

    model_admin = admin.site._registry[apps.get_model(label)]
    app_label, model_name = label.split(".")
    perm = f"{app_label}.{{}}_{model_name}"
    read_only = isinstance(model_admin, ReadOnlyAdmin)
    evidence_like = getattr(model_admin, "evidence_like", False)
    if kind in ("changelist", "change"):
        return needs(perm.format("view"), perm.format("change"))
    if kind == "add":
        return Needs() if read_only else needs(perm.format("add"))
    if kind == "delete":
        return Needs() if evidence_like else needs(perm.format("delete"))
    if kind == "history" and not isinstance(model_admin, VigilModelAdmin):
        return needs(perm.format("view"), perm.format("change"))
    if kind == "history":  # the audit trail, or Django's history for those who cannot read the audit
        return needs("governance.view_auditevent", perm.format("view"), perm.format("change"))
    raise AssertionError(kind)


def _model_path(url: Url, world: World) -> str:
    app_label, model_name = url.model.split(".")
    pk = world.args[model_name]
    if url.kind == "changelist":
        return reverse(f"admin:{app_label}_{model_name}_changelist")
    if url.kind == "add":
        return reverse(f"admin:{app_label}_{model_name}_add")
    if url.kind == "redirect":
        return reverse(f"admin:{app_label}_{model_name}_changelist") + f"{pk}/"
    return reverse(f"admin:{app_label}_{model_name}_{url.kind}", args=[pk])


@pytest.fixture(autouse=True)
def _settings_the_table_assumes(settings):
    """The table's answers hold for these settings, whatever the shell says (CI sets METRICS_PUBLIC)."""
    settings.METRICS_PUBLIC = False


def _resolve_args(request: Request, world: World) -> dict[str, str]:
    return {name: world.args.get(value, value) for name, value in request.args.items()}


def _path_for(url: Url, request: Request, world: World) -> str:
    if url.key == "admin:(catch-all)":
        path = "/admin/no-such-page/"
    else:
        path = reverse(url.key, kwargs=_resolve_args(request, world))
    return f"{path}?{request.query}" if request.query else path


def _data_for(request: Request, world: World):
    if request.data is None:
        return None
    return {name: world.args.get(value, value) if value else value for name, value in request.data.items()}


MODEL_URLS = [url for url in URLS if url.kind in (*MODEL_KINDS, "redirect")]
OTHER_URLS = [url for url in URLS if url.kind is None and url.key in ROWS]


@pytest.mark.django_db
@pytest.mark.parametrize("url", MODEL_URLS, ids=lambda url: url.key)
def test_model_admin_url_answers_each_role_as_its_permissions_say(world, url):
    failures = []
    for role in ROLES:
        path = _model_path(url, world)
        if url.kind == "redirect":
            rule, allowed_status = Needs(staff=True), (302,)
        elif url.kind == "history" and world.args[url.model] == "0":
            # No object of this model: Django's history redirects before it asks for a permission.
            rule, allowed_status = Needs(staff=True), (302,)
        else:
            rule, allowed_status = model_rule(url.model, url.kind), (200,)
            if url.kind == "history":
                allowed_status = (200, 302)
            elif url.kind in ("change", "delete") and world.args[url.model] == "0":
                allowed_status = (302,)  # no object of this model: past the permission check, "not found"
        # An object outside the role's own rows (another reviewer's item) is not found: 404.
        refused_status = (403,) if url.kind in ("changelist", "add") else (403, 404)
        response = _request(world, role, "GET", path)
        problem = _verdict(
            response,
            role=role,
            allowed=rule.allows(world.perms[role]),
            path=path,
            allowed_status=allowed_status,
            refused_status=refused_status,
        )
        if problem:
            failures.append(f"{role}: GET {path}: {problem}")
    assert not failures, "\n".join(failures)


@pytest.mark.django_db
@pytest.mark.parametrize("url", OTHER_URLS, ids=lambda url: url.key)
def test_page_and_endpoint_answer_each_role_as_the_table_says(world, url):
    failures = []
    for request in ROWS[url.key]:
        path = _path_for(url, request, world)
        for role in ROLES:
            response = _request(world, role, request.method, path, _data_for(request, world))
            problem = _verdict(
                response,
                role=role,
                allowed=request.who.allows(world.perms[role]),
                path=path,
                allowed_status=request.allowed_status if request.who.allows(world.perms[role]) else (),
            )
            if problem:
                failures.append(f"{role}: {request.method} {path}: {problem}")
    assert not failures, "\n".join(failures)


# --- the admin index per app ---------------------------------------------------------------------------------
APP_LABELS = sorted({m._meta.app_label for m in admin.site._registry})


@pytest.mark.django_db
@pytest.mark.parametrize("app_label", APP_LABELS)
def test_app_index_opens_for_roles_with_a_permission_in_the_app(world, app_label):
    failures = []
    path = reverse("admin:app_list", kwargs={"app_label": app_label})
    for role in ROLES:
        perms = world.perms[role]
        allowed = perms is not None and any(p.startswith(f"{app_label}.") for p in perms)
        response = _request(world, role, "GET", path)
        if allowed or role == ANONYMOUS:
            problem = _verdict(response, role=role, allowed=allowed, path=path, allowed_status=(200,))
        else:  # Django answers an app the user sees nothing of with 404
            problem = None if response.status_code == 404 else f"expected 404, got {response.status_code}"
        if problem:
            failures.append(f"{role}: GET {path}: {problem}")
    assert not failures, "\n".join(failures)


# --- object actions ------------------------------------------------------------------------------------------
def _row(model, pk):
    obj = model._base_manager.filter(pk=pk).first()
    return model_to_dict(obj) if obj else None


OBJECT_TOOLS = sorted(OBJECT_ACTIONS)


@pytest.mark.django_db
@pytest.mark.parametrize("model_tool", OBJECT_TOOLS, ids=lambda mt: f"{mt[0]}:{mt[1]}")
def test_object_action_runs_only_for_roles_that_may(world, model_tool):
    from django.apps import apps

    label, tool = model_tool
    model = apps.get_model(label)
    pk = world.args[label]
    path = reverse(f"admin:{label.replace('.', '_')}_actions", kwargs={"pk": pk, "tool": tool})
    before = _row(model, pk)
    failures = []
    for role in ROLES:
        allowed = OBJECT_ACTIONS[model_tool].allows(world.perms[role])
        method = "GET" if model_tool in GET_TOOLS else "POST"
        response = _request(world, role, method, path)
        # The guard answers before the staff check: an anonymous POST is refused with 403, not sent to log in;
        # with no object of the model, the guard finds nothing: 404.
        refused = (403, 404) if pk == "0" else (403,)
        allowed_status = (200, 302, 404) if pk == "0" else (200, 302)
        problem = _verdict(
            response, role=role, allowed=allowed, path=path, allowed_status=allowed_status, refused_status=refused
        )
        if problem:
            failures.append(f"{role}: POST {path}: {problem}")
        if not allowed:
            # a refused action leaves the object as it was (each request is rolled back; check the answer did)
            assert _row(model, pk) == before
    assert not failures, "\n".join(failures)


# --- bulk actions --------------------------------------------------------------------------------------------
def _bulk_actions():
    rows = []
    for model, model_admin in admin.site._registry.items():
        label = model._meta.label_lower
        for action in model_admin.actions or ():
            rows.append((label, action if isinstance(action, str) else action.__name__))
        if "delete_selected" in dict(admin.site.actions) and model_admin.actions is not None:
            rows.append((label, "delete_selected"))
    return sorted(set(rows))


_OFFERED: dict[tuple[str, str], set[str] | None] = {}


def _offered_actions(world: World, role: str, path: str) -> set[str] | None:
    """The changelist's action menu for the role (None: the changelist refuses them); read once per module."""
    if (role, path) not in _OFFERED:
        response = _request(world, role, "GET", path)
        _OFFERED[(role, path)] = (
            {name for name, _ in response.context["action_form"].fields["action"].choices if name}
            if response.status_code == 200 and response.context["action_form"] is not None
            else set()
            if response.status_code == 200
            else None
        )
    return _OFFERED[(role, path)]


def _bulk_rule(label: str, action: str) -> Needs:
    if action == "delete_selected":
        return model_rule(label, "delete")
    return BULK_ACTIONS[(label, action)]


@pytest.mark.django_db
@pytest.mark.parametrize("model_action", _bulk_actions(), ids=lambda ma: f"{ma[0]}:{ma[1]}")
def test_bulk_action_is_offered_and_runs_only_for_roles_that_may(world, model_action):
    from django.apps import apps

    from governance.models import AuditEvent

    label, action = model_action
    model = apps.get_model(label)
    pk = world.args[label]
    path = reverse(f"admin:{label.replace('.', '_')}_changelist")
    failures = []
    for role in ROLES:
        allowed = _bulk_rule(label, action).allows(world.perms[role])
        offered = _offered_actions(world, role, path)
        if offered is not None:
            if (action in offered) != allowed:
                failures.append(f"{role}: {action} {'not ' if allowed else ''}offered on {path}")
        elif allowed:
            failures.append(f"{role}: may run {action} but cannot open {path}")
        if allowed or pk == "0":
            continue
        before, events = _row(model, pk), AuditEvent.objects.count()
        client = world.client(role)
        with transaction.atomic():
            response = client.post(path, {"action": action, "_selected_action": [pk], "post": "yes"})
            changed = _row(model, pk) != before or AuditEvent.objects.count() != events
            transaction.set_rollback(True)
        if changed:
            failures.append(f"{role}: POST {action} on {path} changed the row (answer {response.status_code})")
        # Django refuses an action it does not offer by showing the list again (200) or "no action selected" (302).
        if response.status_code not in (200, 302, 403):
            failures.append(f"{role}: POST {action} on {path}: expected a refusal, got {response.status_code}")
    assert not failures, "\n".join(failures)


# --- the contract's specific promises ------------------------------------------------------------------------
@pytest.mark.django_db
def test_a_staff_user_without_a_role_sees_only_their_profile(world):
    client = world.client(NO_ROLE)
    index = client.get(reverse("admin:index"))
    assert index.status_code == 200
    assert index.context["app_list"] == []
    assert client.get(reverse("admin:password_change")).status_code == 200
    # ...and every model URL refuses them: the matrix's rule gives a user without permissions nothing.
    assert world.perms[NO_ROLE] == frozenset()


@pytest.mark.django_db
def test_an_access_reviewer_cannot_open_an_item_assigned_to_someone_else(world):
    from access_reviews.models import ReviewItem

    reviewer = world.users[str(Role.ACCESS_REVIEWER)]
    other = ReviewItem.objects.exclude(reviewer=reviewer).order_by("pk").first()
    response = _request(
        world, str(Role.ACCESS_REVIEWER), "GET", reverse("admin:access_reviews_reviewitem_change", args=[other.pk])
    )
    assert response.status_code == 404
    api = _request(world, str(Role.ACCESS_REVIEWER), "GET", f"/api/v1/access/items/{other.pk}/")
    assert api.status_code == 404


def test_regex_routes_are_recognised():
    """The walker sees django-object-actions' regex routes as object actions, not as unnamed pages."""
    kinds = {url.kind for url in URLS if re.search(r"actions", url.route)}
    assert {"object_actions", "changelist_actions"} <= kinds
