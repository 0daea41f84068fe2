"""``AppState``: the state of one emulator, what every request handler reads and changes.

The persisted resources (``state``: workspaces with their resources, operations, blob records) and their file
under ``state_dir``, the declared workspaces, blob contents, job scripts, the request log, the settings
(latencies, job duration, fault rules) and the lock that guards them. Handlers receive it as ``app``
(``handler(app, req)``, see ``core``); ``App`` (``app.py``) adds the way a request reaches its handler.
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import threading
import time
import uuid
from pathlib import Path
from typing import Optional

from .core import DEFAULT_LATENCIES, PROVIDER, ApiError, RequestRecord, normalise_region
from .errors import EmulatorError
from .faults import Faults

_STATE_FILE = "state.json"
_STATE_VERSION = 1


class AppState:
    """The state of one emulator (thread-safe, one lock)."""

    def __init__(
        self,
        *,
        subscription_id: str,
        resource_group: str,
        workspace_name: str,
        workspaces: Optional[list],
        location: str,
        latencies: Optional[dict],
        job_duration: float,
        state_dir: Optional[Path],
        faults: Faults,
        verbose: bool = False,
    ) -> None:
        self.subscription_id = subscription_id
        self.resource_group = resource_group
        self.workspace_name = workspace_name
        self.location = normalise_region(location)
        # declared workspaces: key "sub/rg/name" (lower case) -> {"sub", "rg", "name", "location"}
        self.declared: dict[str, dict] = {}
        self.restricted = workspaces is not None  # only declared workspaces exist (else any, created on first use)
        self.latencies = dict(DEFAULT_LATENCIES)
        self.latencies.update(latencies or {})
        self.job_duration = float(job_duration)
        self.lease_time_scale = 1.0  # real seconds per second of a blob lease (leases.py)
        self.state_dir = state_dir
        self.faults = faults
        self.verbose = verbose
        self.base_url = ""  # set once the server is bound
        self.account_key = base64.b64encode(secrets.token_bytes(64)).decode()  # never logged
        self.lock = threading.RLock()
        self.job_scripts: list[dict] = []  # scripted job lives (see joblife.add_script)
        self.log: list[RequestRecord] = []
        self.state: dict = {}
        self.blob_data: dict[str, bytes] = {}  # sha256 -> content (files under <state_dir>/blobs when persistent)
        self.staged: dict[str, dict[str, bytes]] = {}  # uncommitted blocks per blob
        self.reset_state()
        if state_dir is not None:
            self._load()
        for entry in workspaces or []:
            if isinstance(entry, str):
                self.declare_workspace(subscription_id, resource_group, entry, self.location)
            else:
                self.declare_workspace(entry.get("subscription_id", subscription_id),
                                       entry.get("resource_group", resource_group), entry["name"],
                                       entry.get("location", self.location), entry.get("storage_auth", "key"))

    def reset_state(self) -> None:
        with self.lock:
            self.state = {"version": _STATE_VERSION, "workspaces": {}, "operations": {}, "blobs": {}}
            self.blob_data = {}
            self.staged = {}

    def _load(self) -> None:
        path = self.state_dir / _STATE_FILE
        if not path.exists():
            return
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise EmulatorError(f"cannot read emulator state {path}: {exc}") from exc
        if data.get("version") != _STATE_VERSION:
            raise EmulatorError(f"emulator state {path} has an unsupported version {data.get('version')!r}")
        for ws in data.get("workspaces", {}).values():  # written before workspaces had a region and code assets
            ws.setdefault("location", self.location)
            ws.setdefault("codes", {})
        self.state = data

    def save(self) -> None:
        if self.state_dir is None:
            return
        with self.lock:
            text = json.dumps(self.state)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.state_dir / (_STATE_FILE + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, self.state_dir / _STATE_FILE)

    def declare_workspace(self, sub: str, rg: str, name: str, location: str, storage_auth: str = "key") -> dict:
        """Declare a workspace with its region (``Emulator.add_workspace``); it exists from now on, also after a
        reset. A workspace keeps its region: declaring it again elsewhere is an ``EmulatorError``.
        ``storage_auth="identity"`` gives it identity-based system datastores (credentials ``None``: listSecrets
        answers 400 and clients reach the blobs with their own token, recording D #12-#13)."""
        if not all(isinstance(v, str) and v for v in (sub, rg, name, location)):
            raise EmulatorError("a workspace needs a subscription id, a resource group, a name and a location")
        if storage_auth not in ("key", "identity"):
            raise EmulatorError(f"storage_auth must be 'key' or 'identity', got {storage_auth!r}")
        if not re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9_-]{2,32}", name):
            raise EmulatorError(f"workspace name {name!r} must be 3-33 letters, digits, '_' or '-'")
        region = normalise_region(location)
        key = f"{sub}/{rg}/{name}".lower()
        with self.lock:
            existing = self.state.get("workspaces", {}).get(key) or self.declared.get(key)
            if existing is not None and existing.get("location", self.location) != region:
                raise EmulatorError(f"workspace {name!r} already exists in {existing.get('location')}; a workspace "
                                    f"cannot move to {region}")
            self.declared[key] = {"sub": sub, "rg": rg, "name": name, "location": region,
                                  "storage_auth": storage_auth}
            if self.state:
                self.workspace(sub, rg, name)["storage_auth"] = storage_auth
        return dict(self.declared[key])

    def workspace(self, sub: str, rg: str, ws: str, create: bool = True) -> dict:
        key = f"{sub}/{rg}/{ws}".lower()
        wss = self.state["workspaces"]
        if key in wss:
            return wss[key]
        declared = self.declared.get(key)
        if (self.restricted and declared is None) or not create:
            raise ApiError(404, "ResourceNotFound",
                           f"The Resource '{PROVIDER}/workspaces/{ws}' under resource group '{rg}' was not found.")
        if declared is not None:
            sub, rg, ws = declared["sub"], declared["rg"], declared["name"]
        wss[key] = {
            "sub": sub, "rg": rg, "name": ws, "created": time.time(), "workspace_id": str(uuid.uuid4()),
            "location": declared["location"] if declared else self.location,
            "storage_auth": declared.get("storage_auth", "key") if declared else "key",
            "computes": {}, "data": {}, "models": {}, "components": {}, "environments": {}, "codes": {}, "jobs": {},
            "endpoints": {}, "deployments": {},
        }
        return wss[key]

    def endpoint_holder(self, name: str, region: str) -> Optional[dict]:
        """The workspace of any subscription holding an online endpoint called ``name`` in ``region`` (names are
        global per region: the scoring host is ``<name>.<region>.inference.ml.azure.com``)."""
        for ws in self.state["workspaces"].values():
            if ws.get("location", self.location) == region and name.lower() in ws["endpoints"]:
                return ws
        return None

    def sweep(self) -> None:
        """Apply deletions whose time has come."""
        now = time.time()
        for ws in self.state["workspaces"].values():
            for coll in ("computes", "endpoints"):
                for k in [k for k, r in ws[coll].items() if r["_emu"].get("deleted_at", now + 1) <= now]:
                    del ws[coll][k]
                    if coll == "endpoints":
                        ws["deployments"].pop(k, None)
            for deps in ws["deployments"].values():
                for k in [k for k, r in deps.items() if r["_emu"].get("deleted_at", now + 1) <= now]:
                    del deps[k]
