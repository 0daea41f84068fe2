"""The only module of amlgen that talks to Azure (through azure-ai-ml).

    ws = Workspace.connect(env, target=AzureTarget())        # DefaultAzureCredential
    ws = Workspace.connect(env, target=LocalTarget(url, ca)) # a loopback emulator (generator.emulator.target)
    live = ws.get(Ref("compute", "gpu-a100-1x"))              # None when it does not exist
    ws.put("compute", entity)                                 # waits for the long-running operation
    with ws.lease("dev", "apply"):                            # a blob lease in the default datastore (wslease)
        ...
    ws.close()

Where the client points is a small target object this module receives: ``AzureTarget`` here, ``LocalTarget``
in ``generator.emulator.target`` (credential, client keyword arguments, process settings). How each resource
kind is read, created and deleted comes from the kinds table (``generator.kinds``).

Every SDK call amlgen makes goes through ``Workspace.call``; azure-core / azure-ai-ml errors become
``generator.errors.AzureError`` one-liners naming the resource (kind and name) and the HTTP status and error
code. Throttling (429/503, with or without Retry-After) is retried by azure-core's RetryPolicy, configured
through ``retry_total`` / ``retry_backoff_factor``. Credentials, tokens and endpoint keys are never printed,
logged or written: keys are fetched only inside the SDK's ``invoke``, and error texts are scrubbed of
``Bearer``/key-looking values before they are shown.
"""

from __future__ import annotations

import json
import os
import re
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from .errors import AzureError, ConfigError
from .kinds import BY_NAME, Ref
from .yamlutil import read_json

T = TypeVar("T")

TERMINAL_JOB = ("Completed", "Failed", "Canceled")


# --------------------------------------------------------------------------- targets
@dataclass(frozen=True)
class AzureTarget:
    """Azure itself: ``DefaultAzureCredential``; optionally a config.json as ``MLClient.from_config`` reads it."""

    workspace_config: str | None = None
    kind: str = "azure"

    is_local = False
    label_suffix = ""

    def credential(self) -> Any:
        return azure_credential()

    def client_kwargs(self) -> dict[str, Any]:
        return {}

    def prepare(self) -> Callable[[], None] | None:
        return None


def read_workspace_config(path: str | Path) -> tuple[str, str, str]:
    """(subscription, resource group, workspace) named by a config.json, as ``MLClient.from_config`` reads it."""
    file = Path(path)
    if file.is_dir():
        file = file / "config.json"
    if not os.path.lexists(file):
        raise ConfigError("no such workspace config file", where=str(path))
    data = read_json(file, str(file))
    data = data if isinstance(data, dict) else {}
    values = (data.get("subscription_id"), data.get("resource_group"), data.get("workspace_name"))
    if not all(isinstance(v, str) and v for v in values):
        raise ConfigError("a workspace config.json needs subscription_id, resource_group and workspace_name",
                          where=str(path))
    return values  # type: ignore[return-value]


# --------------------------------------------------------------------------- errors
_SECRETISH = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}|((?:primary|secondary)?key\"?\s*[:=]\s*\"?)[A-Za-z0-9._~+/=-]{16,}")


def scrub(text: str) -> str:
    """Remove anything that looks like a bearer token or key from a message shown to the user."""
    return _SECRETISH.sub(lambda m: (m.group(1) or m.group(2) or "") + "***", text)


def _first_line(text: str, limit: int = 400) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def describe_error(exc: BaseException) -> tuple[str, str]:
    """(``HTTP 503 ServiceUnavailable`` or '', the service's message) for an azure-core/azure-ai-ml error."""
    status = getattr(exc, "status_code", None)
    error = getattr(exc, "error", None)
    code = getattr(error, "code", None) if error is not None else None
    message = getattr(error, "message", None) if error is not None else None
    if not message:
        message = getattr(exc, "message", None) or str(exc)
        # azure-core puts "(Code) message\nCode: ...\nMessage: ..." in str(); keep the first sentence
        message = str(message).split("\nCode:")[0]
        message = re.sub(r"^\(\w+\)\s*", "", message.strip())
        if not code:
            m = re.search(r"\bCode: (\w+)", str(exc))
            code = m.group(1) if m else None
    head = " ".join(p for p in (f"HTTP {status}" if status else "", code or "") if p)
    return head, scrub(_first_line(message))


def translate(exc: BaseException, kind: str, name: str, action: str, where: str = "") -> AzureError:
    """An AzureError one-liner for ``exc`` raised while ``action``-ing the ``kind`` named ``name``."""
    from azure.core.exceptions import ClientAuthenticationError, ServiceRequestError, ServiceResponseError

    what = f"{kind} '{name}'" if name else kind
    if isinstance(exc, ClientAuthenticationError):
        return AzureError(f"{what}: {action} failed: not authenticated to the workspace{where} "
                          f"({scrub(_first_line(getattr(exc, 'message', '') or str(exc), 200))}); "
                          "run `az login` or set AZURE_* credentials")
    if isinstance(exc, (ServiceRequestError, ServiceResponseError)):
        return AzureError(f"{what}: {action} failed: cannot reach the workspace{where}: "
                          f"{scrub(_first_line(getattr(exc, 'message', '') or str(exc), 200))}")
    head, message = describe_error(exc)
    return AzureError(f"{what}: {action} failed{': ' + head if head else ''}: {message}")


# --------------------------------------------------------------------------- credentials
def azure_credential() -> Any:
    """DefaultAzureCredential; the interactive browser fallback only when stdin is a terminal."""
    try:
        from azure.identity import DefaultAzureCredential
    except ImportError as exc:  # pragma: no cover - broken installation
        raise AzureError(f"azure-identity is not installed: {exc}") from exc
    interactive = bool(sys.stdin and sys.stdin.isatty())
    return DefaultAzureCredential(exclude_interactive_browser_credential=not interactive)


def _quiet_sdk_logging() -> None:
    import logging

    for name in ("azure", "azure.ai.ml", "azure.identity", "azure.core.pipeline.policies.http_logging_policy"):
        logging.getLogger(name).setLevel(logging.ERROR)
    # SDK modules set their own loggers to INFO with a stdout handler ("Check: endpoint ... exists")
    for name in list(logging.Logger.manager.loggerDict):
        if name.startswith("azure.ai.ml") and not name.startswith("azure.ai.ml._telemetry"):
            logging.getLogger(name).setLevel(logging.WARNING)
    logging.getLogger("azure.ai.ml._utils._experimental").setLevel(logging.CRITICAL)


# --------------------------------------------------------------------------- SDK console noise
_tls = threading.local()
_muffle_lock = threading.Lock()
_muffle_users = 0


class _Muffled:
    """Wraps sys.stdout/sys.stderr: drops what the SDK prints (upload bars, LRO dots) inside ``Workspace.call``
    in the calling thread only, so concurrent steps cannot scribble over amlgen's own progress lines."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def write(self, text: str) -> int:
        if getattr(_tls, "muffled", False) or threading.current_thread().name.startswith("LROPoller"):
            return len(text)  # azure-core polls LROs in "LROPoller(<uuid>)" threads; the SDK prints dots there
        return self.inner.write(text)

    def flush(self) -> None:
        self.inner.flush()

    def isatty(self) -> bool:
        return bool(getattr(self.inner, "isatty", lambda: False)())

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def _muffle(on: bool) -> None:
    global _muffle_users
    with _muffle_lock:
        if on:
            _muffle_users += 1
            if _muffle_users == 1:
                sys.stdout = _Muffled(sys.stdout)  # type: ignore[assignment]
                sys.stderr = _Muffled(sys.stderr)  # type: ignore[assignment]
        elif _muffle_users > 0:
            _muffle_users -= 1
            if _muffle_users == 0:
                if isinstance(sys.stdout, _Muffled):
                    sys.stdout = sys.stdout.inner
                if isinstance(sys.stderr, _Muffled):
                    sys.stderr = sys.stderr.inner


# --------------------------------------------------------------------------- the workspace
def _client_kwargs(target: Any, retry_total: int | None, retry_backoff_factor: float | None) -> dict[str, Any]:
    """MLClient's keyword arguments for a workspace or a registry: the target's endpoints, no progress bars, the
    retry settings given (the SDK's defaults otherwise)."""
    _quiet_sdk_logging()
    if os.environ.get("AZUREML_CURRENT_CLOUD", "").startswith("AmlgenEmulator") and "azure.ai.ml" not in sys.modules:
        # left by a parent process that talked to an emulator: azure-ai-ml would fail at import on that name
        os.environ.pop("AZUREML_CURRENT_CLOUD")
    kwargs: dict[str, Any] = {"show_progress": False, **target.client_kwargs()}
    if retry_total is not None:
        kwargs["retry_total"] = retry_total
    if retry_backoff_factor is not None:
        kwargs["retry_backoff_factor"] = retry_backoff_factor
    return kwargs


class Workspace:
    """An MLClient for one workspace, with every call wrapped (``call``)."""

    def __init__(self, client: Any, *, restore: Callable[[], None] | None = None, label: str = "",
                 target: Any = None, credential: Any = None, retry: dict[str, Any] | None = None) -> None:
        self.client = client
        self._restore = restore
        self.label = label
        self.target = target or AzureTarget()
        self._credential = credential  # for the REST calls the SDK has no method for (``rest``)
        self._retry = retry or {}
        self._pipelines: dict[bool, Any] = {}
        self._leases: list[Any] = []  # the workspace leases held (wslease.WorkspaceLease)
        _muffle(True)
        self._muffled = True

    # -- construction
    @classmethod
    def connect(cls, env: Any | None, *, target: Any = None, retry_total: int | None = None,
                retry_backoff_factor: float | None = None, credential: Any = None) -> Workspace:
        """Build the MLClient for ``env.config.workspace`` (or ``target.workspace_config``). No network call."""
        target = target or AzureTarget()
        kwargs = _client_kwargs(target, retry_total, retry_backoff_factor)
        restore = target.prepare()
        try:
            credential = credential or target.credential()
            import azure.ai.ml.operations  # noqa: F401  (so their loggers exist and can be quietened)
            from azure.ai.ml import MLClient

            _quiet_sdk_logging()
            if target.workspace_config:
                sub, rg, name = read_workspace_config(target.workspace_config)
            elif env is not None:
                w = env.config.workspace
                sub, rg, name = w.subscription_id, w.resource_group, w.name
            else:
                raise ConfigError("no workspace: give --env or --workspace-config")
            client = MLClient(credential, sub, rg, name, **kwargs)
        except (ConfigError, AzureError):
            if restore:
                restore()
            raise
        except Exception as exc:
            if restore:
                restore()
            raise AzureError(f"cannot configure the workspace client: {scrub(_first_line(str(exc)))}") from None
        label = f"{name} (resource group {rg}){target.label_suffix}"
        retry = {k: v for k, v in kwargs.items() if k in ("retry_total", "retry_backoff_factor")}
        return cls(client, restore=restore, label=label, target=target, credential=credential, retry=retry)

    @classmethod
    def connect_registry(cls, registry: str, *, target: Any = None, retry_total: int | None = None,
                         retry_backoff_factor: float | None = None, credential: Any = None) -> Workspace:
        """An MLClient for an Azure ML registry (``MLClient(credential, registry_name=...)``), wrapped the same way."""
        target = target or AzureTarget()
        kwargs = _client_kwargs(target, retry_total, retry_backoff_factor)
        restore = target.prepare()
        try:
            from azure.ai.ml import MLClient

            client = MLClient(credential or target.credential(), registry_name=registry, **kwargs)
        except Exception as exc:
            if restore:
                restore()
            raise AzureError(f"cannot configure the client of registry '{registry}': {scrub(_first_line(str(exc)))}") from None
        return cls(client, restore=restore, label=f"registry {registry}{target.label_suffix}", target=target)

    @property
    def workspace_id(self) -> tuple[str, str, str]:
        c = self.client
        return (str(c.subscription_id).lower(), str(c.resource_group_name).lower(), str(c.workspace_name).lower())

    def close(self) -> None:
        if self._muffled:
            self._muffled = False
            _muffle(False)
        if self._restore is not None:
            self._restore()
            self._restore = None

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- the one wrapper
    def call(self, kind: str, name: str, action: str, fn: Callable[[], T]) -> T:
        for held in list(self._leases):
            held.check()  # a lost workspace lease stops the run before its next call
        outer = getattr(_tls, "muffled", False)
        _tls.muffled = True
        try:
            return fn()
        except AzureError:
            raise
        except Exception as exc:
            if _is_sdk_error(exc):
                raise translate(exc, kind, name, action, f" {self.label}" if action == "check" else "") from None
            raise
        finally:
            _tls.muffled = outer

    # -- the workspace lease
    @contextmanager
    def lease(self, name: str, what: str, *, duration: int | None = None, renew_every: float | None = None,
              warn: Callable[[str], None] | None = None) -> Iterator[Any]:
        """Hold the lease ``amlgen/locks/<name>.lease`` in the workspace's default datastore for the duration
        (``generator.wslease``): another run holding it is a one-line ``AzureError`` before anything is written; a
        lease lost on the way stops the run at its next call; where the service does not allow it, ``warn`` (stderr
        by default) gets one line and the block runs without it (yields None)."""
        from .wslease import LEASE_SECONDS, Unavailable, WorkspaceLease

        say = warn or (lambda text: print(text, file=sys.stderr, flush=True))
        held = WorkspaceLease(self, name, what, duration=duration or LEASE_SECONDS, renew_every=renew_every)
        try:
            self.call("workspace lease", held.blob_name, "acquire", held.acquire)
        except Unavailable as why:
            say(f"warning: the workspace lease is not available ({scrub(_first_line(str(why), 300))}); runs from "
                "other checkouts are not serialised")
            held = None
        if held is None:
            yield None
            return
        self._leases.append(held)
        try:
            yield held
        finally:
            self._leases.remove(held)
            if not held.release():
                say(f"warning: could not release the workspace lease {held.blob_name}; it ends within "
                    f"{held.duration} s")

    # -- reads
    def check(self) -> None:
        """Fail early and clearly when the workspace cannot be reached or does not exist."""
        name = self.client.workspace_name or ""
        self.call("workspace", name, "check", lambda: self.client.workspaces.get(name))

    def get(self, ref: Ref) -> Any | None:
        """The live resource, or None when it does not exist (404)."""
        kind = BY_NAME[ref.kind]

        def fetch() -> Any:
            from azure.core.exceptions import ResourceNotFoundError

            try:
                return kind.get(self.client, ref)
            except ResourceNotFoundError:
                return None
            except Exception as exc:
                # data/model lookups of a missing version answer 404 through a different exception type
                if getattr(exc, "status_code", None) == 404 or type(exc).__name__ == "ResourceNotFoundError":
                    return None
                raise

        return self.call(ref.kind, ref.shown, "read", fetch)

    # -- writes
    def put(self, kind_name: str, entity: Any) -> Any:
        """Create or update ``entity`` (of the kinds-table kind ``kind_name``) and wait for its operation."""
        kind = BY_NAME[kind_name]
        shown = _shown(getattr(entity, "name", "") or "", getattr(entity, "version", None) if kind.versioned else None,
                       getattr(entity, "endpoint_name", None))
        return self.call(kind_name, shown, kind.action, lambda: kind.put(self.client, entity))

    def delete(self, ref: Ref) -> bool:
        """Delete a resource whose kind can be deleted; False when it did not exist."""
        kind = BY_NAME[ref.kind]
        if kind.delete is None:
            raise AzureError(f"{ref.kind} '{ref.shown}': amlgen does not delete this kind")
        if self.get(ref) is None:
            return False
        self.call(ref.kind, ref.shown, "delete", lambda: kind.delete(self.client, ref))  # type: ignore[misc]
        return True

    def job_error(self, name: str) -> str:
        """The error a failed job reports (through the run history, as ``jobs.stream`` reads it)."""
        import io
        from contextlib import redirect_stdout

        buf = io.StringIO()
        try:
            with redirect_stdout(buf):
                self.client.jobs.stream(name)
        except Exception as exc:  # JobException carries the service's error
            text = str(getattr(exc, "message", "") or exc)
            m = re.search(r'"message"\s*:\s*"((?:[^"\\]|\\.)*)"', text)
            return scrub(_first_line(json.loads(f'"{m.group(1)}"') if m else text.split("\n")[-1] or text, 300))
        return "the job failed (no error reported)"

    def rest(self, method: str, url: str, *, json_body: Any = None, auth: bool = True, raw: bool = False) -> Any:
        """A REST call the SDK has no method for (run history, MLflow tracking, a log's SAS URL): with the
        workspace's credential and the SDK's scope when ``auth``, azure-core retries; the parsed JSON (the text
        when ``raw`` or when the body is no JSON).
        Call it inside ``call``: an error status raises ``HttpResponseError`` with the service's message."""
        from azure.core import PipelineClient
        from azure.core.exceptions import HttpResponseError
        from azure.core.pipeline.policies import BearerTokenCredentialPolicy, RetryPolicy, UserAgentPolicy
        from azure.core.rest import HttpRequest

        client = self._pipelines.get(auth)
        if client is None:
            policies: list[Any] = [UserAgentPolicy("amlgen"), RetryPolicy(**self._retry)]
            if auth:
                scopes = (getattr(self.client, "_kwargs", None) or {}).get("credential_scopes") or [
                    "https://management.azure.com/.default"]
                policies.append(BearerTokenCredentialPolicy(self._credential or self.target.credential(), *scopes))
            client = self._pipelines[auth] = PipelineClient(url, policies=policies)
        response = client.send_request(HttpRequest(method, url, json=json_body))
        if response.status_code >= 400:
            message = response.text()
            try:
                data = response.json()
                err = data.get("error") if isinstance(data, dict) else None
                if isinstance(err, dict):  # ARM: {"error": {"code", "message"}}
                    message = f"{err.get('code', '')}: {err.get('message', '')}"
                elif isinstance(data, dict) and "error_code" in data:  # MLflow: {"error_code", "message"}
                    message = f"{data['error_code']}: {data.get('message', '')}"
            except ValueError:
                pass
            raise HttpResponseError(message=message or f"HTTP {response.status_code}", response=response)
        text = response.text()
        if raw:
            return text
        try:
            return response.json() if text else None
        except ValueError:
            return text

    def invoke_json(self, endpoint: str, request: Any, deployment: str | None = None) -> str:
        """``invoke`` with the request given as data: the SDK reads a file, so it goes through a private temporary
        folder, removed whatever happens."""
        import tempfile

        with tempfile.TemporaryDirectory(prefix="amlgen-request-") as tmp:
            path = Path(tmp) / "request.json"
            path.write_text(json.dumps(request, indent=2) + "\n", encoding="utf-8")
            return self.invoke(endpoint, path, deployment)

    def invoke(self, endpoint: str, request_file: str | Path, deployment: str | None = None) -> str:
        """Score ``request_file`` on the endpoint; the key is fetched and used inside the SDK only.

        azure-ai-ml 1.35.2 writes the key and the deployment header into a class-level dict
        (``EndpointInvokeFields.DEFAULT_HEADER``), so one invoke with a deployment would route every later invoke
        of the process there (and keep the key in memory): the dict is put back as it was after each call.
        """
        from azure.ai.ml.constants._endpoint import EndpointInvokeFields

        ml = self.client
        saved = dict(EndpointInvokeFields.DEFAULT_HEADER)
        try:
            return self.call("endpoint", endpoint, "invoke", lambda: ml.online_endpoints.invoke(
                endpoint_name=endpoint, request_file=str(request_file), deployment_name=deployment))
        finally:
            EndpointInvokeFields.DEFAULT_HEADER.clear()
            EndpointInvokeFields.DEFAULT_HEADER.update(saved)


def _shown(name: str, version: str | None = None, endpoint: str | None = None) -> str:
    text = f"{name}:{version}" if version else name
    return f"{endpoint}/{text}" if endpoint else text


def _is_sdk_error(exc: BaseException) -> bool:
    try:
        from azure.core.exceptions import AzureError as CoreError
    except ImportError:  # pragma: no cover
        return False
    if isinstance(exc, CoreError):
        return True
    try:
        from azure.ai.ml.exceptions import MlException
    except ImportError:  # pragma: no cover
        return False
    return isinstance(exc, MlException) or type(exc).__module__.startswith(("azure.", "msrest"))
