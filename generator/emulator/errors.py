"""Errors of the emulator package that a user can cause."""

from __future__ import annotations

from generator.errors import AmlgenError, ToolFailure


class EmulatorError(AmlgenError):
    """The emulator was misconfigured (bad state file, bad latency, port in use, ...)."""


class EmulatorStartError(ToolFailure):
    """The emulator could not start serving."""
