"""Settings for the test suite: the production settings with test-only keys.

DATABASE_URL and REDIS_URL pass through, so the same suite runs on SQLite and,
in CI, on PostgreSQL and Redis.
"""

import os

os.environ.setdefault("DJANGO_DEBUG", "false")
os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-secret-key-not-for-production-use-0123456789")
# Fixed test keys (a Fernet key and a raw Ed25519 seed), never used outside tests.
os.environ.setdefault("FIELD_ENCRYPTION_KEY", "dGVzdC1vbmx5LWZpZWxkLWVuY3J5cHRpb24ta2V5LTA=")
os.environ.setdefault("AUDIT_SIGNING_KEY", "dGVzdC1vbmx5LWF1ZGl0LXNpZ25pbmcta2V5LTAxMjM=")
os.environ.setdefault("DJANGO_SECURE_SSL_REDIRECT", "false")

from config.settings import *  # noqa: F403
from config.settings import DATABASES, VAR_DIR

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
ALLOWED_HOSTS = ["*"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
MEDIA_ROOT = VAR_DIR / "test-media"
STATIC_ROOT = VAR_DIR / "test-static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
# Every dashboard view renders every panel: a test that changes data sees it (the caching test pins its own).
DASHBOARD_PANEL_CACHE_SECONDS = 0
# Tests run inside a transaction that never commits; the needs-you caching tests pin their own.
NEEDS_YOU_CACHE_SECONDS = 0
# Browser and admin tests log in with a password; the second-factor tests pin these themselves.
MFA_REQUIRED_GROUPS: list[str] = []
MFA_REQUIRE_SUPERUSERS = False
# Per-process cache: tests must never flush a shared Redis (the broker lives there).
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# Live-server threads must not keep connections open past a test (they block dropping the test DB).
DATABASES["default"]["CONN_MAX_AGE"] = 0
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not :memory:, so that a real worker process can share the test database.
    # VIGIL_TEST_SQLITE names another file so that two checkouts' suites can run side by side.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / os.environ.get("VIGIL_TEST_SQLITE", "test-vigil.sqlite3"))}
