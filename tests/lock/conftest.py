"""Lock tests: engine fixtures (a project with the emulator)."""

from engine_support import emu, emulator_session, ml, project, run, template_project  # noqa: F401
