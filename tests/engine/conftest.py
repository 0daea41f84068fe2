"""Engine tests: fixtures from ``tests/engine_support.py`` (shared with the hostile-input suite)."""

from engine_support import emu, emulator_session, ml, project, run, template_project  # noqa: F401
