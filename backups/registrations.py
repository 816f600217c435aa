"""Registrations in the kernel registries (dashboard, metrics, status, scorecard, gate, demo)."""
