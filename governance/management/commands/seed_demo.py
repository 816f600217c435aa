import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from governance.demo import seed_kernel
from governance.registries import demo_seeders

DEMO_ADMIN = "demo-admin"


class Command(BaseCommand):
    help = "Idempotent, realistic demo data for every app; creates the demo admin once and prints its password."

    def handle(self, *args, **options):
        User = get_user_model()
        password = None
        with transaction.atomic():
            admin = User.objects.filter(username=DEMO_ADMIN).first()
            if admin is None:
                password = secrets.token_urlsafe(12)
                admin = User.objects.create_superuser(DEMO_ADMIN, "demo-admin@example.com", password)
            seed_kernel(self.stdout)
            for name, seeder in demo_seeders.items():
                seeder(self.stdout)
                self.stdout.write(f"  demo data: {name}")
        if password:
            self.stdout.write(f"Demo admin: {DEMO_ADMIN}  password: {password}  (shown once)")
        else:
            self.stdout.write(
                f"Demo admin: {DEMO_ADMIN} (exists; its password was shown when it was created — "
                f"reset it with `manage.py changepassword {DEMO_ADMIN}`)"
            )
        self.stdout.write(f"Demo data ready: kernel and {len(demo_seeders)} app(s).")
