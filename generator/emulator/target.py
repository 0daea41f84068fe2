"""The local emulator as a target of ``generator.workspace`` (everything emulator-specific stays in this package).

``LocalTarget(base_url, ca_path)`` gives the workspace module what it needs to point an unmodified ``MLClient``
at a loopback emulator: a credential, the client keyword arguments (a custom cloud), and the process settings
(CA bundle, blob URLs, polling) with their undo. ``running_target(root)`` finds the emulator that
``amlgen emulator`` started for a project (``.amlgen/emulator.json``: base URL, CA path and pid only -- never a key).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import AzureError

STATE_FILE = ".amlgen/emulator.json"


@dataclass(frozen=True)
class LocalTarget:
    base_url: str
    ca_path: str
    kind: str = "local"
    workspace_config: str | None = None

    is_local = True

    @property
    def label_suffix(self) -> str:
        return f" on the local emulator {self.base_url}"

    def credential(self) -> Any:
        from .local import EmulatorCredential

        return EmulatorCredential()

    def client_kwargs(self) -> dict[str, Any]:
        from .local import local_cloud_kwargs

        return {**local_cloud_kwargs(self.base_url), "retry_backoff_factor": 0.05}

    def prepare(self) -> Callable[[], None]:
        """Point this process at the emulator (CA bundle, blob URLs, polling); returns the undo."""
        if not Path(self.ca_path).is_file():
            raise AzureError(f"the local emulator's CA file {self.ca_path} does not exist: is the emulator still "
                             "running? (restart `amlgen emulator`)")
        from .local import prepare_process_for_emulator

        return prepare_process_for_emulator(self.base_url, self.ca_path)


def state_file(root: Path) -> Path:
    return root / STATE_FILE


def write_state(root: Path, base_url: str, ca_path: str) -> Path:
    """Record where a running ``amlgen emulator`` listens (atomically; mode 0600)."""
    path = state_file(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(json.dumps({"base_url": base_url, "ca_path": ca_path, "pid": os.getpid()}, indent=2) + "\n")
    os.replace(tmp, path)
    return path


LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")


def read_state(root: Path) -> dict[str, Any] | None:
    """``.amlgen/emulator.json`` (None when absent). Read through the safe reader, and its base URL must be the
    loopback emulator's: a file pointing ``--target local`` (and the emulator's trust) at another host is refused."""
    from urllib.parse import urlsplit

    from ..yamlutil import read_json

    path = state_file(root)
    if not os.path.lexists(path):
        return None
    data = read_json(path, STATE_FILE, error=AzureError)
    if not isinstance(data, dict) or not isinstance(data.get("base_url"), str) or not isinstance(data.get("ca_path"), str):
        raise AzureError(f"{STATE_FILE} is malformed; restart `amlgen emulator`")
    try:
        url = urlsplit(data["base_url"])
        loopback = url.scheme == "https" and url.hostname in LOOPBACK_HOSTS and url.port is not None
    except ValueError:  # a malformed host or port
        loopback = False
    if not loopback:
        raise AzureError(f"base_url {data['base_url']!r} is not the loopback emulator (https://127.0.0.1, ::1 or "
                         "localhost); restart `amlgen emulator`", where=STATE_FILE)
    return data


def pid_alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def running_target(root: Path) -> LocalTarget:
    """The emulator ``amlgen emulator`` runs for this project."""
    data = read_state(root)
    if data is None:
        raise AzureError(f"no local emulator is running for this project ({STATE_FILE} not found): start one with "
                         "`amlgen emulator`, or use `amlgen up` which starts its own")
    pid = data.get("pid")
    if isinstance(pid, int) and not pid_alive(pid):
        raise AzureError(f"the local emulator recorded in {STATE_FILE} (pid {pid}) is not running any more: start "
                         "it again with `amlgen emulator`, or use `amlgen up` which starts its own")
    return LocalTarget(data["base_url"], data["ca_path"])
