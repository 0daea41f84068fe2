"""Progress lines for the engine's commands: rich on a terminal, plain lines otherwise (thread-safe)."""

from __future__ import annotations

import sys
import threading
from typing import Any


class Reporter:
    """Progress lines: rich on a terminal, plain lines otherwise (thread-safe)."""

    def __init__(self, out: Any = None, tty: bool | None = None) -> None:
        self.out = out or sys.stdout
        self.tty = self.out.isatty() if tty is None else tty
        self._lock = threading.Lock()
        self._console = None
        self._status = None
        if self.tty:
            from rich.console import Console

            self._console = Console(file=self.out, highlight=False, markup=False)

    def line(self, text: str) -> None:
        with self._lock:
            if self._console is not None:
                self._console.print(text)
            else:
                print(text, file=self.out, flush=True)

    def job_progress(self, name: str, status: str, elapsed: float, changed: bool) -> None:
        """Called on every poll of a running job: a live status on a terminal, a line per change otherwise."""
        if self._console is not None:
            with self._lock:
                text = f"job {name}: {status} ({elapsed:.0f}s)"
                if self._status is None:
                    self._status = self._console.status(text)
                    self._status.start()
                else:
                    self._status.update(text)
            if changed:
                self.line(f"  job {name}: {status}")
        elif changed:
            self.line(f"  job {name}: {status} after {elapsed:.1f}s")

    def job_done(self) -> None:
        with self._lock:
            if self._status is not None:
                self._status.stop()
                self._status = None
