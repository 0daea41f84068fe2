"""Run locks: two commands that write the same thing never run at once.

``hold(root, name, what)`` takes an exclusive, non-blocking lock on ``.amlgen/locks/<name>.lock`` (``flock``: the
kernel releases it when the process ends, however it ends, so a crash never leaves a stale lock). The holder
writes who it is into the file; a second run stops at once with "another apply is running (pid, host, since)".

That lock is per project checkout. ``hold_env(root, env, what, ws)`` -- what every command that writes an
environment's workspace takes (apply, destroy, rollback, reap, promote) -- adds a lease visible in the workspace
itself, so that two checkouts (a laptop and a CI runner) are serialised too: Azure ML has no lease of its own (ARM
locks guard deletion, not concurrent writers), but the workspace's default datastore is a blob container and
Azure Storage leases blobs. ``ws.lease(...)`` (``generator.wslease``) holds a 60 s lease on
``amlgen/locks/<env>.lease`` there, renewed while the command runs and released at its end (also after an error or
Ctrl-C); a second run stops at once with "another apply is running on workspace W (pid, host, since, lease in the
workspace's default datastore)"; a run whose lease was lost stops before its next call to the workspace; where the
identity may not lease blobs of that storage account, one warning line and the project lock only. Plan and other
read-only commands take neither. CI also serialises runs on one environment with a workflow concurrency group
(see ``docs/gitops.md``).
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .errors import AmlgenError
from .paths import SCRATCH_DIR, ensure_inside


class Busy(AmlgenError):
    """Another run holds the lock."""


@contextmanager
def hold(root: Path, name: str, what: str) -> Iterator[None]:
    folder = root / SCRATCH_DIR / "locks"
    ensure_inside(root, folder, what="lock folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder / f"{name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise AmlgenError(f"cannot take the {what} lock in {SCRATCH_DIR}/locks: {exc.strerror}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Busy(f"another {what} is running ({_holder(fd)}); wait for it to finish") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                  "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}).encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@contextmanager
def hold_env(root: Path, env: str, what: str, ws: Any, *, lock: str | None = None, lease: str | None = None,
             warn: Callable[[str], None] | None = None) -> Iterator[None]:
    """The run lock of a command that writes ``env``'s workspace ``ws``: the project's lock ``lock`` (default
    ``apply-<env>``), then the workspace lease ``lease`` (default ``<env>``)."""
    with hold(root, lock or f"apply-{env}", what), ws.lease(lease or env, what, warn=warn):
        yield


def _holder(fd: int) -> str:
    try:
        data = json.loads(os.pread(fd, 4096, 0) or b"{}")
        return f"pid {data['pid']} on {data['host']} since {data['since']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "holder unknown"
