"""The workspace lease: runs from different checkouts that write one environment's workspace never run at once.

Azure ML has no lease of its own, but a workspace's default datastore is an Azure Storage blob container, and blobs
have real leases. ``Workspace.lease(name, what)`` (``workspace.py``, the only caller) holds ``WorkspaceLease``:

* **acquire** -- the default datastore (``datastores.get_default()``) and its credentials the way azure-ai-ml's own
  uploads get them (``_artifact_utilities.get_datastore_info``: the account key or SAS ``listSecrets`` gives, or the
  client's token for an identity-based datastore), then a 60 s lease on the blob ``amlgen/locks/<name>.lease``
  (created empty on first use), and the holder's ``pid``, ``host``, ``since`` and ``command`` as its metadata.
  Held by another run: ``LeaseHeld``, "another apply is running on workspace W (pid P on HOST since T, lease in
  the workspace's default datastore)", before anything is written.
* **renew** every ``duration / 3`` s from a daemon thread while the command runs; **release** at the end, also after
  an error or Ctrl-C (the context manager's ``finally``). A run that dies without releasing leaves a lease that
  ends ``duration`` s after its last renewal.
* **lost**: a renewal answered 409/412/404 (the lease was broken, or it lapsed and another run took it), or no
  renewal succeeded for a whole ``duration`` (the lease may have lapsed). The run is not allowed to go on
  writing: ``check()`` -- which ``Workspace.call`` runs before every call to the workspace -- raises a one-line
  ``AzureError`` from then on. A call already in flight (an operation the service is carrying out) is not undone.
* **not available** -- the identity has no data-plane access to the storage account (401/403, e.g.
  ``AuthorizationPermissionMismatch``, or no token for storage), the default datastore is no blob container or
  has no credentials, or the storage account cannot be reached: ``Unavailable``, which ``Workspace.lease`` turns
  into ONE warning line ("the workspace lease is not available (...); runs from other checkouts are not
  serialised"); the run goes on under the project lock only. Any other failure (throttling or a server error after
  the retries) is an SDK error that ``Workspace.call`` turns into a one-line ``AzureError``: the run stops before
  it writes.

Calls per run: a datastore list, a datastore get and ``listSecrets`` (ARM), then acquire, set metadata and release
(storage) -- plus, the first time on a workspace, a 404 acquire and the blob's creation -- and one renewal per 20 s.
"""

from __future__ import annotations

import os
import re
import socket
import threading
import time
from typing import Any

from .errors import AzureError

LEASE_SECONDS = 60  # the service allows 15..60 s (or infinite, which a crashed run would hold for ever)
FOLDER = "amlgen/locks"
LOST_CODES = ("LeaseIdMismatchWithLeaseOperation", "LeaseNotPresentWithLeaseOperation", "LeaseIsBrokenAndCannotBeRenewed",
              "LeaseLost", "BlobNotFound")
HELD_CODES = ("LeaseAlreadyPresent", "LeaseIsBreakingAndCannotBeAcquired")


class LeaseHeld(AzureError):
    """Another run holds the workspace lease."""


class Unavailable(Exception):
    """The service does not let this identity lease a blob of the default datastore (the reason is the text)."""


def _code(exc: BaseException) -> str:
    value = getattr(exc, "error_code", None)
    return str(getattr(value, "value", value) or "")


def _safe(text: str) -> str:
    """A metadata value: printable ASCII only (HTTP header values), short."""
    return re.sub(r"[^A-Za-z0-9._:@+-]", "_", str(text))[:100] or "_"


class WorkspaceLease:
    """One lease on ``amlgen/locks/<name>.lease`` in ``ws``'s default datastore (see the module doc)."""

    def __init__(self, ws: Any, name: str, what: str, *, duration: int = LEASE_SECONDS,
                 renew_every: float | None = None) -> None:
        self.ws, self.name, self.what, self.duration = ws, name, what, int(duration)
        self.renew_every = renew_every if renew_every is not None else self.duration / 3
        self.blob_name = f"{FOLDER}/{name}.lease"
        self.held = False
        self._lease: Any = None
        self._lost = ""
        self._renewed = 0.0  # time.monotonic() when the last successful acquire/renew was sent
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ acquire
    def acquire(self) -> None:
        """Take the lease and start renewing it. Raises ``LeaseHeld`` when another run holds it, ``Unavailable``
        when the service does not allow it here, an SDK error for any other failure (call it in ``Workspace.call``)."""
        self._take(self._blob_client())
        self.held = True
        self._thread = threading.Thread(target=self._renew_loop, name=f"amlgen-lease-{self.name}", daemon=True)
        self._thread.start()

    def _blob_client(self) -> Any:
        """A BlobClient on the lease blob, with the default datastore's credentials as the SDK's uploads get them."""
        from azure.ai.ml._artifacts._artifact_utilities import get_datastore_info
        from azure.core.exceptions import ClientAuthenticationError, HttpResponseError
        from azure.storage.blob import BlobClient, ExponentialRetry

        ops = self.ws.client.datastores
        try:
            default = ops.get_default()
            kind = str(getattr(default.type, "value", default.type) or "")
            if kind.lower() != "azureblob":
                raise Unavailable(f"the default datastore {default.name} is {kind or 'of no known type'}, not a blob "
                                  "container")
            info = get_datastore_info(ops, default.name)
        except ClientAuthenticationError as exc:
            raise Unavailable(f"cannot read the default datastore: {_short(exc)}") from None
        except HttpResponseError as exc:
            if getattr(exc, "status_code", None) in (401, 403):
                raise Unavailable(f"cannot read the default datastore: HTTP {exc.status_code}") from None
            raise
        credential = info.get("credential")
        if not credential or not info.get("container_name"):
            raise Unavailable(f"the default datastore {default.name} has no credentials")
        retry = self.ws._retry if isinstance(getattr(self.ws, "_retry", None), dict) else {}
        policy = ExponentialRetry(initial_backoff=float(retry.get("retry_backoff_factor", 1.0)), increment_base=2,
                                  retry_total=int(retry.get("retry_total", 3)), random_jitter_range=1)
        return BlobClient(info["account_url"], info["container_name"], self.blob_name, credential=credential,
                          retry_policy=policy, connection_timeout=10, read_timeout=20)

    def _take(self, client: Any) -> None:
        from azure.core.exceptions import (
            ClientAuthenticationError,
            HttpResponseError,
            ResourceExistsError,
            ResourceNotFoundError,
            ServiceRequestError,
        )
        from azure.storage.blob import BlobLeaseClient

        lease = BlobLeaseClient(client)
        started = time.monotonic()
        try:
            try:
                lease.acquire(lease_duration=self.duration)
            except ResourceNotFoundError as exc:
                if _code(exc) == "ContainerNotFound":
                    raise Unavailable("the default datastore's container does not exist") from None
                try:  # the first run on this workspace: the lease blob, empty (If-None-Match: *)
                    client.upload_blob(b"", overwrite=False)
                except ResourceExistsError:
                    pass  # another run made it at the same moment
                started = time.monotonic()
                lease.acquire(lease_duration=self.duration)
            self._renewed = started
            self._lease = lease
            client.set_blob_metadata(self._metadata(), lease=lease)
        except ClientAuthenticationError as exc:
            raise Unavailable(f"storage refused the credentials: {_short(exc)}") from None
        except ServiceRequestError as exc:
            raise Unavailable(f"cannot reach the storage account: {_short(exc)}") from None
        except HttpResponseError as exc:
            if self._lease is not None:  # acquired, but the metadata could not be written: give it back
                self._quiet_release()
            status = getattr(exc, "status_code", None)
            if status == 409 and _code(exc) in HELD_CODES:
                raise LeaseHeld(self._held_message(client)) from None
            if status in (401, 403):
                raise Unavailable(f"HTTP {status} {_code(exc) or 'Forbidden'} on "
                                  f"{getattr(client, 'container_name', '')}/{self.blob_name}") from None
            raise

    def _metadata(self) -> dict[str, str]:
        return {"pid": str(os.getpid()), "host": _safe(socket.gethostname()),
                "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "command": _safe(self.what)}

    def _held_message(self, client: Any) -> str:
        meta: dict[str, str] = {}
        try:
            meta = dict(client.get_blob_properties().metadata or {})
        except Exception:  # the holder stays unknown; the refusal stands
            pass
        who = (f"pid {meta['pid']} on {meta['host']} since {meta['since']}" if {"pid", "host", "since"} <= set(meta)
               else "holder unknown")
        return (f"another {meta.get('command') or self.what} is running on workspace {self._workspace()} ({who}, "
                f"lease in the workspace's default datastore); wait for it to finish (the lease of a run that "
                f"crashed ends {self.duration} s after its last renewal)")

    def _workspace(self) -> str:
        return str(getattr(self.ws.client, "workspace_name", "") or self.ws.label)

    # ------------------------------------------------------------------ while held
    def _renew_loop(self) -> None:
        from azure.core.exceptions import HttpResponseError

        while not self._stop.wait(self.renew_every):
            sent = time.monotonic()
            try:
                self._lease.renew()
                self._renewed = sent
            except HttpResponseError as exc:
                if getattr(exc, "status_code", None) in (404, 409, 412) or _code(exc) in LOST_CODES:
                    self._lost = f"renewal refused: HTTP {exc.status_code} {_code(exc)}".rstrip()
                    return
            except Exception:  # noqa: BLE001 - network trouble: try again at the next tick, until the lease lapses
                pass
            if self._lapsed():
                return

    def _lapsed(self) -> bool:
        if not self._lost and time.monotonic() - self._renewed >= self.duration:
            self._lost = f"not renewed for {self.duration} s"
        return bool(self._lost)

    def check(self) -> None:
        """Raise when the lease was lost: the run must not go on writing to the workspace."""
        if self.held and self._lapsed():
            raise AzureError(f"the workspace lease {self.blob_name} on workspace {self._workspace()} was lost "
                             f"({self._lost}); another run may be writing to it, so this {self.what} stopped: run "
                             "it again once the other one is done")

    # ------------------------------------------------------------------ release
    def release(self) -> bool:
        """Stop renewing and give the lease back (a lost lease is not ours to release); False when the release
        failed (the lease then ends by itself within ``duration`` s)."""
        if not self.held:
            return True
        self.held = False
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        return bool(self._lost) or self._quiet_release()

    def _quiet_release(self) -> bool:
        try:
            self._lease.release()
            return True
        except Exception:  # noqa: BLE001 - it lapses by itself
            return False


def _short(exc: BaseException) -> str:
    """The first line of an SDK error's message (``Workspace.lease`` scrubs what it prints)."""
    return (str(getattr(exc, "message", "") or exc).strip().splitlines() or [type(exc).__name__])[0]
