"""Every write of the backups app. Import from here: `from backups.services import backup_run_report`."""

from .drills import (
    drill_add_action_item,
    drill_add_check,
    drill_add_evidence,
    drill_complete,
    drill_mark_restored,
    drill_run_automated,
    drill_schedule,
    drill_sign_off,
    drill_start,
    drills_mark_overdue,
    drills_schedule_due,
    verify_backup_file,
)
from .rpo import rpo_check_target, rpo_monitor
from .runs import backup_run_report, backup_target_create, backup_target_update, backup_tool_report, target_by_slug
from .vigil import newest_vigil_run, vigil_backup_create, vigil_target_ensure

__all__ = [
    "backup_run_report",
    "backup_target_create",
    "backup_target_update",
    "backup_tool_report",
    "drill_add_action_item",
    "drill_add_check",
    "drill_add_evidence",
    "drill_complete",
    "drill_mark_restored",
    "drill_run_automated",
    "drill_schedule",
    "drill_sign_off",
    "drill_start",
    "drills_mark_overdue",
    "drills_schedule_due",
    "newest_vigil_run",
    "rpo_check_target",
    "rpo_monitor",
    "target_by_slug",
    "verify_backup_file",
    "vigil_backup_create",
    "vigil_target_ensure",
]
