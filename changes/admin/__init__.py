"""The changes admin: changes and the calendar, freeze windows and exceptions, read-only records."""

from . import changes, freezes, records  # noqa: F401  (registers the ModelAdmins)
