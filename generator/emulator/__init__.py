"""A loopback Azure ML workspace emulator for the unmodified azure-ai-ml SDK.

A stateful HTTPS server answering the REST calls azure-ai-ml makes for a workspace, its blob datastore, data/
model/component assets, AmlCompute clusters, jobs, managed online endpoints and the ``azureml`` registry.
The manual (quick start, public API, latencies, state dir, faults, control API, strictness, limits, module
map) is docs/emulator.md.
"""

from __future__ import annotations

import shutil
import signal
import ssl
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Optional

from .. import interrupts
from . import certs
from .app import App
from .control import EmulatorControl
from .core import DEFAULT_JOB_DURATION, DEFAULT_LATENCIES, RequestRecord, is_write
from .errors import EmulatorError, EmulatorStartError
from .faults import FaultRule, FaultRuleError, Faults
from .http import TLSServer

__all__ = [
    "Emulator", "EmulatorControl", "EmulatorError", "EmulatorStartError", "FaultRule", "FaultRuleError", "Faults",
    "RequestRecord", "run_emulator", "DEFAULT_LATENCIES", "DEFAULT_JOB_DURATION",
]

DEFAULT_SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
DEFAULT_RESOURCE_GROUP = "amlgen-emulator-rg"
DEFAULT_WORKSPACE = "amlgen-emulator-ws"


def _check_latencies(latencies: Optional[dict]) -> dict:
    out = {}
    for kind, value in (latencies or {}).items():
        if kind == "job":
            continue  # alias of job_duration, handled by Emulator
        if kind not in DEFAULT_LATENCIES:
            raise EmulatorError(f"unknown latency kind {kind!r}; expected one of {', '.join(DEFAULT_LATENCIES)}")
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            raise EmulatorError(f"latency for {kind!r} must be a number of seconds, got {value!r}") from None
        if seconds < 0:
            raise EmulatorError(f"latency for {kind!r} must be >= 0")
        out[kind] = seconds
    return out


class Emulator:
    """A loopback Azure ML workspace emulator serving HTTPS in a background thread (see docs/emulator.md)."""

    def __init__(
        self,
        state_dir: Optional[str | Path] = None,
        latencies: Optional[dict] = None,
        job_duration: float = DEFAULT_JOB_DURATION,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        subscription_id: str = DEFAULT_SUBSCRIPTION,
        resource_group: str = DEFAULT_RESOURCE_GROUP,
        workspace_name: str = DEFAULT_WORKSPACE,
        workspaces: Optional[list] = None,
        location: str = "eastus",
        verbose: bool = False,
        fault_seed: Optional[int] = None,
        registries: Optional[dict] = None,
    ) -> None:
        if latencies and "job" in latencies:
            job_duration = _check_latencies({"compute": latencies["job"]})["compute"]
        if job_duration is None or float(job_duration) < 0:
            raise EmulatorError("job_duration must be >= 0 seconds")
        self.host = host
        self.port = int(port)
        self.state_dir = Path(state_dir) if state_dir is not None else None
        self.subscription_id = subscription_id
        self.resource_group = resource_group
        self.workspace_name = workspace_name
        self.faults = Faults(seed=fault_seed)
        self._app = App(
            subscription_id=subscription_id, resource_group=resource_group, workspace_name=workspace_name,
            workspaces=workspaces, location=location, latencies=_check_latencies(latencies),
            job_duration=float(job_duration), state_dir=self.state_dir, faults=self.faults, verbose=verbose,
            registries=registries,
        )
        self._server: Optional[TLSServer] = None
        self._thread: Optional[threading.Thread] = None
        self._tmpdir: Optional[str] = None
        self.base_url = ""
        self.ca_path = ""

    # ----------------------------------------------------------- lifecycle
    def start(self) -> Emulator:
        if self._server is not None:
            return self
        if self.state_dir is not None:
            cert_dir = self.state_dir
        else:
            self._tmpdir = tempfile.mkdtemp(prefix="amlgen-emulator-")
            cert_dir = Path(self._tmpdir)
        ca, cert, key = certs.generate(cert_dir, self.host)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(cert), str(key))
        try:
            self._server = TLSServer((self.host, self.port), self._app, ctx)
        except OSError as exc:
            raise EmulatorStartError(f"cannot listen on {self.host}:{self.port}: {exc.strerror or exc}") from exc
        port = self._server.server_address[1]
        host = self.host if ":" not in self.host else f"[{self.host}]"
        self.base_url = f"https://{host}:{port}/"
        self.ca_path = str(ca)
        self.port = port
        self._app.base_url = self.base_url
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name=f"amlgen-emulator-{port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self._app.save()
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def serve_forever(self) -> None:
        """Serve in the calling thread until KeyboardInterrupt (after ``start()``)."""
        try:
            while self._thread is not None and self._thread.is_alive():
                self._thread.join(0.5)
        finally:
            self.stop()

    # --------------------------------------------------------------- state
    @property
    def requests(self) -> list[RequestRecord]:
        with self._app.lock:
            return list(self._app.log)

    def write_calls(self) -> int:
        """Number of state-changing requests served so far (see docs/emulator.md)."""
        return sum(1 for r in self.requests if is_write(r.method, r.path))

    def clear_requests(self) -> None:
        with self._app.lock:
            self._app.log.clear()

    def reset(self) -> None:
        """Drop every resource, blob, fault rule, job script and the request log (declared workspaces stay)."""
        self._app.reset_state()
        self.faults.clear()
        self.clear_job_scripts()
        self.clear_requests()
        self._app.save()

    # ---------------------------------------------------------- workspaces
    def add_workspace(self, subscription_id: str, resource_group: str, name: str, location: str, *,
                      storage_auth: str = "key") -> dict:
        """Declare a workspace in a region (its computes' default location, its endpoints' region: online endpoint
        names are global per region across every workspace and subscription). It exists from now on, also after
        ``reset()``; with ``workspaces=[...]`` it joins the served list. ``storage_auth="identity"`` makes its
        system datastores identity-based (no secrets: listSecrets answers 400, clients use their own token).
        Raises ``EmulatorError`` for a bad name or a workspace that already exists in another region."""
        return self._app.declare_workspace(subscription_id, resource_group, name, location, storage_auth)

    def workspaces(self) -> list[dict]:
        """Every workspace that exists now (declared or created on first use): subscription, group, name, region."""
        with self._app.lock:
            seen = {f"{w['sub']}/{w['rg']}/{w['name']}".lower(): w for w in self._app.state["workspaces"].values()}
            out = [{"subscription_id": w["sub"], "resource_group": w["rg"], "name": w["name"],
                    "location": w.get("location", self._app.location)} for w in seen.values()]
            out += [{"subscription_id": d["sub"], "resource_group": d["rg"], "name": d["name"],
                     "location": d["location"]} for k, d in self._app.declared.items() if k not in seen]
        return out

    # ---------------------------------------------------------- job scripts
    def script_job(self, name: str, steps: list, end: str = "Completed", *, message: Optional[str] = None,
                   count: Optional[int] = None) -> dict:
        """Script the life of the jobs submitted from now on whose name matches the regex ``name``: ``steps`` is
        a list of ``(status, seconds)`` (e.g. ``[("Queued", 5), ("Running", 1), ("NotResponding", 2),
        ("Running", 1)]``), then the job ends ``end`` (``Completed``, ``Failed`` with ``message``, ``Canceled``).
        The first script added that matches is used, ``count`` times (None: for every matching job). The PUT
        answer still says ``NotStarted``, as the service's does. Raises ``EmulatorError`` for a bad script."""
        from .joblife import add_script, check_script

        try:
            script = check_script(name, steps, end, message, count)
        except ValueError as exc:
            raise EmulatorError(str(exc)) from None
        return add_script(self._app, script)

    def job_scripts(self) -> list[dict]:
        with self._app.lock:
            return [dict(s) for s in self._app.job_scripts]

    def clear_job_scripts(self) -> None:
        with self._app.lock:
            self._app.job_scripts.clear()

    @property
    def latencies(self) -> dict:
        return self._app.latencies

    @property
    def job_duration(self) -> float:
        return self._app.job_duration

    @job_duration.setter
    def job_duration(self, seconds: float) -> None:
        if float(seconds) < 0:
            raise EmulatorError("job_duration must be >= 0 seconds")
        self._app.job_duration = float(seconds)

    @property
    def lease_time_scale(self) -> float:
        """Real seconds per second of a blob lease (1.0): at 0.02 a 15 s lease -- the service's minimum -- lasts
        0.3 s. It applies to the leases acquired, renewed or broken from then on."""
        return self._app.lease_time_scale

    @lease_time_scale.setter
    def lease_time_scale(self, scale: float) -> None:
        if not float(scale) > 0:
            raise EmulatorError("lease_time_scale must be > 0")
        self._app.lease_time_scale = float(scale)

    # ---------------------------------------------------- registries and runs
    def add_registry(self, name: str, regions: list[str]) -> dict:
        """Declare a user registry (models can be shared into it) reachable from the given regions."""
        from .registry import add_registry

        return add_registry(self._app, name, regions)

    @property
    def registries(self) -> list[dict]:
        """Every registry: ``{"name", "regions" (None = every region), "system"}``."""
        from .registry import list_registries

        return list_registries(self._app)

    def set_metrics(self, job: str, metrics: dict, *, step: Optional[str] = None) -> dict:
        """Override the final values of metrics of pipeline job ``job`` (e.g. ``{"eval_loss": 0.4}``) logged by its
        fine-tuning step (or by the step named ``step``); None as a value removes an override. The job need not
        exist yet. Raises ``EmulatorError`` for a value that is no finite number."""
        from .metrics import set_overrides

        with self._app.lock:
            return set_overrides(self._app, job, metrics, step)

    @property
    def workspace_id(self) -> str:
        return (f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}/providers/"
                f"Microsoft.MachineLearningServices/workspaces/{self.workspace_name}")


def run_emulator(
    host: str = "127.0.0.1",
    port: int = 0,
    state_dir: Optional[str | Path] = None,
    latencies: Optional[dict] = None,
    job_duration: float = DEFAULT_JOB_DURATION,
    *,
    verbose: bool = False,
    out=None,
    on_start: Optional[Callable[[Emulator], None]] = None,
    on_stop: Optional[Callable[[Emulator], None]] = None,
    **kwargs: Any,
) -> None:
    """Run an emulator in the foreground until Ctrl-C (the ``amlgen emulator`` command).

    Prints ``base_url=<url>`` and ``ca_path=<pem>`` (one line each, flushed) so a parent process can read them,
    calls ``on_start(emu)``, then serves; ``on_stop(emu)`` runs after the server stopped. ``kwargs`` go to
    ``Emulator`` (``subscription_id``, ``resource_group``, ``workspace_name``, ``workspaces``, ``location``).
    Raises ``EmulatorError``/``EmulatorStartError`` on bad settings.
    """
    out = out or sys.stdout
    emu = Emulator(state_dir=state_dir, latencies=latencies, job_duration=job_duration, host=host, port=port,
                   verbose=verbose, **kwargs)
    with interrupts.installed((signal.SIGINT, signal.SIGTERM)):  # SIGTERM stops it as Ctrl-C does: on_stop runs
        emu.start()
        print(f"base_url={emu.base_url}", file=out, flush=True)
        print(f"ca_path={emu.ca_path}", file=out, flush=True)
        try:
            if on_start is not None:
                on_start(emu)
            emu.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            emu.stop()
            if on_stop is not None:
                on_stop(emu)

