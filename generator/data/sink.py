"""Polars' streaming NDJSON sink, made safe to interrupt (Ctrl-C) and to fail (a full disk) while it writes.

The sink writes into a Python file object (``HashingWriter``: sha256 and size inline, the output is never read back)
and passes every batch through a Python row counter. Polars calls both from its own threads, and two things went
wrong around them:

- Polars installs a C-level SIGINT handler at import; on Ctrl-C it aborts its running query by panicking inside its
  worker tasks. The query then returns while some tasks are still unwinding and still hold (and call) our Python
  callbacks, and Python raises a second KeyboardInterrupt of its own. The outcome was random: a bogus "cannot read
  the source" error, a Rust panic backtrace, or "Fatal Python error: Aborted" when a polars thread touched Python
  during interpreter shutdown.
- An exception raised from a callback (the write of a full disk) aborts the query the same way.

So callbacks never raise into polars, and polars never sees SIGINT:

- ``detach_polars_sigint()`` installs Python's own handler again, which replaces polars' (the C handler is
  per-process; Python's handler then is the only one, and the KeyboardInterrupt arrives once, in the main thread).
- The sink runs in a worker thread while the main thread waits, interruptibly. On Ctrl-C (or a write error) a
  ``stop`` event turns the callbacks into no-ops (nothing written, batches emptied) so polars drains the rest of its
  query quickly and returns normally, with every task finished; only then is the interrupt re-raised (and the temp
  file removed by the caller). Further Ctrl-C's during that drain (a few hundred ms at most) are ignored.
"""

from __future__ import annotations

import hashlib
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import polars as pl

from ..errors import DataError
from .files import os_error
from .progress import Reporter


class HashingWriter:
    """The file object polars' sink writes to: sha256 and size inline; after ``stop`` (or a failed write, kept in
    ``error``) writes are dropped. Lines are counted only to move a progress bar (a second scan of every byte)."""

    def __init__(self, fh: Any, stop: threading.Event, rep: Reporter | None = None):
        self.fh = fh
        self.stop = stop
        self.rep = rep if rep is not None and rep.interactive else None
        self.h = hashlib.sha256()
        self.n = 0
        self.error: OSError | None = None

    def write(self, chunk: bytes) -> int:
        if self.stop.is_set():
            return len(chunk)
        try:
            self.fh.write(chunk)
        except OSError as exc:  # ENOSPC, EFBIG, EIO: kept for the caller, never raised into polars
            self.error = exc
            self.stop.set()
            return len(chunk)
        self.h.update(chunk)
        self.n += len(chunk)
        if self.rep is not None:
            self.rep.advance(chunk.count(b"\n"))
        return len(chunk)

    def flush(self) -> None:
        pass  # the file is flushed when it is closed, where an error can still be reported


class RowCounter:
    """Counts the rows of the batches polars hands it (from its worker threads) and passes them on unchanged;
    after ``stop`` it passes empty batches, so the rest of the query is read but no longer serialised."""

    def __init__(self, stop: threading.Event) -> None:
        self.n = 0
        self.stop = stop
        self._lock = threading.Lock()

    def __call__(self, batch: pl.DataFrame) -> pl.DataFrame:
        if self.stop.is_set():
            return batch.clear()
        with self._lock:
            self.n += batch.height
        return batch


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def detach_polars_sigint() -> None:
    """Re-install the current Python SIGINT handler, which drops the C handler polars added at import (see above).
    Only possible (and only needed) in the main thread; a handler not set from Python is left alone."""
    if _in_main_thread():
        current = signal.getsignal(signal.SIGINT)
        if current is not None:
            signal.signal(signal.SIGINT, current)


@contextmanager
def interrupts_deferred(*, replay: bool) -> Iterator[None]:
    """Ctrl-C's that arrive inside only take effect after it (``replay``: the first one is raised again then, through
    the handler in place before) or not at all; for steps that must not stop half-way (moving finished files into
    place, letting polars drain)."""
    previous = signal.getsignal(signal.SIGINT) if _in_main_thread() else None
    if previous is None:
        yield
        return
    received: list[int] = []
    signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if received and replay:
            signal.raise_signal(signal.SIGINT)


def run_interruptibly(work: Callable[[], None], stop: threading.Event) -> None:
    """Run ``work`` (a polars query with callbacks honouring ``stop``) in a worker thread; on an exception in the
    waiting main thread (Ctrl-C), set ``stop``, let the query drain, then re-raise."""
    if not _in_main_thread():
        work()
        return
    failure: list[BaseException] = []
    done = threading.Event()

    def target() -> None:
        try:
            work()
        except BaseException as exc:  # re-raised in the calling thread
            failure.append(exc)
        finally:
            done.set()

    worker = threading.Thread(target=target, name="amlgen-sink")
    worker.start()
    try:
        done.wait()
    except BaseException:
        stop.set()
        with interrupts_deferred(replay=False):
            worker.join()
        raise
    worker.join()
    if failure:
        raise failure[0]


def sink_ndjson(lf: pl.LazyFrame, tmp: Path, target: Path, split: str, rep: Reporter) -> tuple[HashingWriter, int]:
    """Write ``lf`` as JSON lines to ``tmp`` (created exclusively); returns the writer (size, sha256) and the rows.

    Rows are counted per batch on their way to the sink, not by scanning the output for newlines (1.2 CPU-s at
    100 %) nor by a ``len`` query collected with the sink (it buffered the shared scan: peak RSS 870 MB, not 380 MB).
    A failed write names ``target`` (the file being replaced), never the temp file.
    """
    stop = threading.Event()
    rows = RowCounter(stop)
    counted = lf.map_batches(rows, streamable=True, schema=lf.collect_schema(), validate_output_schema=False)
    try:
        with open(tmp, "xb") as fh:
            out = HashingWriter(fh, stop, rep)
            try:
                run_interruptibly(lambda: counted.sink_ndjson(out, engine="streaming"), stop)  # type: ignore[arg-type]
            except (pl.exceptions.PolarsError, OSError) as exc:
                if out.error is None:
                    raise DataError(f"{split}: cannot read the source: {str(exc).splitlines()[0]}") from None
            if out.error is not None:
                raise out.error
    except OSError as exc:  # creating, writing or closing (flushing) the temp file
        raise os_error("write", target, exc) from None
    return out, rows.n
