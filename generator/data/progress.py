"""Progress of the dataset step: a rich progress bar on a terminal, plain lines otherwise (not a TTY, or ``CI`` set)."""

from __future__ import annotations

import os
import sys
import threading
from typing import TextIO


def interactive(stream: TextIO | None = None) -> bool:
    stream = stream or sys.stdout
    return bool(getattr(stream, "isatty", lambda: False)()) and not os.environ.get("CI")


class Reporter:
    """Line-oriented: one line when a split starts and one when it ends. Thread-safe ``advance``."""

    interactive = False  # progress bars (ours and huggingface_hub's downloads) only when True

    def __init__(self, stream: TextIO | None = None):
        self.stream = stream or sys.stdout
        self._lock = threading.Lock()

    def __enter__(self) -> Reporter:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def line(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def start(self, label: str, total: int) -> None:
        self.line(f"{label}: reading {total:,} rows")

    def advance(self, n: int) -> None:
        pass

    def finish(self, label: str, text: str) -> None:
        self.line(f"{label}: {text}")

    def warn(self, text: str) -> None:
        """Something the user should know that does not stop the step (an empty test split)."""
        self.line(f"warning: {text}")


class RichReporter(Reporter):
    interactive = True

    def __init__(self, stream: TextIO | None = None):
        super().__init__(stream)
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.console = Console(file=self.stream)
        self.progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=self.console, transient=True,
        )
        self._task: int | None = None

    def __enter__(self) -> RichReporter:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def line(self, text: str) -> None:
        self.console.print(text, highlight=False, markup=False)

    def start(self, label: str, total: int) -> None:
        self._task = self.progress.add_task(label, total=total)

    def advance(self, n: int) -> None:
        if self._task is not None:
            with self._lock:
                self.progress.advance(self._task, n)  # type: ignore[arg-type]

    def finish(self, label: str, text: str) -> None:
        if self._task is not None:
            self.progress.remove_task(self._task)  # type: ignore[arg-type]
            self._task = None
        self.line(f"{label}: {text}")


class Quiet(Reporter):
    """No progress; warnings still go to stderr."""

    def line(self, text: str) -> None:
        pass

    def warn(self, text: str) -> None:
        print(f"warning: {text}", file=sys.stderr, flush=True)


def reporter(stream: TextIO | None = None, *, quiet: bool = False) -> Reporter:
    if quiet:
        return Quiet(stream)
    return RichReporter(stream) if interactive(stream) else Reporter(stream)
