"""Errors of the emulator package that a user can cause."""

from __future__ import annotations

from generator.errors import AmlgenError


class EmulatorError(AmlgenError):
    """The emulator was misconfigured (bad state file, bad latency, ...) or cannot be reached."""


class EmulatorStartError(EmulatorError):
    """The emulator could not start serving (e.g. the port is in use)."""
