"""The role matrix's table: who may reach each URL the URLconf produces.

The URLs are not listed here: test_role_matrix walks the resolver. What is declared here is the
rule each kind of URL follows, in terms of the Django permissions the role groups hold as the
migrations made them:

- a ModelAdmin's changelist, change, add, delete, history and legacy-redirect URLs follow the
  role's model permissions (view/add/change/delete), narrowed where a ModelAdmin declares the
  model read-only or evidence-like, and by the documented exceptions in MODEL_ADMIN_EXCEPTIONS;
- every other URL (the admin site's own pages, custom admin views, object actions, bulk actions,
  API endpoints, health, metrics, calendar feeds) needs an explicit row below, keyed by URL name
  (or by model and action name): a new URL without a row fails the coverage test.
"""

from dataclasses import dataclass, field

from governance.choices import Role

NO_ROLE = "(staff, no role)"
ANONYMOUS = "(anonymous)"
ROLES: tuple[str, ...] = (*(str(role) for role in Role), NO_ROLE, ANONYMOUS)


@dataclass(frozen=True)
class Needs:
    """Allowed for a signed-in staff user holding every permission of `all_of` and one of `any_of`
    (an empty `any_of` asks for nothing more); `staff=True`: any staff user; `public=True`: anyone."""

    any_of: tuple[str, ...] = ()
    all_of: tuple[str, ...] = ()
    staff: bool = False
    public: bool = False

    def allows(self, perms: frozenset[str] | None) -> bool:
        if self.public:
            return True
        if perms is None:  # anonymous
            return False
        if self.staff:
            return True
        if not (self.any_of or self.all_of):
            return False
        return all(p in perms for p in self.all_of) and (not self.any_of or any(p in perms for p in self.any_of))


NOBODY = Needs()
STAFF = Needs(staff=True)
PUBLIC = Needs(public=True)


def needs(*any_of: str) -> Needs:
    return Needs(any_of=any_of)


@dataclass(frozen=True)
class Request:
    """One request the matrix makes to a URL: method, the URL's arguments (filled from the
    seeded objects by name, see test_role_matrix.ARGUMENTS), query string, body, and who may."""

    who: Needs
    method: str = "GET"
    args: dict[str, str] = field(default_factory=dict)
    query: str = ""
    data: dict | None = None
    allowed_status: tuple[int, ...] = (200, 302)


# --- the admin site's own pages and the apps' custom admin views, by URL name -------------------------
ADMIN_VIEWS: dict[str, list[Request]] = {
    # Every staff user has a dashboard, their queue, the jump box and their own password: their profile.
    "admin:index": [Request(STAFF)],
    "admin:needs_you": [Request(STAFF)],
    "admin:jump": [Request(STAFF, query="q=INC")],
    "admin:password_change": [Request(STAFF)],
    "admin:password_change_done": [Request(STAFF)],
    "admin:logout": [Request(PUBLIC, method="POST")],
    "admin:login": [Request(PUBLIC)],
    "admin:jsi18n": [Request(STAFF)],
    # Django's autocomplete answers for the remote model's view permission (here: teams, from a service).
    "admin:autocomplete": [
        Request(needs("governance.view_team"), query="app_label=governance&model_name=service&field_name=owner_team")
    ],
    # The "view on site" shortcut only redirects to an object's public URL; no Vigil model has one: 404.
    "admin:view_on_site": [
        Request(STAFF, args={"content_type_id": "service_ct", "object_id": "service"}, allowed_status=(404,))
    ],
    # Past every admin URL: a staff user gets 404, anyone else the login page.
    "admin:(catch-all)": [Request(STAFF, args={"url": "no-such-page/"}, allowed_status=(404,))],
    # Setting another person's password is a superuser's; every user changes their own at password_change.
    "admin:auth_user_password_change": [Request(Needs(), args={"id": "user"})],
    # A TOTP device's secret (its QR code and config) is shown to whoever may view or change devices.
    # A TOTP device's secret is never shown in the admin (OTP_ADMIN_HIDE_SENSITIVE_DATA).
    "admin:otp_totp_totpdevice_config": [Request(NOBODY, args={"pk": "totpdevice"})],
    "admin:otp_totp_totpdevice_qrcode": [Request(NOBODY, args={"pk": "totpdevice"})],
    # Two-factor sign-in and enrolment: every staff user's own (part of their profile).
    "admin:mfa": [Request(STAFF)],
    "admin:mfa_enrol": [Request(STAFF)],
    "admin:mfa_logout": [Request(PUBLIC, method="POST")],
    "admin:scorecard": [Request(needs("governance.view_scorecardsnapshot"))],
    "admin:evidence": [Request(needs("governance.export_evidence"))],
    "admin:alerting_routingrule_matrix": [Request(needs("alerting.view_routingrule", "alerting.change_routingrule"))],
    # Starting a runbook is running it (incident page's button); without an incident it is a drill.
    "admin:runbooks_runbookexecution_start": [
        Request(needs("runbooks.run_runbook"), method="POST", data={"runbook": "", "incident": ""}),
        Request(
            Needs(all_of=("runbooks.run_runbook", "runbooks.change_runbook")),
            method="POST",
            data={"runbook": "runbook"},
        ),
    ],
    "admin:runbooks_runbookexecution_step": [
        Request(needs("runbooks.run_runbook"), method="POST", args={"pk": "runbookexecution"})
    ],
    "admin:runbooks_runbookexecution_complete": [
        Request(needs("runbooks.run_runbook"), method="POST", args={"pk": "runbookexecution"})
    ],
    "admin:runbooks_runbookexecution_abandon": [
        Request(needs("runbooks.run_runbook"), method="POST", args={"pk": "runbookexecution"})
    ],
    "admin:runbooks_runbook_coverage": [Request(needs("runbooks.view_runbook", "runbooks.change_runbook"))],
    "admin:access_reviews_identity_upload": [Request(needs("access_reviews.import_snapshot"))],
    "admin:access_reviews_system_upload": [Request(needs("access_reviews.import_snapshot"))],
    "admin:changes_change_calendar": [Request(needs("changes.view_change", "changes.view_freezewindow"))],
    "admin:changes_change_link_cause": [
        Request(
            needs("changes.add_suspectedcause"),
            method="POST",
            args={"change_id": "change", "incident_id": "incident"},
        )
    ],
    "admin:slos_review": [Request(needs("slos.view_slo"))],
    "admin:slos_review_csv": [Request(needs("slos.view_slo"))],
}

# --- the API, health, metrics, the audit key and the calendar feeds, by URL name ----------------------
# A session user needs the role's permission for the method and one of the permissions that stand
# for the endpoint's scope (governance.api.permissions.SESSION_PERMISSIONS_FOR_SCOPE).
INCIDENTS_WRITE = ("incidents.add_incident", "incidents.acknowledge_incident", "incidents.post_incident_update")
ACCESS_READ = ("access_reviews.view_campaign", "access_reviews.view_reviewitem")


def scoped(perm: str, *scope_perms: str) -> Needs:
    return Needs(all_of=(perm,), any_of=scope_perms)


OTHER_VIEWS: dict[str, list[Request]] = {
    "health-live": [Request(PUBLIC)],
    "health-ready": [Request(PUBLIC)],
    "health-database": [Request(PUBLIC)],
    # 503 is an answer too: the broker is not running in the test.
    "health": [Request(STAFF, allowed_status=(200, 503))],
    # A key with health:read, a staff session, or anyone when METRICS_PUBLIC.
    "metrics": [Request(STAFF)],
    "audit-public-key": [Request(PUBLIC)],
    # Uploaded evidence: staff with the holding record's view permission (tests/governance/test_media.py);
    # a name no record holds is a 404 after the login check.
    "media": [Request(STAFF, args={"path": "incidents/evidence/0/none.txt"}, allowed_status=(404,))],
    # The schema and its docs describe the API, they hold no data.
    "api-schema": [Request(PUBLIC)],
    "api-docs": [Request(PUBLIC)],
    # The private feed URL's token is the credential, whoever holds it (a wrong token: 404).
    "alerting:calendar": [Request(PUBLIC, args={"token": "calendarfeed_token"})],
    "changes:calendar": [Request(PUBLIC, args={"token": "changecalendarfeed_token"})],
    "incidents:incident-list": [
        Request(needs("incidents.view_incident")),
        Request(scoped("incidents.add_incident", *INCIDENTS_WRITE), method="POST", data={}),
    ],
    "incidents:incident-detail": [Request(needs("incidents.view_incident"), args={"pk": "incident"})],
    "incidents:incident-acknowledge": [
        Request(scoped("incidents.acknowledge_incident", *INCIDENTS_WRITE), method="POST", args={"pk": "incident"})
    ],
    "incidents:incident-updates": [
        Request(scoped("incidents.post_incident_update", *INCIDENTS_WRITE), method="POST", args={"pk": "incident"})
    ],
    "incidents:incident-mitigate": [
        Request(scoped("incidents.resolve_incident", *INCIDENTS_WRITE), method="POST", args={"pk": "incident"})
    ],
    "incidents:incident-resolve": [
        Request(scoped("incidents.resolve_incident", *INCIDENTS_WRITE), method="POST", args={"pk": "incident"})
    ],
    "incidents:incident-close": [
        Request(scoped("incidents.close_incident", *INCIDENTS_WRITE), method="POST", args={"pk": "incident"})
    ],
    "incidents:incident-severity": [
        Request(scoped("incidents.command_incident", *INCIDENTS_WRITE), method="POST", args={"pk": "incident"})
    ],
    # Alertmanager sends a key with alerts:ingest; no person posts alerts.
    "ingestion:alertmanager-webhook": [Request(NOBODY, method="POST", data={})],
    "backups:target-list": [Request(needs("backups.view_backuptarget"))],
    "backups:run-report": [Request(needs("backups.add_backuprun"), method="POST", data={})],
    "backups:tool-report": [
        Request(
            needs("backups.add_backuprun"), method="POST", args={"slug": "backuptarget_slug"}, query="format=restic"
        )
    ],
    "access_reviews:system-snapshot": [
        Request(needs("access_reviews.import_snapshot"), method="POST", args={"slug": "system_slug"}, data={})
    ],
    "access_reviews:identities": [Request(needs("access_reviews.import_snapshot"), method="POST", data={})],
    "access_reviews:campaign-list": [Request(scoped("access_reviews.view_campaign", *ACCESS_READ))],
    "access_reviews:item-list": [Request(scoped("access_reviews.view_reviewitem", *ACCESS_READ))],
    "access_reviews:item-detail": [
        Request(scoped("access_reviews.view_reviewitem", *ACCESS_READ), args={"pk": "reviewitem"})
    ],
    "access_reviews:item-decide": [
        Request(
            scoped("access_reviews.decide_reviewitem", *ACCESS_READ), method="POST", args={"pk": "reviewitem"}, data={}
        )
    ],
    "access_reviews:item-delegate": [
        Request(
            scoped("access_reviews.decide_reviewitem", *ACCESS_READ), method="POST", args={"pk": "reviewitem"}, data={}
        )
    ],
    "changes:change-create": [Request(scoped("changes.add_change", "changes.add_deployment"), method="POST", data={})],
    "changes:deployment-create": [Request(needs("changes.add_deployment"), method="POST", data={})],
    "changes:gate": [Request(needs("changes.ask_release_gate"), method="POST", data={})],
    # The change API is the pipeline's (scope changes:write): a person needs the deployment permission too.
    "changes:change-detail": [
        Request(scoped("changes.view_change", "changes.add_deployment"), args={"reference": "change_reference"})
    ],
    "changes:change-transition": [
        Request(
            scoped("changes.approve_change", "changes.add_deployment"),
            method="POST",
            args={"reference": "change_reference", "action": "approve"},
            data={},
        )
    ],
    "slos:slo-list": [Request(needs("slos.view_slo"))],
    "slos:slo-events": [Request(needs("slos.add_pushedinterval"), method="POST", args={"slug": "slo_slug"}, data={})],
}

# --- object actions (django-object-actions buttons), by (model, tool) -----------------------------------
OBJECT_ACTIONS: dict[tuple[str, str], Needs] = {
    ("incidents.incident", "acknowledge"): needs("incidents.acknowledge_incident"),
    ("incidents.incident", "post_update"): needs("incidents.post_incident_update"),
    ("incidents.incident", "mitigate"): needs("incidents.resolve_incident"),
    ("incidents.incident", "resolve"): needs("incidents.resolve_incident"),
    ("incidents.incident", "close"): needs("incidents.close_incident"),
    ("incidents.incident", "change_severity"): needs("incidents.command_incident"),
    ("incidents.incident", "assign_roles"): needs("incidents.command_incident"),
    ("incidents.postmortem", "submit_for_review"): needs("incidents.change_postmortem"),
    ("incidents.postmortem", "return_to_draft"): needs("incidents.change_postmortem"),
    ("incidents.postmortem", "publish"): needs("incidents.change_postmortem"),
    ("incidents.actionitem", "mark_in_progress"): needs("incidents.change_actionitem"),
    ("incidents.actionitem", "mark_done"): needs("incidents.change_actionitem"),
    ("incidents.actionitem", "cancel"): needs("incidents.change_actionitem"),
    ("runbooks.runbook", "edit_content"): needs("runbooks.change_runbook"),
    ("runbooks.runbook", "publish"): needs("runbooks.publish_runbook"),
    ("runbooks.runbook", "compare"): needs("runbooks.view_runbook", "runbooks.change_runbook"),
    ("runbooks.runbook", "review"): needs("runbooks.review_runbook"),
    ("runbooks.runbook", "rehearse"): Needs(all_of=("runbooks.change_runbook", "runbooks.run_runbook")),
    ("runbooks.runbook", "retire"): needs("runbooks.change_runbook"),
    ("backups.backuptarget", "start_drill"): needs("backups.run_restoredrill"),
    ("backups.backuptarget", "run_automated_drill"): needs("backups.run_restoredrill"),
    ("backups.restoredrill", "start"): needs("backups.run_restoredrill"),
    ("backups.restoredrill", "mark_restored"): needs("backups.run_restoredrill"),
    ("backups.restoredrill", "mark_verified"): needs("backups.run_restoredrill"),
    ("backups.restoredrill", "sign_off"): needs("backups.signoff_restoredrill"),
    ("access_reviews.system", "pull_now"): needs("access_reviews.import_snapshot"),
    ("access_reviews.reviewtemplate", "launch_now"): needs("access_reviews.launch_campaign"),
    ("access_reviews.campaign", "sign_off"): needs("access_reviews.sign_off_campaign"),
    ("access_reviews.campaign", "download_evidence"): needs("access_reviews.export_campaign_evidence"),
    ("access_reviews.campaign", "close_now"): needs("access_reviews.sign_off_campaign"),
    ("access_reviews.remediation", "mark_done"): needs("access_reviews.change_remediation"),
    ("changes.change", "submit"): needs("changes.change_change"),
    ("changes.change", "approve"): needs("changes.approve_change"),
    ("changes.change", "start"): needs("changes.change_change"),
    ("changes.change", "complete"): needs("changes.change_change"),
    ("changes.change", "fail"): needs("changes.change_change"),
    ("changes.change", "roll_back"): needs("changes.change_change"),
    ("changes.change", "return_to_draft"): needs("changes.change_change"),
    ("changes.change", "cancel"): needs("changes.change_change"),
    ("changes.freezeexception", "approve"): needs("changes.approve_freezeexception"),
    ("changes.freezeexception", "reject"): needs("changes.approve_freezeexception"),
    ("slos.slo", "evaluate_now"): needs("slos.change_slo"),
    ("slos.budgetexception", "approve"): needs("slos.approve_budgetexception"),
    ("slos.budgetexception", "reject"): needs("slos.approve_budgetexception"),
}

# --- admin bulk actions (the changelist's action menu), by (model, action) ---------------------------
# delete_selected follows the delete rule; every other action needs a row.
BULK_ACTIONS: dict[tuple[str, str], Needs] = {
    ("governance.apikey", "revoke"): needs("governance.change_apikey"),
    ("django_celery_beat.periodictask", "enable_tasks"): needs("django_celery_beat.change_periodictask"),
    ("django_celery_beat.periodictask", "disable_tasks"): needs("django_celery_beat.change_periodictask"),
    ("django_celery_beat.periodictask", "toggle_tasks"): needs("django_celery_beat.change_periodictask"),
    ("django_celery_beat.periodictask", "run_tasks"): needs("django_celery_beat.change_periodictask"),
    ("alerting.channel", "send_test"): needs("alerting.change_channel"),
    ("alerting.oncallrotation", "create_calendar_feeds"): needs("alerting.change_oncallrotation"),
    ("alerting.calendarfeed", "rotate_token"): needs("alerting.change_calendarfeed"),
    ("alerting.notification", "retry"): needs("alerting.change_notification"),
    ("alerting.notification", "discard"): needs("alerting.change_notification"),
    ("alerting.escalation", "stop"): needs("alerting.change_escalation"),
    ("incidents.actionitem", "mark_selected_done"): needs("incidents.change_actionitem"),
    # Processing a stored payload opens or joins incidents: configuring alert intake is the Ops Admin's.
    ("incidents.alertmanagerpayload", "reprocess"): Needs(
        all_of=("incidents.view_alertmanagerpayload", "alerting.change_routingrule")
    ),
    ("access_reviews.reviewitem", "keep_selected"): needs("access_reviews.decide_reviewitem"),
    ("access_reviews.reviewitem", "revoke_selected"): needs("access_reviews.decide_reviewitem"),
    ("changes.changecalendarfeed", "rotate_token"): needs("changes.change_changecalendarfeed"),
    ("axes.accessattempt", "unlock"): needs("axes.delete_accessattempt"),
}

# --- where a ModelAdmin narrows what the model permissions would give, and why ----------------------
# (model, kind) -> Needs. Kinds: changelist, change, add, delete, history.
MODEL_ADMIN_EXCEPTIONS: dict[tuple[str, str], Needs] = {
    # Written by the dispatcher and the escalation engine, never typed in.
    ("alerting.notification", "add"): NOBODY,
    ("alerting.escalation", "add"): NOBODY,
    # Backup runs arrive from the tools (API, report_backup_run); drills start from a target's button.
    ("backups.backuprun", "add"): NOBODY,
    ("backups.restoredrill", "add"): NOBODY,
}

# Object actions that only show a page (a GET); the others are POSTed.
GET_TOOLS = {("runbooks.runbook", "compare")}
