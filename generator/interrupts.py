"""Ctrl-C: exit 130 with "interrupted", and never a half-written result.

Python raises KeyboardInterrupt wherever the main thread happens to be, and some libraries turn it into
something else (pydantic-core reports an interrupt inside a validator as a validation error) or swallow it. So
the CLI installs ``handler``: it records the interrupt (``requested()``) and raises KeyboardInterrupt, except
inside a ``critical()`` section (the writer's swap of generated folders), where the interrupt is only recorded
and the section completes. Before a section starts, ``check()`` raises if an interrupt was recorded, so a
swallowed interrupt still stops the run before anything is written. ``generator.cli.main`` reports any
failure after an interrupt as "interrupted" (exit 130).
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_requested = threading.Event()
_critical = 0


def handler(signum: int, frame: Any) -> None:
    _requested.set()
    if not _critical:
        raise KeyboardInterrupt


@contextmanager
def installed(signals: tuple[int, ...] = (signal.SIGINT,)) -> Iterator[None]:
    """Route ``signals`` (SIGINT; a server that runs until stopped adds SIGTERM) through ``handler`` for the duration
    (main thread only; a no-op elsewhere)."""
    _requested.clear()
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.signal(signum, handler) for signum in signals}
    hook = sys.unraisablehook

    def unraisable(info: Any) -> None:  # a library swallowed the interrupt; Python would print "Exception ignored"
        if not (info.exc_type is KeyboardInterrupt and _requested.is_set()):
            hook(info)

    sys.unraisablehook = unraisable
    try:
        yield
    finally:
        for signum, before in previous.items():
            signal.signal(signum, before if before is not None else signal.SIG_DFL)
        sys.unraisablehook = hook


def requested() -> bool:
    return _requested.is_set()


def check() -> None:
    """Raise KeyboardInterrupt if an interrupt was recorded (even one a library swallowed)."""
    if _requested.is_set():
        raise KeyboardInterrupt


@contextmanager
def critical() -> Iterator[None]:
    """A section an interrupt must not cut short (it is recorded and honoured after the section)."""
    global _critical
    check()
    _critical += 1
    try:
        yield
    finally:
        _critical -= 1
