"""A loopback Azure ML workspace emulator for the unmodified azure-ai-ml SDK.

The emulator is a stateful HTTPS server (stdlib ``ThreadingHTTPServer`` + ``ssl``, self-signed CA generated at
start with ``cryptography``) answering the REST calls azure-ai-ml 1.35.2 makes for: the workspace and its
``workspaceblobstore`` datastore (``listSecrets`` returns a random per-instance account key; blob uploads are
path style ``<base>/<account>/<container>/<blob>`` and SharedKey signatures are verified), ``data``/``models``/
``components`` asset versions, AmlCompute clusters, pipeline/command jobs with a time-based lifecycle and
run-history ``details``, managed online endpoints/deployments with keys, traffic and scoring, and the read-only
``azureml`` system registry (Phi-3-mini-4k-instruct, chat_completion_pipeline). It is strict where Azure is:
unknown resources answer 404 with an ARM error body, invalid bodies 400, duplicate job names and changed
immutable asset versions 409.

Quick start (tests)::

    from generator.emulator import Emulator
    from generator.emulator.local import EmulatorCredential, local_cloud_kwargs, prepare_process_for_emulator

    with Emulator(latencies={"compute": 0.05}, job_duration=0.4) as emu, \
            prepare_process_for_emulator(emu.base_url, emu.ca_path):
        ml = MLClient(EmulatorCredential(), emu.subscription_id, emu.resource_group, emu.workspace_name,
                      **local_cloud_kwargs(emu.base_url), retry_backoff_factor=0.01)
        ...

In another process: ``python -m generator.emulator [--port N] [--state-dir DIR] [--latency KIND=S]
[--job-duration S]`` (or ``run_emulator(...)``) prints ``base_url=...`` and ``ca_path=...``; read both lines,
then use ``EmulatorControl(base_url, ca_path)`` for faults, the request log, reset and latencies.

Public API
----------
``Emulator(state_dir=None, latencies=None, job_duration=1.0, host="127.0.0.1", port=0, *,
subscription_id=..., resource_group="amlgen-emulator-rg", workspace_name="amlgen-emulator-ws", workspaces=None,
location="eastus", verbose=False, fault_seed=None)``
    ``with Emulator(...) as emu:`` serves in a daemon thread (or ``start()`` / ``stop()``). Attributes:
    ``base_url`` (``https://127.0.0.1:<port>/``), ``ca_path`` (PEM to trust), ``faults`` (``Faults``: ``add``,
    ``clear``, ``remove``, ``list``), ``requests`` (list of ``RequestRecord(method, path, status)``; paths carry
    no query string, bodies and headers are never recorded), ``write_calls()`` (state-changing requests:
    PUT/POST/PATCH/DELETE except listKeys/listSecrets/listNodes/getLogs/token and scoring),
    ``clear_requests()``, ``reset()``, ``latencies`` (dict, mutable), ``job_duration``, ``subscription_id``,
    ``resource_group``, ``workspace_name``.

    Workspaces: with ``workspaces=None`` any ``/subscriptions/*/resourceGroups/*/workspaces/<name>`` is served and
    created on first use (so several clients may use several workspaces); with a list of names only those names,
    under ``subscription_id``/``resource_group``, exist and others answer 404.

    ``latencies`` (seconds, per kind): ``compute``, ``endpoint``, ``deployment`` (LRO time to terminal state),
    ``model``, ``data`` (time the synchronous PUT takes), ``delete`` (delete LROs), ``cancel`` (job cancel),
    and ``job`` (an alias of ``job_duration``), e.g. ``{"compute": 3, "endpoint": 4, "job": 10, "model": 0.5,
    "deployment": 6}``.
    Defaults are 0-0.2 s. ``job_duration``: seconds from submission to ``Completed``/``Failed`` (status is
    NotStarted for the first 10 %, Queued until 30 %, then Running).

    ``state_dir``: keep the state (resources, blobs, endpoint keys) in ``<state_dir>/state.json`` (mode 0600)
    and the CA/server certificate beside it, so a restarted emulator keeps its resources and its CA. Without it
    the state is in memory and certificates go to a temporary directory removed on ``stop()``.

Faults (``emu.faults.add(path_regex, method="*", action="status"|"fail"|"delay", status=503, retry_after=None,
count=None, probability=None, delay=0.0, message=...)``): see ``generator.emulator.faults``. A ``fail`` rule on
the PUT of a compute/endpoint/deployment makes its LRO end ``Failed`` (error code ``InjectedFailure``); on a
job PUT the job ends ``Failed`` with the message; on an asset PUT the PUT answers 400.

Control API (same server, not recorded in the request log, no auth: loopback only):
``GET /_emulator/health``; ``GET /_emulator/requests`` -> ``{"requests": [{method, path, status}],
"write_calls": n}``; ``DELETE /_emulator/requests``; ``GET|POST|DELETE /_emulator/faults`` (POST a rule object or
a list of them, same keys as ``Faults.add``); ``DELETE /_emulator/faults/<id>``; ``POST /_emulator/reset``
(drop all resources, faults and the log); ``GET|POST /_emulator/config`` (``{"latencies": {...},
"job_duration": s}``). ``EmulatorControl(base_url, ca_path)`` is a small client for it.

``run_emulator(host="127.0.0.1", port=0, state_dir=None, latencies=None, job_duration=..., ...)`` serves until
Ctrl-C after printing ``base_url=<url>`` and ``ca_path=<path>`` on one line each (the ``amlgen emulator``
command calls it; ``add_emulator_command(app)`` is deliberately not provided: wire ``run_emulator`` directly).

Client side: ``generator.emulator.local`` (``local_cloud_kwargs``, ``EmulatorCredential``,
``prepare_process_for_emulator``).

Strictness (besides the 404/400/409 above): Bearer token and ``api-version`` required on ARM routes; compute
names 2-16 chars, vmSize required, 0 <= min <= max, max >= 1, ISO-8601 idle time, no vmSize/priority change
on update, DELETE needs ``underlyingResourceAction``; pipeline jobs must not reuse a name (409), their
``computeId``/``settings.default_compute`` and literal ``compute_*`` inputs (how chat_completion_pipeline takes
its clusters) must name an existing compute or ``serverless`` (400), registry components/models and workspace
assets they reference must exist (400); a datastore input path that does not exist makes the job end
``Failed``; models from ``azureml://jobs/<job>/outputs/<out>`` need an existing ``Completed`` job with that
output (or ``artifacts``); asset versions are immutable (409 on another URI/type); deployments need a
``Succeeded`` endpoint, an existing model version (workspace or ``azureml`` registry), an instance type and
capacity >= 1; traffic must sum to 0 or 100 and go only to ``Succeeded`` deployments; a deployment with traffic
cannot be deleted; scoring needs ``Authorization: Bearer <endpoint key>`` and a chat-completion body
``{"input_data": {"input_string": [messages], "parameters": {...}}}`` and answers ``{"output": "<text>"}``
(deterministic, derived from the deployment, model and messages); with no ``azureml-model-deployment`` header
it routes by traffic (424 when none). Component inputs are not checked against the component interface.

Limits: ``prepare_process_for_emulator`` changes process-global settings (``STORAGE_ACCOUNT_URLS``,
``REQUESTS_CA_BUNDLE``), so blob uploads go to one emulator per process at a time. The whole state is guarded
by one lock; the state file is rewritten after every successful write (blob contents are stored once per
content hash under ``<state_dir>/blobs``).

Not emulated: workspace creation, non-blob datastores, environments builds, AMLToken/AAD endpoint auth,
Kubernetes deployments, batch endpoints, job logs/outputs download, registry writes.
"""

from __future__ import annotations

import shutil
import ssl
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any, Callable, Optional

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
    """A loopback Azure ML workspace emulator serving HTTPS in a background thread (see the module doc)."""

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
        workspaces: Optional[list[str]] = None,
        location: str = "eastus",
        verbose: bool = False,
        fault_seed: Optional[int] = None,
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
        )
        self._server: Optional[TLSServer] = None
        self._thread: Optional[threading.Thread] = None
        self._tmpdir: Optional[str] = None
        self.base_url = ""
        self.ca_path = ""

    # ----------------------------------------------------------- lifecycle
    def start(self) -> "Emulator":
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

    def __enter__(self) -> "Emulator":
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
        """Number of state-changing requests served so far (see the module doc)."""
        return sum(1 for r in self.requests if is_write(r.method, r.path))

    def clear_requests(self) -> None:
        with self._app.lock:
            self._app.log.clear()

    def reset(self) -> None:
        """Drop every resource, blob, fault rule and the request log."""
        self._app.reset_state()
        self.faults.clear()
        self.clear_requests()
        self._app.save()

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
    on_start: Optional[Callable[["Emulator"], None]] = None,
    on_stop: Optional[Callable[["Emulator"], None]] = None,
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
