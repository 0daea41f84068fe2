"""The only module of amlgen that talks to Azure (through azure-ai-ml).

    ws = Workspace.connect(env, target=Target.azure())                 # DefaultAzureCredential
    ws = Workspace.connect(env, target=Target.local(base_url, ca_path)) # a loopback emulator
    live = ws.get("compute", "gpu-a100-1x")                             # None when it does not exist
    ws.create_or_update("compute", entity)                               # waits for the LRO
    ws.close()

Every SDK call amlgen makes goes through a method here; azure-core / azure-ai-ml errors become
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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from .errors import AzureError, ConfigError

T = TypeVar("T")

STATE_FILE = ".amlgen/emulator.json"
REGISTRY_NAME = "azureml"
TERMINAL_JOB = ("Completed", "Failed", "Canceled", "NotResponding", "Paused")

# Resource kinds amlgen manages, as shown to the user.
KINDS = ("compute", "data", "job", "model", "endpoint", "deployment", "traffic")


# --------------------------------------------------------------------------- targets
@dataclass(frozen=True)
class Target:
    """Where the workspace is: Azure (``kind='azure'``) or a loopback emulator (``kind='local'``)."""

    kind: str = "azure"
    base_url: str = ""
    ca_path: str = ""
    workspace_config: str | None = None  # a config.json as MLClient.from_config reads it

    @staticmethod
    def azure(workspace_config: str | Path | None = None) -> "Target":
        return Target("azure", workspace_config=str(workspace_config) if workspace_config else None)

    @staticmethod
    def local(base_url: str, ca_path: str) -> "Target":
        return Target("local", base_url=base_url, ca_path=ca_path)

    @property
    def is_local(self) -> bool:
        return self.kind == "local"


def state_file(root: Path) -> Path:
    return root / STATE_FILE


def write_emulator_state(root: Path, base_url: str, ca_path: str) -> Path:
    """Record where a running ``amlgen emulator`` listens (base URL and CA path only: never keys)."""
    path = state_file(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"base_url": base_url, "ca_path": ca_path, "pid": os.getpid()}, indent=2) + "\n")
    os.replace(tmp, path)
    return path


def read_emulator_state(root: Path) -> Target:
    path = state_file(root)
    if not path.is_file():
        raise AzureError(f"no local emulator is running for this project ({STATE_FILE} not found): start one with "
                         "`amlgen emulator`, or use `amlgen up` which starts its own")
    try:
        data = json.loads(path.read_text())
        return Target.local(str(data["base_url"]), str(data["ca_path"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise AzureError(f"{STATE_FILE} is malformed ({exc}); restart `amlgen emulator`") from None


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
class Workspace:
    """An MLClient for one workspace (plus the ``azureml`` registry client), with every call wrapped."""

    def __init__(self, client: Any, *, registry_client_factory: Callable[[], Any] | None = None,
                 restore: Callable[[], None] | None = None, label: str = "", target: Target | None = None) -> None:
        self.client = client
        self._registry_factory = registry_client_factory
        self._registry: Any = None
        self._restore = restore
        self.label = label
        self.target = target or Target()
        self._lock = threading.Lock()
        _muffle(True)
        self._muffled = True

    # -- construction
    @classmethod
    def connect(cls, env: Any | None, *, target: Target | None = None, retry_total: int | None = None,
                retry_backoff_factor: float | None = None, credential: Any = None) -> "Workspace":
        """Build the MLClient for ``env.config.workspace`` (or ``target.workspace_config``). No network call."""
        target = target or Target()
        _quiet_sdk_logging()
        if os.environ.get("AZUREML_CURRENT_CLOUD", "").startswith("AmlgenEmulator") and "azure.ai.ml" not in sys.modules:
            # left by a parent process that talked to an emulator: azure-ai-ml would fail at import on that name
            os.environ.pop("AZUREML_CURRENT_CLOUD")
        kwargs: dict[str, Any] = {"show_progress": False}
        if retry_total is not None:
            kwargs["retry_total"] = retry_total
        if retry_backoff_factor is not None:
            kwargs["retry_backoff_factor"] = retry_backoff_factor
        restore = None
        if target.is_local:
            from .emulator.local import EmulatorCredential, local_cloud_kwargs, prepare_process_for_emulator

            if not Path(target.ca_path).is_file():
                raise AzureError(f"the local emulator's CA file {target.ca_path} does not exist: is the emulator "
                                 "still running? (restart `amlgen emulator`)")
            restore = prepare_process_for_emulator(target.base_url, target.ca_path)
            credential = credential or EmulatorCredential()
            kwargs.update(local_cloud_kwargs(target.base_url))
            kwargs.setdefault("retry_backoff_factor", 0.05)
        else:
            credential = credential or azure_credential()
        from azure.ai.ml import MLClient
        import azure.ai.ml.operations  # noqa: F401  (so their loggers exist and can be quietened)

        _quiet_sdk_logging()
        try:
            if target.workspace_config:
                path = Path(target.workspace_config)
                if not path.is_file():
                    raise ConfigError("no such workspace config file", where=str(path))
                client = MLClient.from_config(credential, path=str(path), **kwargs)
                label = f"{client.workspace_name} (resource group {client.resource_group_name})"
            else:
                if env is None:
                    raise ConfigError("no workspace: give --env or --workspace-config")
                w = env.config.workspace
                client = MLClient(credential, w.subscription_id, w.resource_group, w.name, **kwargs)
                label = f"{w.name} (resource group {w.resource_group})"
        except (ConfigError, AzureError):
            if restore:
                restore()
            raise
        except Exception as exc:
            if restore:
                restore()
            raise AzureError(f"cannot configure the workspace client: {scrub(_first_line(str(exc)))}") from None
        if target.is_local:
            label += f" on the local emulator {target.base_url}"

        def registry() -> Any:
            reg_kwargs = {k: v for k, v in kwargs.items()}
            return MLClient(credential, registry_name=REGISTRY_NAME, **reg_kwargs)

        return cls(client, registry_client_factory=registry, restore=restore, label=label, target=target)

    def close(self) -> None:
        if self._muffled:
            self._muffled = False
            _muffle(False)
        if self._restore is not None:
            self._restore()
            self._restore = None

    def __enter__(self) -> "Workspace":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @property
    def registry(self) -> Any:
        """MLClient for the ``azureml`` system registry (built on first use)."""
        if self._registry is None and self._registry_factory is not None:
            self._registry = self._registry_factory()
        return self._registry

    # -- the one wrapper
    def call(self, kind: str, name: str, action: str, fn: Callable[[], T]) -> T:
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

    # -- reads
    def check(self) -> None:
        """Fail early and clearly when the workspace cannot be reached or does not exist."""
        name = self.client.workspace_name or ""
        self.call("workspace", name, "check", lambda: self.client.workspaces.get(name))

    def get(self, kind: str, name: str, version: str | None = None, *, endpoint: str | None = None) -> Any | None:
        """The live resource, or None when it does not exist (404)."""
        from azure.core.exceptions import ResourceNotFoundError

        ml = self.client
        getters: dict[str, Callable[[], Any]] = {
            "compute": lambda: ml.compute.get(name),
            "data": lambda: ml.data.get(name, version=version),
            "job": lambda: ml.jobs.get(name),
            "model": lambda: ml.models.get(name, version=version),
            "endpoint": lambda: ml.online_endpoints.get(name),
            "traffic": lambda: ml.online_endpoints.get(name),
            "deployment": lambda: ml.online_deployments.get(name, endpoint_name=endpoint),
        }

        def fetch() -> Any:
            try:
                return getters[kind]()
            except ResourceNotFoundError:
                return None
            except Exception as exc:
                # data/model lookups of a missing version answer 404 through a different exception type
                if getattr(exc, "status_code", None) == 404 or type(exc).__name__ == "ResourceNotFoundError":
                    return None
                raise

        return self.call(kind, _shown(name, version, endpoint), "read", fetch)

    def job_status(self, name: str) -> str | None:
        job = self.get("job", name)
        return None if job is None else str(job.status)

    # -- writes
    def create_or_update(self, kind: str, entity: Any) -> Any:
        """Create or update ``entity`` and wait for its long-running operation."""
        ml = self.client
        name = getattr(entity, "name", "") or ""
        shown = _shown(name, getattr(entity, "version", None), getattr(entity, "endpoint_name", None))
        ops: dict[str, Callable[[], Any]] = {
            "compute": lambda: ml.compute.begin_create_or_update(entity).result(),
            "data": lambda: ml.data.create_or_update(entity),
            "job": lambda: ml.jobs.create_or_update(entity),
            "model": lambda: ml.models.create_or_update(entity),
            "endpoint": lambda: ml.online_endpoints.begin_create_or_update(entity).result(),
            "traffic": lambda: ml.online_endpoints.begin_create_or_update(entity).result(),
            "deployment": lambda: ml.online_deployments.begin_create_or_update(entity).result(),
        }
        action = "submit" if kind == "job" else "traffic update" if kind == "traffic" else "create/update"
        return self.call(kind, shown, action, ops[kind])

    def delete(self, kind: str, name: str) -> bool:
        """Delete an endpoint (with its deployments) or a compute; False when it did not exist."""
        ml = self.client
        if self.get(kind, name) is None:
            return False
        ops = {
            "endpoint": lambda: ml.online_endpoints.begin_delete(name=name).result(),
            "compute": lambda: ml.compute.begin_delete(name).result(),
        }
        self.call(kind, name, "delete", ops[kind])
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

    def invoke(self, endpoint: str, request_file: str | Path, deployment: str | None = None) -> str:
        """Score ``request_file`` on the endpoint; the key is fetched and used inside the SDK only."""
        ml = self.client
        return self.call("endpoint", endpoint, "invoke", lambda: ml.online_endpoints.invoke(
            endpoint_name=endpoint, request_file=str(request_file), deployment_name=deployment))


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
