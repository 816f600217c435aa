"""Dashboard panel, gauges, ops_status lines, scorecard, evidence, demo seeder: filled in below."""


def register() -> None:
    pass
