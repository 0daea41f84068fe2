"""File-system operations of the dataset step, and their failures as one-line ``DataError``s.

Everything the step writes goes to a ``.tmp-<name>.<pid>`` file next to its target and is renamed into place only
when complete, so a failure (permission denied, a full disk, Ctrl-C) leaves the previous file as it was; temp files
and the folders the step created for them are removed again. A target that exists but is not a regular file (a
device such as ``/dev/stdout``, a FIFO) is written to directly: it cannot be replaced, only written.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from ..errors import DataError


def os_error(action: str, path: Path | str, exc: OSError) -> DataError:
    """``cannot <action> <path>: <reason>`` (the OS's reason, without the temp file name it may carry)."""
    return DataError(f"cannot {action} {path}: {exc.strerror or str(exc) or type(exc).__name__}")


def make_dirs(path: Path) -> list[Path]:
    """Create ``path`` and its missing parents; returns the folders created, outermost first (for ``remove_dirs``).

    Fails with a DataError naming the first ancestor that is not a folder, or the reason the OS gave."""
    missing: list[Path] = []
    here = path
    while True:
        try:
            st = here.stat()
        except FileNotFoundError:
            missing.append(here)
            if here.parent == here:
                break
            here = here.parent
            continue
        except OSError as exc:
            raise os_error("create", path, exc) from None
        if not stat.S_ISDIR(st.st_mode):
            raise DataError(f"cannot create {path}: {here} is not a folder")
        break
    created: list[Path] = []
    try:
        for folder in reversed(missing):
            try:
                folder.mkdir()
            except FileExistsError:
                continue  # made meanwhile by someone else: not ours to remove
            created.append(folder)
    except OSError as exc:
        remove_dirs(created)
        raise os_error("create", path, exc) from None
    except BaseException:
        remove_dirs(created)
        raise
    return created


def remove_dirs(created: list[Path]) -> None:
    """Remove folders ``make_dirs`` created (innermost first) if they are still empty."""
    for folder in reversed(created):
        try:
            folder.rmdir()
        except OSError:
            pass


def unlink_all(paths: list[Path]) -> None:
    """Remove ``paths`` (missing ones are fine), even while further Ctrl-C's arrive: the retry is inline on
    purpose, since a pending interrupt fires at the next bytecode, which must already be inside the ``try``."""
    pending = list(paths)
    while pending:
        try:
            pending[-1].unlink(missing_ok=True)
            pending.pop()
        except KeyboardInterrupt:
            continue
        except OSError:
            pending.pop()  # cannot be removed (it was never created, or the folder went read-only): nothing to do


def temp_path(target: Path) -> Path:
    return target.parent / f".tmp-{target.name}.{os.getpid()}"


def write_atomic(target: Path, body: bytes) -> None:
    """Put ``body`` in ``target``: a regular file (or a new one) through a temp file renamed over it, so a failure
    leaves the previous content, no temp file and no folder created for it; an existing non-regular file (a device,
    a FIFO) directly. Raises DataError."""
    try:
        st = target.stat()
    except (FileNotFoundError, NotADirectoryError):  # make_dirs names a parent that is not a folder
        st = None
    except OSError as exc:
        raise os_error("write", target, exc) from None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise DataError(f"cannot write {target}: it is a folder")
    if st is not None and not stat.S_ISREG(st.st_mode):
        try:
            with open(target, "wb") as fh:
                fh.write(body)
        except OSError as exc:
            raise os_error("write", target, exc) from None
        return
    created = make_dirs(target.parent)
    tmp = temp_path(target)
    try:
        tmp.unlink(missing_ok=True)  # left by a killed process whose pid we now have
        with open(tmp, "xb") as fh:
            fh.write(body)
        os.replace(tmp, target)
    except BaseException as exc:
        unlink_all([tmp])
        remove_dirs(created)
        if isinstance(exc, OSError):
            raise os_error("write", target, exc) from None
        raise
