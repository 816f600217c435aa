"""Vigil settings, read from the environment (django-environ).

Production runs with DJANGO_DEBUG=false and must provide every secret; a missing
one stops the process with a single line naming the variable. With debug on
(`make run`), secrets that are not given are generated once under var/ so that a
fresh checkout starts without anybody inventing a password.
"""

import base64
import secrets
import sys
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()

DEBUG = env.bool("DJANGO_DEBUG", default=False)


def _missing(name: str) -> None:
    # One line, no traceback: the operator needs the variable's name, nothing else.
    sys.stderr.write(f"vigil: {name} must be set when DJANGO_DEBUG is false\n")
    raise SystemExit(1)


def _dev_secret(name: str, make) -> str:
    """A secret generated once per checkout for debug runs, kept under var/."""
    VAR_DIR.mkdir(exist_ok=True)
    path = VAR_DIR / f".{name.lower()}"
    if not path.exists():
        path.write_text(make())
        path.chmod(0o600)
    return path.read_text().strip()


def _secret(name: str, make) -> str:
    value = env.str(name, default="")
    if value:
        return value
    if not DEBUG:
        _missing(name)
    return _dev_secret(name, make)


def _new_fernet_key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def _new_ed25519_key() -> str:
    # Raw 32-byte private key, base64: short enough for an environment variable.
    return base64.b64encode(secrets.token_bytes(32)).decode()


SECRET_KEY = _secret("DJANGO_SECRET_KEY", lambda: secrets.token_urlsafe(50))
FIELD_ENCRYPTION_KEY = _secret("FIELD_ENCRYPTION_KEY", _new_fernet_key)
AUDIT_SIGNING_KEY = _secret("AUDIT_SIGNING_KEY", _new_ed25519_key)

ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1"])
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
HOLIDAY_COUNTRY = env.str("HOLIDAY_COUNTRY", default="") or None
ALERT_ALLOW_PRIVATE_URLS = env.bool("ALERT_ALLOW_PRIVATE_URLS", default=False)
METRICS_PUBLIC = env.bool("METRICS_PUBLIC", default=False)

# Vigil's own public address, used for links in notifications.
VIGIL_BASE_URL = env.str("VIGIL_BASE_URL", default="http://127.0.0.1:8000")

INSTALLED_APPS = [
    "config.apps.VigilAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "django_object_actions",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "axes",
    "django_prometheus",
    "csp",
    "governance",
    "alerting",
    "incidents",
    "runbooks",
    "backups",
    "access_reviews",
    "changes",
    "slos",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "governance.middleware.RequestContextMiddleware",
    "governance.middleware.ApiErrorFormatMiddleware",
    # Writes under /api/: per-address rate (429, not the inbound webhooks), JSON only (415), size (413).
    "governance.api.write_guard.ApiWriteGuardMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    # A session still waiting for its second factor is anonymous outside the admin (the API, /health).
    "governance.mfa.MfaSessionMiddleware",
    # Turns a lockout into the login page with its message; inside the others, so they see that page.
    "axes.middleware.AxesMiddleware",
    "governance.middleware.AuditActorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'vigil.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    VAR_DIR.mkdir(exist_ok=True)
    # WAL lets web, worker and beat share the file; IMMEDIATE avoids
    # "database is locked" on the read-then-write upgrade.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        }
    )
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DATABASE_CONN_MAX_AGE", default=60))
    # Off by default: the check costs a round trip on every request's first query.
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = env.bool("DATABASE_CONN_HEALTH_CHECKS", default=False)
# The release gate's read runs as a server-side prepared statement (governance.db_prepared); turn off
# behind a pooler in transaction mode that does not carry prepared statements (PgBouncer before 1.21).
DATABASE_PREPARED_STATEMENTS = env.bool("DATABASE_PREPARED_STATEMENTS", default=True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Axes first: it refuses a locked user name before any password is checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-gb"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(VAR_DIR / "media")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# Bodies above this are refused with 413 (alert payloads, snapshots).
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=5 * 1024 * 1024)

# --- Security -------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if not DEBUG:
    SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
    # Health probes and scrapes come over plain HTTP from inside the network.
    SECURE_REDIRECT_EXEMPT = [r"^health", r"^metrics$"]
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])
# No inline script or style anywhere: every page's code and looks come from static files. The one
# exception, the API docs page, widens its own policy (config/urls.py), never this one.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}

# --- Celery -----------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
BROKER_DIR = Path(env.str("CELERY_FILESYSTEM_BROKER_DIR", default=str(VAR_DIR / "broker")))
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    # kombu's Redis transport, except that a worker reconnects after Redis goes away (see config/broker.py).
    CELERY_BROKER_TRANSPORT = "config.broker:Transport"
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
else:
    # Embedded default: kombu's filesystem transport, no server needed.
    (BROKER_DIR / "queue").mkdir(parents=True, exist_ok=True)
    (BROKER_DIR / "processed").mkdir(parents=True, exist_ok=True)
    (BROKER_DIR / "control").mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
    }
CELERY_BROKER_CONNECTION_TIMEOUT = 3
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_TIME_LIMIT = 5 * 60
CELERY_TASK_SOFT_TIME_LIMIT = 4 * 60
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_WORKER_SEND_TASK_EVENTS = False
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# A publish must not hang a web request when the broker is down: the outbox
# sweepers re-dispatch whatever could not be queued.
CELERY_BROKER_TRANSPORT_OPTIONS.update({"max_retries": 1, "interval_start": 0, "interval_step": 0.2})
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2}

# --- API ----------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "governance.api.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["governance.api.permissions.HasScope"],
    "DEFAULT_PARSER_CLASSES": ["governance.api.parsers.JSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PAGINATION_CLASS": "governance.api.pagination.VigilPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "governance.api.errors.exception_handler",
    # `api_key`: every request per API key (a DRF throttle); `api_ip`: writes per client address, whoever
    # sends them (governance.api.write_guard, before authentication). The inbound webhooks are outside both.
    # A rate of "" turns that limit off.
    "DEFAULT_THROTTLE_RATES": {
        "api_key": env.str("API_RATE_LIMIT", default="600/min") or None,
        "api_ip": env.str("API_IP_RATE_LIMIT", default="1200/min") or None,
    },
    "DEFAULT_THROTTLE_CLASSES": ["governance.api.throttling.ApiKeyRateThrottle"],
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Vigil API",
    "DESCRIPTION": "Incidents, alert ingestion, backups and access reviews. "
    "Authenticate with `Authorization: Bearer <api key>`.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "governance.api.schema.add_webhooks",
        "governance.api.schema.add_error_responses",
    ],
    "ENUM_NAME_OVERRIDES": {
        "IncidentStatusEnum": "incidents.choices.IncidentStatus",
        "AlertStatusEnum": "incidents.choices.AlertStatus",
        "TimelineEventKindEnum": "incidents.choices.EventKind",
        "ChangeKindEnum": "changes.choices.ChangeKind",
        "ChangeStatusEnum": "changes.choices.ChangeStatus",
        "ChangeRiskEnum": "changes.choices.ChangeRisk",
        "DeploymentStatusEnum": "changes.choices.DeploymentStatus",
        "BackupRunStatusEnum": "backups.choices.RunStatus",
        "BackupRunKindEnum": "backups.choices.RunKind",
    },
}

CACHES = {
    "default": (
        # django-redis keeps one client per process; Django's own backend builds one per call.
        {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            # A Redis that hangs must not hang requests: the rate limits fail open, the dashboard renders
            # its panels fresh (each caller handles the error).
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 1, "SOCKET_TIMEOUT": 1},
        }
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

EMAIL_BACKEND = env.str(
    "EMAIL_BACKEND",
    default="django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="vigil@localhost")
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO").upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # Django's own loggers answer to LOG_LEVEL too (its defaults keep them at INFO whatever the root's
        # level, so every 4xx was logged as a warning), through the one console handler: none of Django's
        # own handlers, which printed twice under DEBUG.
        "django": {"handlers": [], "level": LOG_LEVEL},
        # django-axes tells every login at INFO; failures, locks and unlocks are audit events already.
        "axes": {"level": "WARNING"},
    },
}

# --- Alerting (notification outbox) ---------------------------------------------------
ALERT_DELIVERY_MAX_ATTEMPTS = env.int("ALERT_DELIVERY_MAX_ATTEMPTS", default=5)
ALERT_DELIVERY_TIMEOUT = env.float("ALERT_DELIVERY_TIMEOUT", default=10.0)  # seconds per HTTP call
ALERT_DELIVERY_BACKOFF_BASE = env.float("ALERT_DELIVERY_BACKOFF_BASE", default=10.0)  # seconds, doubled per attempt
ALERT_DELIVERY_BACKOFF_MAX = env.float("ALERT_DELIVERY_BACKOFF_MAX", default=900.0)
# The sweeper re-dispatches pending rows this long past their due time (their task was lost).
ALERT_SWEEP_GRACE_SECONDS = env.int("ALERT_SWEEP_GRACE_SECONDS", default=60)

# --- Incidents: Alertmanager label mapping (CONTRACTS.md "Alert ingestion") ---------------
# severity label value → SEV; "warning" follows ALERTMANAGER_WARNING_SEVERITY; unknown → the default.
ALERTMANAGER_SEVERITY_LABEL = env.str("ALERTMANAGER_SEVERITY_LABEL", default="severity")
ALERTMANAGER_WARNING_SEVERITY = env.str("ALERTMANAGER_WARNING_SEVERITY", default="SEV2")
ALERTMANAGER_DEFAULT_SEVERITY = env.str("ALERTMANAGER_DEFAULT_SEVERITY", default="SEV3")
# Extra or overriding label values, e.g. ALERTMANAGER_SEVERITY_MAP="page=SEV1,ticket=SEV3".
ALERTMANAGER_SEVERITY_MAP: dict[str, str] = env.dict("ALERTMANAGER_SEVERITY_MAP", default={})
# service label value → Service slug (unknown → the "unassigned" service); aliases map label values to slugs.
ALERTMANAGER_SERVICE_LABEL = env.str("ALERTMANAGER_SERVICE_LABEL", default="service")
ALERTMANAGER_SERVICE_MAP: dict[str, str] = env.dict("ALERTMANAGER_SERVICE_MAP", default={})  # e.g. "pay=checkout-api"
# Webhook bodies above this are refused with 413 (never above DATA_UPLOAD_MAX_MEMORY_SIZE).
ALERTMANAGER_MAX_BODY_BYTES = env.int("ALERTMANAGER_MAX_BODY_BYTES", default=DATA_UPLOAD_MAX_MEMORY_SIZE)

# --- Console --------------------------------------------------------------------------------
# Dashboard panels that look the same to everyone allowed to see them (aggregates, charts, health)
# are rendered at most once per this many seconds and shared; per-person panels are always fresh.
# 0 renders every panel on every view.
DASHBOARD_PANEL_CACHE_SECONDS = env.int("DASHBOARD_PANEL_CACHE_SECONDS", default=30)
# A person's "Needs you now" items are kept this long, unless a write to what they are read from
# commits first (then they are collected again at once); what changes with the clock alone (who is
# on call, an expired request) shows within this many seconds. 0 collects them on every view.
NEEDS_YOU_CACHE_SECONDS = env.int("NEEDS_YOU_CACHE_SECONDS", default=30)

# --- Runbooks ---------------------------------------------------------------------------
# Whether a runbook version's author may also approve (publish) it; off: a second person must.
RUNBOOK_SELF_APPROVAL = env.bool("RUNBOOK_SELF_APPROVAL", default=False)

# --- Changes -----------------------------------------------------------------------------
# A deployment followed by a SEV1/SEV2 on its service within this many minutes is flagged suspect.
CHANGES_WATCH_MINUTES = env.int("CHANGES_WATCH_MINUTES", default=60)
# An emergency change must be approved (after the fact) within this many hours of submission.
CHANGES_EMERGENCY_APPROVAL_HOURS = env.float("CHANGES_EMERGENCY_APPROVAL_HOURS", default=24.0)
# The release gate also refuses while an open incident on the service has breached its ack deadline.
CHANGES_GATE_ACK_BREACH = env.bool("CHANGES_GATE_ACK_BREACH", default=False)

# --- Login protection: lockout (django-axes) and a second factor (django-otp) ------------------
# AXES_FAILURE_LIMIT wrong passwords lock the user name (not the address: people share NAT) until an
# Ops Admin unlocks it (admin: Axes › Access attempts › "Unlock"). AXES_COOLOFF_HOURS > 0 unlocks on
# its own after that long without a failure; 0, the default, keeps the lock until someone unlocks it.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=10)
AXES_LOCKOUT_PARAMETERS = ["username"]
AXES_COOLOFF_TIME = env.float("AXES_COOLOFF_HOURS", default=0) or None
AXES_RESET_ON_SUCCESS = True  # failures count towards a lock only until the next good login
AXES_VERBOSE = False  # no banner on every manage.py command
AXES_LOCKOUT_CALLABLE = "governance.login_protection.lockout_response"
AXES_PERMALOCK_MESSAGE = "This account is locked after too many failed logins; an Ops Admin can unlock it."
# axes.W006 asks for the client address among the lockout parameters: it fears a lock on user agent or
# cookie alone, which rotating them escapes. A user name cannot be rotated, and locking addresses
# would lock out everybody behind one NAT.
SILENCED_SYSTEM_CHECKS = ["axes.W006"]
# Admin logins of these groups (and of superusers) need a TOTP code when debug is off; a member without
# a device enrols by QR code at the next login. Empty values are ignored ("" turns the groups off).
_mfa_groups = env.list("MFA_REQUIRED_GROUPS", default=["Ops Admin", "Compliance Manager"])
MFA_REQUIRED_GROUPS = [name.strip() for name in _mfa_groups if name.strip()]
MFA_REQUIRE_SUPERUSERS = env.bool("MFA_REQUIRE_SUPERUSERS", default=True)
OTP_TOTP_ISSUER = "Vigil"
OTP_ADMIN_HIDE_SENSITIVE_DATA = True  # the device admin never shows a key or its QR code

# --- Security signals (governance.security) --------------------------------------------------------------
# Refused logins, lockouts, refused API keys, scopes and roles are security events; when this many happen
# within the last SECURITY_ALERT_WINDOW_SECONDS, `security.auth_failures` is routed once per window
# (windows aligned to the clock). A threshold of 0 records the events but never notifies.
SECURITY_ALERT_THRESHOLD = env.int("SECURITY_ALERT_THRESHOLD", default=20)
SECURITY_ALERT_WINDOW_SECONDS = env.int("SECURITY_ALERT_WINDOW_SECONDS", default=300)
