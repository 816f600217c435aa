"""Roles are Django groups with permission sets, created and extended by data migrations.

Each app's migration calls `grant_permissions` for its own models:

    migrations.RunPython(grant_incident_roles, migrations.RunPython.noop)

    def grant_incident_roles(apps, schema_editor):
        grant_permissions(apps, {Role.RESPONDER: ["incidents.view_incident"]})
"""

from django.contrib.auth.management import create_permissions

from .choices import Role


def _ensure_permissions(apps) -> None:
    # Permissions are normally created after migrations (post_migrate); a data
    # migration that grants them must create them first.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None


def grant_permissions(apps, grants: dict[str, list[str]]) -> None:
    """Add permissions ("app_label.codename") to role groups, creating the groups if needed."""
    _ensure_permissions(apps)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, perms in grants.items():
        group, _ = Group.objects.get_or_create(name=str(role))
        for perm in perms:
            app_label, codename = perm.split(".", 1)
            group.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))


def create_roles(apps) -> None:
    Group = apps.get_model("auth", "Group")
    for role in Role:
        Group.objects.get_or_create(name=role.value)


def model_permissions(app_label: str, model: str, actions=("view", "add", "change", "delete")) -> list[str]:
    return [f"{app_label}.{action}_{model}" for action in actions]
