"""The emulator's HTTP layer and state machine.

``App`` holds the state and answers ``(method, path, query, headers, body)`` with a ``Response``; ``_Handler`` is
the thin ``http.server`` adaptor; ``Emulator`` (in ``__init__``) owns the TLS server thread.
"""

from __future__ import annotations

import base64
import copy
import datetime as _dt
import hashlib
import json
import os
import re
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, NamedTuple, Optional
from urllib.parse import parse_qs, unquote, urlsplit
from xml.sax.saxutils import escape as xml_escape

from . import registry_seed as _registry
from .faults import FaultRule, FaultRuleError, Faults

PROVIDER = "Microsoft.MachineLearningServices"
BLOB_ACCOUNT = "amlgenemulatorstore"
DEFAULT_LATENCIES = {
    "compute": 0.15,
    "endpoint": 0.15,
    "endpoint_update": None,  # an update of an existing endpoint (e.g. traffic); None = same as "endpoint"
    "deployment": 0.2,
    "model": 0.0,
    "data": 0.0,
    "delete": 0.1,
    "cancel": 0.05,
}
DEFAULT_JOB_DURATION = 1.0
TERMINAL_JOB = ("Completed", "Failed", "Canceled")
MAX_LOG = 200_000  # request-log entries kept (oldest dropped first)
_STATE_FILE = "state.json"
_STATE_VERSION = 1


class RequestRecord(NamedTuple):
    """One entry of the request log. The query string, headers and bodies are never recorded."""

    method: str
    path: str
    status: int


READ_ONLY_POST_SUFFIXES = ("/listkeys", "/listsecrets", "/listnodes", "/score", "/token", "/getlogs")


def is_write(method: str, path: str) -> bool:
    """Whether a request changes state (used by ``write_calls``)."""
    if method.upper() not in ("PUT", "POST", "PATCH", "DELETE"):
        return False
    low = path.lower().rstrip("/")
    if low.startswith("/_emulator"):
        return False
    if method.upper() == "POST" and (low.endswith(READ_ONLY_POST_SUFFIXES) or low.startswith("/inference/")):
        return False
    return True


@dataclass
class Response:
    status: int
    body: Any = None  # dict/list -> JSON, bytes -> raw, str -> text, None -> empty
    headers: dict = field(default_factory=dict)

    def encode(self) -> tuple[bytes, dict]:
        headers = dict(self.headers)
        if self.body is None:
            data = b""
        elif isinstance(self.body, bytes):
            data = self.body
        elif isinstance(self.body, str):
            data = self.body.encode()
            headers.setdefault("Content-Type", "text/plain; charset=utf-8")
        else:
            data = json.dumps(self.body).encode()
            headers.setdefault("Content-Type", "application/json; charset=utf-8")
        return data, headers


class ApiError(Exception):
    """Raised inside handlers to answer an ARM-style error."""

    def __init__(self, status: int, code: str, message: str, headers: Optional[dict] = None):
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}

    def response(self) -> Response:
        headers = {"x-ms-error-code": self.code, **self.headers}
        return Response(self.status, {"error": {"code": self.code, "message": self.message, "details": [],
                                                "additionalInfo": []}}, headers)


def _not_found(kind: str, name: str) -> ApiError:
    return ApiError(404, "ResourceNotFound" if kind != "UserError" else "UserError",
                    f"The resource {kind} '{name}' could not be found.")


def _bad(message: str, code: str = "UserError") -> ApiError:
    return ApiError(400, code, message)


def _iso(ts: float) -> str:
    return _dt.datetime.fromtimestamp(ts, _dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _http_date(ts: float) -> str:
    return _dt.datetime.fromtimestamp(ts, _dt.timezone.utc).strftime("%a, %d %b %Y %H:%M:%S GMT")


_ISO_DURATION = re.compile(r"^P(?!$)(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$")
_COMPUTE_NAME = re.compile(r"^[a-zA-Z][a-zA-Z0-9-]{1,15}$")
_ENDPOINT_NAME = re.compile(r"^[a-zA-Z][a-zA-Z0-9-]{1,30}[a-zA-Z0-9]$")
_DEPLOYMENT_NAME = re.compile(r"^[a-zA-Z][a-zA-Z0-9-]{1,30}[a-zA-Z0-9]$")
_JOB_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_-]{0,254}$")
_ASSET_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9._-]{0,254}$")
_ASSET_VERSION = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9._-]{0,29}$")

WS_RE = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/Microsoft\.MachineLearningServices/"
    r"workspaces/(?P<ws>[^/]+)(?P<rest>/.*)?$",
    re.IGNORECASE,
)
REG_RE = re.compile(
    r"^/mferp/managementfrontend/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/"
    r"Microsoft\.MachineLearningServices/registries/(?P<reg>[^/]+)(?P<rest>/.*)?$",
    re.IGNORECASE,
)
OP_RE = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/providers/Microsoft\.MachineLearningServices/locations/(?P<loc>[^/]+)/"
    r"(?P<kind>mfeOperationsStatus|mfeOperationResults)/(?P<op>[^/]+)$",
    re.IGNORECASE,
)
HISTORY_RE = re.compile(
    r"^/history/v1\.0/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/"
    r"Microsoft\.MachineLearningServices/workspaces/(?P<ws>[^/]+)/(?:experiments/[^/]+/)?runs/(?P<run>[^/]+)"
    r"(?P<rest>/.*)?$",
    re.IGNORECASE,
)
SCORE_RE = re.compile(r"^/inference/(?P<sub>[^/]+)/(?P<rg>[^/]+)/(?P<ws>[^/]+)/(?P<ep>[^/]+)/score$")
JOB_OUTPUT_URI = re.compile(r"^azureml://jobs/(?P<job>[^/]+)/outputs/(?P<out>[^/]+)(?:/(?P<path>.*))?$", re.I)
DATASTORE_URI = re.compile(
    r"^azureml://subscriptions/(?P<sub>[^/]+)/resource[gG]roups/(?P<rg>[^/]+)/workspaces/(?P<ws>[^/]+)/"
    r"datastores/(?P<ds>[^/]+)/paths/(?P<path>.+)$"
)
SHORT_DATASTORE_URI = re.compile(r"^azureml://datastores/(?P<ds>[^/]+)/paths/(?P<path>.+)$")
REGISTRY_ASSET_URI = re.compile(
    r"^azureml://registries/(?P<reg>[^/]+)/(?P<kind>models|components|data|environments)/(?P<name>[^/]+)/"
    r"(?P<sel>versions|labels)/(?P<ver>[^/]+)$",
    re.I,
)
WS_ASSET_ID = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/Microsoft\.MachineLearningServices/"
    r"workspaces/(?P<ws>[^/]+)/(?P<kind>models|components|data|environments)/(?P<name>[^/]+)/versions/(?P<ver>[^/]+)$",
    re.I,
)
COMPUTE_ID = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/Microsoft\.MachineLearningServices/"
    r"workspaces/(?P<ws>[^/]+)/computes/(?P<name>[^/]+)$",
    re.I,
)


def _lower_keys(d: dict) -> dict:
    return {k.lower(): v for k, v in d.items()}


class App:
    """State and request handling of one emulator (thread-safe, one lock)."""

    def __init__(
        self,
        *,
        subscription_id: str,
        resource_group: str,
        workspace_name: str,
        workspaces: Optional[list[str]],
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
        self.allowed_workspaces = None if workspaces is None else {w.lower() for w in workspaces}
        self.location = location
        self.latencies = dict(DEFAULT_LATENCIES)
        self.latencies.update(latencies or {})
        self.job_duration = float(job_duration)
        self.state_dir = state_dir
        self.faults = faults
        self.verbose = verbose
        self.base_url = ""  # set once the server is bound
        self.account_key = base64.b64encode(secrets.token_bytes(64)).decode()  # never logged
        self.lock = threading.RLock()
        self.log: list[RequestRecord] = []
        self.state: dict = {}
        self.blob_data: dict[str, bytes] = {}  # sha256 -> content (files under <state_dir>/blobs when persistent)
        self.staged: dict[str, dict[str, bytes]] = {}  # uncommitted blocks per blob
        self.reset_state()
        if state_dir is not None:
            self._load()
        self.registry_models = _registry.models()
        self.registry_components = _registry.components()
        self.registry_created = time.time() - 86400 * 30

    # ------------------------------------------------------------------ state
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
            from .errors import EmulatorError

            raise EmulatorError(f"cannot read emulator state {path}: {exc}") from exc
        if data.get("version") != _STATE_VERSION:
            from .errors import EmulatorError

            raise EmulatorError(f"emulator state {path} has an unsupported version {data.get('version')!r}")
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

    def workspace(self, sub: str, rg: str, ws: str, create: bool = True) -> dict:
        key = f"{sub}/{rg}/{ws}".lower()
        wss = self.state["workspaces"]
        if key in wss:
            return wss[key]
        known = (
            (self.allowed_workspaces is None or ws.lower() in self.allowed_workspaces)
            and sub.lower() == self.subscription_id.lower()
            and rg.lower() == self.resource_group.lower()
        ) or (self.allowed_workspaces is None)
        if not known or not create:
            raise ApiError(404, "ResourceNotFound",
                           f"The Resource '{PROVIDER}/workspaces/{ws}' under resource group '{rg}' was not found.")
        wss[key] = {
            "sub": sub, "rg": rg, "name": ws, "created": time.time(), "workspace_id": str(uuid.uuid4()),
            "computes": {}, "data": {}, "models": {}, "components": {}, "environments": {}, "jobs": {},
            "endpoints": {}, "deployments": {},
        }
        return wss[key]

    def ws_id(self, ws: dict) -> str:
        return (f"/subscriptions/{ws['sub']}/resourceGroups/{ws['rg']}/providers/{PROVIDER}/workspaces/"
                f"{ws['name']}")

    # -------------------------------------------------------------- utilities
    def _lro(self, kind: str, ready_at: float, final: str, error: Optional[dict], target: Optional[list]) -> str:
        op_id = str(uuid.uuid4())
        self.state["operations"][op_id] = {
            "kind": kind, "created": time.time(), "ready_at": ready_at, "final": final, "error": error,
            "target": target,
        }
        return op_id

    def _op_url(self, op_id: str, kind: str = "mfeOperationsStatus", api_version: str = "2023-04-01-preview") -> str:
        return (f"{self.base_url}subscriptions/{self.subscription_id}/providers/{PROVIDER}/locations/"
                f"{self.location}/{kind}/{op_id}?api-version={api_version}")

    def _poll_ms(self, ready_at: float) -> str:
        remaining = max(0.0, ready_at - time.time())
        return str(int(min(100, max(10, remaining * 1000))))

    @staticmethod
    def _fault_error(rule: Optional[FaultRule]) -> Optional[dict]:
        if rule is not None and rule.action == "fail":
            return {"code": "InjectedFailure", "message": rule.message}
        return None

    def _system_data(self, created: float, modified: Optional[float] = None) -> dict:
        return {
            "createdAt": _iso(created), "createdBy": "emulator@amlgen.local", "createdByType": "User",
            "lastModifiedAt": _iso(modified or created), "lastModifiedBy": "emulator@amlgen.local",
            "lastModifiedByType": "User",
        }

    def sweep(self) -> None:
        """Apply deletions whose time has come."""
        now = time.time()
        for ws in self.state["workspaces"].values():
            for coll in ("computes", "endpoints"):
                for k in [k for k, r in ws[coll].items() if r["_emu"].get("deleted_at", now + 1) <= now]:
                    del ws[coll][k]
                    if coll == "endpoints":
                        ws["deployments"].pop(k, None)
            for ep, deps in ws["deployments"].items():
                for k in [k for k, r in deps.items() if r["_emu"].get("deleted_at", now + 1) <= now]:
                    del deps[k]

    @staticmethod
    def _prov_state(rec: dict) -> str:
        emu = rec["_emu"]
        now = time.time()
        if "deleted_at" in emu:
            return "Deleting"
        if now < emu.get("ready_at", 0):
            return emu.get("pending", "Creating")
        return emu.get("final", "Succeeded")

    @staticmethod
    def _public(rec: dict) -> dict:
        return {k: copy.deepcopy(v) for k, v in rec.items() if k != "_emu"}

    # ---------------------------------------------------------------- routing
    def handle(self, method: str, raw_path: str, headers: dict, body: bytes) -> Response:
        split = urlsplit(raw_path)
        path = unquote(split.path) or "/"
        query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        hdrs = _lower_keys(headers)
        if path.startswith("/_emulator"):
            try:
                return self.control(method, path, query, body)
            except ApiError as err:
                return err.response()
        delay, rule = self.faults.pick(method, path)
        if delay:
            time.sleep(delay)
        if rule is not None and rule.action == "status":
            resp = ApiError(rule.status, "TooManyRequests" if rule.status == 429 else "ServiceUnavailable",
                            rule.message).response()
            if rule.retry_after is not None:
                ra = rule.retry_after
                resp.headers["Retry-After"] = str(int(ra)) if float(ra).is_integer() else str(ra)
            resp = resp
        else:
            try:
                resp = self.dispatch(method, path, raw_path, query, hdrs, body, rule)
            except ApiError as err:
                resp = err.response()
            except json.JSONDecodeError as exc:
                resp = _bad(f"The request body is not valid JSON: {exc}", "InvalidRequestContent").response()
        resp.headers.setdefault("x-ms-request-id", str(uuid.uuid4()))
        with self.lock:
            self.log.append(RequestRecord(method.upper(), path, resp.status))
            if len(self.log) > MAX_LOG:
                del self.log[: len(self.log) - MAX_LOG]
        if self.verbose:
            print(f"{method.upper()} {path} -> {resp.status}", flush=True)
        return resp

    def dispatch(self, method, path, raw_path, query, hdrs, body, rule) -> Response:
        method = method.upper()
        if path.startswith(f"/{BLOB_ACCOUNT}/") or path == f"/{BLOB_ACCOUNT}":
            return self.blob(method, path, urlsplit(raw_path).path, query, hdrs, body)
        m = SCORE_RE.match(path)
        if m:
            return self.score(method, m, hdrs, body)
        if path.lower().startswith("/registrymanagement/v1.0/registries/"):
            self._require_bearer(hdrs)
            return self.registry_discovery(method, path)
        if path == "/discovery":
            base = self.base_url.rstrip("/")
            return Response(200, {"api": base, "catalog": base, "experimentation": base, "history": base,
                                  "modelmanagement": base, "pipelines": base, "studio": base})
        m = HISTORY_RE.match(path)
        if m:
            self._require_bearer(hdrs)
            with self.lock:
                self.sweep()
                return self.history(method, m)
        m = REG_RE.match(path)
        if m:
            self._require_bearer(hdrs)
            self._require_api_version(query)
            return self.registry(method, m, query)
        m = OP_RE.match(path)
        if m:
            self._require_bearer(hdrs)
            with self.lock:
                return self.operation(m)
        m = WS_RE.match(path)
        if m:
            self._require_bearer(hdrs)
            self._require_api_version(query)
            with self.lock:
                self.sweep()
                if method in ("PUT", "PATCH") or (method == "POST" and not path.lower().endswith("/listsecrets")):
                    data = json.loads(body.decode() or "null") if body else None
                else:
                    data = None
                resp = self.workspace_route(method, m, query, data, rule)
                if method != "GET" and resp.status < 400:
                    self.save()
                return resp
        raise ApiError(404, "NoRegisteredProviderFound" if path.startswith("/subscriptions") else "NotFound",
                       f"No route for {method} {path} in the Azure ML emulator.")

    @staticmethod
    def _require_bearer(hdrs: dict) -> None:
        auth = hdrs.get("authorization", "")
        if not auth.lower().startswith("bearer ") or len(auth) < 20:
            raise ApiError(401, "AuthenticationFailed", "Authentication failed: a Bearer token is required.")

    @staticmethod
    def _require_api_version(query: dict) -> None:
        if not query.get("api-version"):
            raise ApiError(400, "MissingApiVersionParameter",
                           "The api-version query parameter (?api-version=) is required for all requests.")

    # ---------------------------------------------------------- workspace
    def workspace_route(self, method, m, query, data, rule) -> Response:
        ws = self.workspace(m["sub"], m["rg"], m["ws"])
        rest = (m["rest"] or "").rstrip("/")
        parts = [p for p in rest.split("/") if p]
        if not parts:
            if method != "GET":
                raise ApiError(405, "MethodNotAllowed", "The emulator does not create or change workspaces.")
            return Response(200, self.workspace_body(ws))
        kind = parts[0].lower()
        handler = {
            "datastores": self.datastores, "computes": self.computes, "data": self.assets,
            "models": self.assets, "components": self.assets, "environments": self.assets, "jobs": self.jobs,
            "onlineendpoints": self.endpoints,
        }.get(kind)
        if handler is None:
            raise ApiError(404, "NoRegisteredProviderFound", f"The emulator does not serve '{parts[0]}'.")
        return handler(method, ws, parts, query, data, rule)

    def workspace_body(self, ws: dict) -> dict:
        return {
            "id": self.ws_id(ws), "name": ws["name"], "type": f"{PROVIDER}/workspaces", "location": self.location,
            "kind": "Default", "tags": {},
            "identity": {"type": "SystemAssigned", "principalId": str(uuid.uuid5(uuid.NAMESPACE_URL, ws["name"])),
                         "tenantId": "00000000-0000-0000-0000-000000000001"},
            "sku": {"name": "Basic", "tier": "Basic"},
            "systemData": self._system_data(ws["created"]),
            "properties": {
                "friendlyName": ws["name"], "description": "Azure ML workspace emulated by amlgen",
                "workspaceId": ws["workspace_id"], "provisioningState": "Succeeded",
                "discoveryUrl": f"{self.base_url}discovery", "mlFlowTrackingUri": f"azureml://{self.location}"
                f".api.azureml.ms/mlflow/v1.0{self.ws_id(ws)}",
                "storageAccount": f"/subscriptions/{ws['sub']}/resourceGroups/{ws['rg']}/providers/"
                f"Microsoft.Storage/storageAccounts/{BLOB_ACCOUNT}",
                "keyVault": f"/subscriptions/{ws['sub']}/resourceGroups/{ws['rg']}/providers/Microsoft.KeyVault/"
                f"vaults/kv-{ws['name'][:16]}",
                "applicationInsights": None, "containerRegistry": None, "hbiWorkspace": False,
                "publicNetworkAccess": "Enabled", "v1LegacyMode": False, "systemDatastoresAuthMode": "accessKey",
            },
        }

    # ---------------------------------------------------------- datastores
    def _container(self, ws: dict) -> str:
        return f"azureml-blobstore-{ws['workspace_id']}"

    def _datastore(self, ws: dict, name: str) -> dict:
        names = {"workspaceblobstore": True, "workspaceartifactstore": False}
        if name.lower() not in names:
            raise _not_found("datastore", name)
        container = self._container(ws) if name.lower() == "workspaceblobstore" else f"azureml-{ws['workspace_id']}"
        return {
            "id": f"{self.ws_id(ws)}/datastores/{name.lower()}", "name": name.lower(),
            "type": f"{PROVIDER}/workspaces/datastores", "systemData": self._system_data(ws["created"]),
            "properties": {
                "datastoreType": "AzureBlob", "accountName": BLOB_ACCOUNT, "containerName": container,
                "endpoint": "core.windows.net", "protocol": "https", "isDefault": names[name.lower()],
                "credentials": {"credentialsType": "AccountKey"}, "serviceDataAccessAuthIdentity": "None",
                "description": None, "tags": {}, "properties": {},
            },
        }

    def datastores(self, method, ws, parts, query, data, rule) -> Response:
        if len(parts) == 1 and method == "GET":
            items = [self._datastore(ws, n) for n in ("workspaceblobstore", "workspaceartifactstore")]
            if query.get("isDefault", "").lower() == "true":
                items = [i for i in items if i["properties"]["isDefault"]]
            return Response(200, {"value": items})
        if len(parts) == 2 and method == "GET":
            return Response(200, self._datastore(ws, parts[1]))
        if len(parts) == 3 and method == "POST" and parts[2].lower() == "listsecrets":
            self._datastore(ws, parts[1])
            return Response(200, {"secretsType": "AccountKey", "key": self.account_key})
        if len(parts) == 2 and method in ("PUT", "DELETE"):
            raise ApiError(400, "UserError", "The emulator only serves the built-in workspace datastores.")
        raise ApiError(405, "MethodNotAllowed", f"{method} is not supported on datastores here.")

    # ------------------------------------------------------------- computes
    def computes(self, method, ws, parts, query, data, rule) -> Response:
        coll = ws["computes"]
        if len(parts) == 1:
            if method != "GET":
                raise ApiError(405, "MethodNotAllowed", "Use PUT on a compute name.")
            return Response(200, {"value": [self._compute_body(r) for r in coll.values()]})
        name = parts[1]
        key = name.lower()
        if len(parts) == 3:
            rec = coll.get(key)
            if rec is None:
                raise _not_found("compute", name)
            if method == "POST" and parts[2].lower() == "listnodes":
                return Response(200, {"nodes": [], "nextLink": None})
            if method == "POST" and parts[2].lower() == "listkeys":
                return Response(200, {"computeType": "AmlCompute"})
            raise ApiError(404, "NotFound", f"Unknown compute action {parts[2]}.")
        if method == "GET":
            rec = coll.get(key)
            if rec is None:
                raise _not_found(f"{PROVIDER}/workspaces/{ws['name']}/computes", name)
            return Response(200, self._compute_body(rec), self._pending_headers(rec))
        if method == "DELETE":
            rec = coll.get(key)
            if rec is None:
                return Response(204)
            action = query.get("underlyingResourceAction", "")
            if action.lower() not in ("delete", "detach"):
                raise _bad("The query parameter underlyingResourceAction must be 'Delete' or 'Detach'.")
            return self._start_delete(rec, "compute", rule)
        if method == "PUT":
            return self._put_compute(ws, name, data, rule)
        if method == "PATCH":
            rec = coll.get(key)
            if rec is None:
                raise _not_found("compute", name)
            scale = ((data or {}).get("properties") or {}).get("scaleSettings")
            if scale:
                self._validate_scale(scale)
                rec["properties"]["properties"]["scaleSettings"].update(scale)
            return Response(200, self._compute_body(rec))
        raise ApiError(405, "MethodNotAllowed", f"{method} is not supported on computes.")

    def _validate_scale(self, scale: dict) -> dict:
        if not isinstance(scale, dict):
            raise _bad("scaleSettings must be an object.")
        try:
            max_n = int(scale.get("maxNodeCount"))
            min_n = int(scale.get("minNodeCount", 0) or 0)
        except (TypeError, ValueError):
            raise _bad("scaleSettings.maxNodeCount is required and must be an integer.") from None
        if max_n < 1:
            raise _bad(f"scaleSettings.maxNodeCount must be at least 1, got {max_n}.")
        if min_n < 0 or min_n > max_n:
            raise _bad(f"scaleSettings.minNodeCount ({min_n}) must be between 0 and maxNodeCount ({max_n}).")
        idle = scale.get("nodeIdleTimeBeforeScaleDown")
        if idle is not None and not _ISO_DURATION.match(str(idle)):
            raise _bad(f"scaleSettings.nodeIdleTimeBeforeScaleDown '{idle}' is not an ISO-8601 duration.")
        return scale

    def _put_compute(self, ws, name, data, rule) -> Response:
        if not _COMPUTE_NAME.match(name):
            raise _bad(f"Compute name '{name}' is invalid: it must be 2-16 characters, start with a letter and "
                       f"contain only letters, digits and hyphens.", "ValidationError")
        if not isinstance(data, dict) or not isinstance(data.get("properties"), dict):
            raise _bad("The compute body must have 'properties'.", "InvalidRequestContent")
        props = data["properties"]
        ctype = props.get("computeType")
        if ctype != "AmlCompute":
            raise _bad(f"computeType '{ctype}' is not supported by the emulator (only AmlCompute).")
        inner = props.get("properties") or {}
        vm_size = inner.get("vmSize")
        if not vm_size or not isinstance(vm_size, str):
            raise _bad("properties.properties.vmSize is required for AmlCompute.", "ValidationError")
        if not re.match(r"^(Standard|Basic)_[A-Za-z0-9_]+$", vm_size, re.I):
            raise _bad(f"The VM size '{vm_size}' is not a valid Azure VM size.", "ValidationError")
        prio = inner.get("vmPriority", "Dedicated") or "Dedicated"
        if prio not in ("Dedicated", "LowPriority"):
            raise _bad(f"vmPriority '{prio}' must be Dedicated or LowPriority.")
        scale = self._validate_scale(inner.get("scaleSettings") or {})
        loc = data.get("location")
        if loc and loc.replace(" ", "").lower() != self.location.lower():
            raise _bad(f"The compute location '{loc}' must match the workspace location '{self.location}'.")
        key = name.lower()
        existing = ws["computes"].get(key)
        now = time.time()
        if existing is not None:
            if "deleted_at" in existing["_emu"]:
                raise ApiError(409, "Conflict", f"Compute '{name}' is being deleted.")
            old = existing["properties"]["properties"]
            if old.get("vmSize", "").lower() != vm_size.lower():
                raise _bad(f"Updating vmSize of existing compute '{name}' from {old.get('vmSize')} to {vm_size} "
                           f"is not supported; delete and recreate it.", "BadArgument")
            if old.get("vmPriority", "Dedicated") != prio:
                raise _bad(f"Updating vmPriority of existing compute '{name}' is not supported.", "BadArgument")
        error = self._fault_error(rule)
        latency = self.latencies["compute"]
        rec = {
            "id": f"{self.ws_id(ws)}/computes/{name}", "name": name, "type": f"{PROVIDER}/workspaces/computes",
            "location": self.location, "tags": data.get("tags") or {}, "identity": data.get("identity"),
            "sku": data.get("sku"),
            "properties": {
                "computeType": "AmlCompute", "computeLocation": self.location,
                "description": props.get("description"), "disableLocalAuth": props.get("disableLocalAuth", True),
                "resourceId": None, "isAttachedCompute": False,
                "properties": {
                    **inner, "vmSize": vm_size, "vmPriority": prio,
                    "scaleSettings": {"minNodeCount": scale.get("minNodeCount", 0) or 0,
                                      "maxNodeCount": scale["maxNodeCount"],
                                      "nodeIdleTimeBeforeScaleDown": scale.get("nodeIdleTimeBeforeScaleDown",
                                                                               "PT2M")},
                    "osType": inner.get("osType", "Linux"), "allocationState": "Steady",
                    "currentNodeCount": 0, "targetNodeCount": 0,
                },
            },
            "_emu": {
                "created": existing["_emu"]["created"] if existing else now, "modified": now,
                "ready_at": now + latency, "pending": "Updating" if existing else "Creating",
                "final": "Failed" if error else "Succeeded", "error": error,
            },
        }
        ws["computes"][key] = rec
        op = self._lro("compute", now + latency, "Failed" if error else "Succeeded", error, None)
        return Response(200 if existing else 201, self._compute_body(rec),
                        {"Azure-AsyncOperation": self._op_url(op), "retry-after-ms": self._poll_ms(now + latency)})

    def _compute_body(self, rec: dict) -> dict:
        body = self._public(rec)
        body["systemData"] = self._system_data(rec["_emu"]["created"], rec["_emu"]["modified"])
        state = self._prov_state(rec)
        body["properties"]["provisioningState"] = state
        body["properties"]["createdOn"] = _iso(rec["_emu"]["created"])
        body["properties"]["modifiedOn"] = _iso(rec["_emu"]["modified"])
        err = rec["_emu"].get("error")
        body["properties"]["provisioningErrors"] = [{"error": err}] if err and state == "Failed" else None
        return body

    def _pending_headers(self, rec: dict) -> dict:
        emu = rec["_emu"]
        ready = emu.get("deleted_at", emu.get("ready_at", 0))
        if time.time() < ready:
            return {"retry-after-ms": self._poll_ms(ready)}
        return {}

    def _start_delete(self, rec: dict, kind: str, rule: Optional[FaultRule] = None) -> Response:
        now = time.time()
        error = self._fault_error(rule)
        if error is not None:  # the delete fails: the resource stays as it was
            ready = now + self.latencies["delete"]
            op = self._lro(f"delete-{kind}", ready, "Failed", error, None)
            return Response(202, None, {"Azure-AsyncOperation": self._op_url(op),
                                        "Location": self._op_url(op, "mfeOperationResults"),
                                        "retry-after-ms": self._poll_ms(ready)})
        if "deleted_at" not in rec["_emu"]:
            rec["_emu"]["deleted_at"] = now + self.latencies["delete"]
        ready = rec["_emu"]["deleted_at"]
        op = self._lro(f"delete-{kind}", ready, "Succeeded", None, None)
        return Response(202, None, {"Azure-AsyncOperation": self._op_url(op),
                                    "Location": self._op_url(op, "mfeOperationResults"),
                                    "retry-after-ms": self._poll_ms(ready)})

    # ---------------------------------------------------------- operations
    def operation(self, m) -> Response:
        op = self.state["operations"].get(m["op"])
        if op is None:
            raise _not_found("operation", m["op"])
        now = time.time()
        done = now >= op["ready_at"]
        if m["kind"].lower() == "mfeoperationresults":
            if not done:
                return Response(202, None, {"Location": self._op_url(m["op"], "mfeOperationResults"),
                                            "retry-after-ms": self._poll_ms(op["ready_at"])})
            return Response(200, None) if op["final"] == "Succeeded" else ApiError(
                400, (op.get("error") or {}).get("code", "Failed"), (op.get("error") or {}).get("message", "")
            ).response()
        body: dict = {"id": m["op"], "name": m["op"], "startTime": _iso(op["created"])}
        if not done:
            body["status"] = "InProgress"
            return Response(200, body, {"retry-after-ms": self._poll_ms(op["ready_at"])})
        body["status"] = op["final"]
        body["endTime"] = _iso(op["ready_at"])
        if op["final"] != "Succeeded":
            body["error"] = op.get("error") or {"code": "Failed", "message": "The operation failed."}
        return Response(200, body)

    # -------------------------------------------------------------- assets
    def _asset_coll(self, ws, kind) -> dict:
        return ws[kind]

    def assets(self, method, ws, parts, query, data, rule) -> Response:
        kind = parts[0].lower()
        coll = self._asset_coll(ws, kind)
        if len(parts) == 1:
            if method != "GET":
                raise ApiError(405, "MethodNotAllowed", f"{method} not supported on {kind}.")
            return Response(200, {"value": [self._container_body(ws, kind, c) for c in coll.values()]})
        name = parts[1]
        cont = coll.get(name.lower())
        if len(parts) == 2:
            if method == "GET":
                if cont is None:
                    raise _not_found(f"{kind} container", name)
                return Response(200, self._container_body(ws, kind, cont))
            if method == "PUT":
                if not _ASSET_NAME.match(name):
                    raise _bad(f"Invalid {kind} name '{name}'.", "ValidationError")
                new = cont is None
                cont = cont or self._new_container(coll, name)
                props = (data or {}).get("properties") or {}
                cont["description"] = props.get("description", cont.get("description"))
                cont["tags"] = props.get("tags", cont.get("tags") or {})
                return Response(201 if new else 200, self._container_body(ws, kind, cont))
            if method == "DELETE":
                if cont is None:
                    return Response(204)
                del coll[name.lower()]
                return Response(200)
            raise ApiError(405, "MethodNotAllowed", f"{method} not supported.")
        if parts[2].lower() != "versions":
            raise ApiError(404, "NotFound", f"Unknown {kind} sub-resource {parts[2]}.")
        if len(parts) == 3:
            if method != "GET":
                raise ApiError(405, "MethodNotAllowed", f"{method} not supported on {kind} versions list.")
            versions = list(cont["versions"].values()) if cont else []
            return Response(200, {"value": self._order(versions, query, lambda r: self._asset_body(ws, kind, name, r))})
        version = parts[3]
        if method == "GET":
            if cont is None or version not in cont["versions"]:
                raise _not_found(f"{kind} version", f"{name}:{version}")
            return Response(200, self._asset_body(ws, kind, cont["name"], cont["versions"][version]))
        if method == "DELETE":
            if cont is None or version not in cont["versions"]:
                return Response(204)
            del cont["versions"][version]
            return Response(200)
        if method == "PUT":
            return self._put_asset(ws, kind, name, version, data, rule)
        raise ApiError(405, "MethodNotAllowed", f"{method} not supported on {kind} versions.")

    @staticmethod
    def _order(records: list, query: dict, render: Callable) -> list:
        order = query.get("$orderBy", query.get("$orderby", "")).lower()
        recs = list(records)
        recs.sort(key=lambda r: r["_emu"]["created"], reverse="desc" in order or not order)
        if query.get("listViewType", "ActiveOnly") == "ActiveOnly":
            recs = [r for r in recs if not (r.get("properties") or {}).get("isArchived")]
        top = query.get("$top")
        if top:
            try:
                recs = recs[: int(top)]
            except ValueError:
                raise _bad("$top must be an integer.") from None
        return [render(r) for r in recs]

    def _new_container(self, coll, name) -> dict:
        cont = {"name": name, "created": time.time(), "versions": {}, "description": None, "tags": {}}
        coll[name.lower()] = cont
        return cont

    def _container_body(self, ws, kind, cont) -> dict:
        versions = sorted(cont["versions"].values(), key=lambda r: r["_emu"]["created"])
        latest = versions[-1]["_emu"]["version"] if versions else None
        next_version = None
        if versions:
            nums = [int(v["_emu"]["version"]) for v in versions if v["_emu"]["version"].isdigit()]
            next_version = str(max(nums) + 1) if nums else None
        body = {
            "id": f"{self.ws_id(ws)}/{kind}/{cont['name']}", "name": cont["name"],
            "type": f"{PROVIDER}/workspaces/{kind}", "systemData": self._system_data(cont["created"]),
            "properties": {"description": cont.get("description"), "tags": cont.get("tags") or {},
                           "properties": {}, "isArchived": False, "latestVersion": latest,
                           "nextVersion": next_version or "1", "provisioningState": "Succeeded"},
        }
        if kind == "data":
            body["properties"]["dataType"] = versions[-1]["properties"].get("dataType") if versions else "uri_file"
        if kind == "components":
            body["properties"]["componentType"] = "CommandComponent"
        return body

    def _asset_body(self, ws, kind, name, rec) -> dict:
        body = self._public(rec)
        body["id"] = f"{self.ws_id(ws)}/{kind}/{name}/versions/{rec['_emu']['version']}"
        body["name"] = rec["_emu"]["version"]
        body["type"] = f"{PROVIDER}/workspaces/{kind}/versions"
        body["systemData"] = self._system_data(rec["_emu"]["created"], rec["_emu"]["modified"])
        body["properties"]["provisioningState"] = "Succeeded"
        return body

    def _put_asset(self, ws, kind, name, version, data, rule) -> Response:
        if not _ASSET_NAME.match(name):
            raise _bad(f"Invalid {kind} name '{name}': use letters, digits, '-', '_' and '.'.", "ValidationError")
        if not _ASSET_VERSION.match(version):
            raise _bad(f"Invalid {kind} version '{version}'.", "ValidationError")
        if not isinstance(data, dict) or not isinstance(data.get("properties"), dict):
            raise _bad(f"The {kind} version body must have 'properties'.", "InvalidRequestContent")
        props = copy.deepcopy(data["properties"])
        if rule is not None and rule.action == "fail":
            raise _bad(rule.message, "InjectedFailure")
        latency = self.latencies.get("model" if kind == "models" else "data", 0.0)
        if latency:
            self.lock.release()
            try:
                time.sleep(latency)
            finally:
                self.lock.acquire()
        if kind == "models":
            self._validate_model(ws, props)
            immutable = ("modelUri", "modelType")
        elif kind == "data":
            self._validate_data(ws, props)
            immutable = ("dataUri", "dataType")
        elif kind == "components":
            if not isinstance(props.get("componentSpec"), dict):
                raise _bad("componentSpec is required.")
            immutable = ("componentSpec",)
        else:
            immutable = ()
        coll = self._asset_coll(ws, kind)
        cont = coll.get(name.lower())
        existing = cont["versions"].get(version) if cont else None
        now = time.time()
        if existing is not None:
            for fld in immutable:
                if existing["properties"].get(fld) != props.get(fld):
                    what = {"models": "Model", "data": "Data", "components": "Component"}.get(kind, kind)
                    raise ApiError(
                        409, "UserError",
                        f"{what} version {name}:{version} already exists with a different {fld}; "
                        f"asset versions are immutable, change the version instead.")
            keep = existing["properties"]
            for fld in ("description", "tags", "properties", "isArchived", "stage"):
                if fld in props:
                    keep[fld] = props[fld]
            existing["_emu"]["modified"] = now
            return Response(200, self._asset_body(ws, kind, cont["name"], existing))
        if cont is None:
            cont = self._new_container(coll, name)
        props.setdefault("tags", {})
        props.setdefault("properties", {})
        props.setdefault("isArchived", False)
        props.setdefault("isAnonymous", False)
        rec = {"properties": props, "_emu": {"created": now, "modified": now, "version": version}}
        cont["versions"][version] = rec
        return Response(201, self._asset_body(ws, kind, cont["name"], rec))

    def _validate_model(self, ws, props) -> None:
        mtype = props.get("modelType") or "custom_model"
        if mtype not in ("custom_model", "mlflow_model", "triton_model"):
            raise _bad(f"modelType '{mtype}' is not one of custom_model, mlflow_model, triton_model.")
        props["modelType"] = mtype
        uri = props.get("modelUri")
        if not uri or not isinstance(uri, str):
            raise _bad("modelUri is required.", "ValidationError")
        m = JOB_OUTPUT_URI.match(uri)
        if m:
            job = ws["jobs"].get(m["job"].lower())
            if job is None:
                raise _bad(f"Cannot register the model: job '{m['job']}' was not found in workspace "
                           f"'{ws['name']}'.", "UserError")
            status = self._job_status(job)
            if status != "Completed":
                raise _bad(f"Cannot register the model from job '{m['job']}': the job is {status}; its output "
                           f"'{m['out']}' is available only once the job is Completed.", "UserError")
            outputs = job["properties"].get("outputs") or {}
            if m["out"] not in outputs and m["out"] != "artifacts":  # every job has the default artifacts
                raise _bad(f"Job '{m['job']}' has no output named '{m['out']}' (outputs: "
                           f"{', '.join(sorted(outputs)) or 'none'}).", "UserError")
        else:
            self._check_datastore_uri(ws, uri)
        flavors = props.get("flavors")
        if flavors is not None and not isinstance(flavors, dict):
            raise _bad("flavors must be an object.")
        props["flavors"] = flavors or {}  # the SDK cannot read a model whose flavors is null
        if mtype == "mlflow_model":
            if not flavors:
                # the service reads MLmodel from the artifact; the emulator's artifacts are always transformers
                props["flavors"] = copy.deepcopy(_registry.MLFLOW_FLAVORS)

    def _check_datastore_uri(self, ws, uri: str, require_blob: bool = False) -> None:
        m = DATASTORE_URI.match(uri) or SHORT_DATASTORE_URI.match(uri)
        if m:
            self._datastore(ws, m["ds"])
            if require_blob and not self._blob_exists(ws, m["path"]):
                raise _bad(f"The path '{m['path']}' does not exist on datastore '{m['ds']}'.")
            return
        if uri.startswith("azureml://"):
            if REGISTRY_ASSET_URI.match(uri):
                return
            raise _bad(f"Unsupported azureml URI '{uri}'.", "ValidationError")
        if not re.match(r"^(https?|wasbs?|abfss?|adl)://", uri):
            raise _bad(f"'{uri}' is not a valid remote URI; local paths must be uploaded first.", "ValidationError")

    def _blob_exists(self, ws, path: str) -> bool:
        prefix = f"/{BLOB_ACCOUNT}/{self._container(ws)}/{path.strip('/')}"
        blobs = self.state["blobs"]
        return prefix in blobs or any(k.startswith(prefix + "/") for k in blobs)

    def _validate_data(self, ws, props) -> None:
        dtype = props.get("dataType")
        if dtype not in ("uri_file", "uri_folder", "mltable"):
            raise _bad(f"dataType '{dtype}' must be uri_file, uri_folder or mltable.", "ValidationError")
        uri = props.get("dataUri")
        if not uri or not isinstance(uri, str):
            raise _bad("dataUri is required.", "ValidationError")
        self._check_datastore_uri(ws, uri)

    # ---------------------------------------------------------------- jobs
    def _job_status(self, job: dict) -> str:
        emu = job["_emu"]
        now = time.time()
        if emu.get("canceled_at") is not None and now >= emu["canceled_at"]:
            return "Canceled"
        if emu.get("canceled_at") is not None:
            return "CancelRequested"
        elapsed = now - emu["created"]
        d = emu["duration"]
        if elapsed >= d:
            return "Failed" if emu.get("error") else "Completed"
        if elapsed < 0.1 * d:
            return "NotStarted"
        if elapsed < 0.3 * d:
            return "Queued"
        return "Running"

    def _job_times(self, job) -> tuple[Optional[float], Optional[float]]:
        emu = job["_emu"]
        start = emu["created"] + 0.3 * emu["duration"]
        status = self._job_status(job)
        end = None
        if status in TERMINAL_JOB:
            end = emu.get("canceled_at") or emu["created"] + emu["duration"]
        return (start if time.time() >= start else None), end

    def _job_body(self, ws, job) -> dict:
        body = self._public(job)
        props = body["properties"]
        props["status"] = self._job_status(job)
        studio = f"https://ml.azure.com/runs/{job['name']}?wsid={self.ws_id(ws)}"  # the SDK appends &tid=
        props["services"] = {
            "Studio": {"jobServiceType": "Studio", "endpoint": studio, "status": None, "errorMessage": None},
            "Tracking": {"jobServiceType": "Tracking", "endpoint": f"azureml://{self.location}.api.azureml.ms/"
                         f"mlflow/v1.0{self.ws_id(ws)}?", "status": None, "errorMessage": None},
        }
        body["systemData"] = self._system_data(job["_emu"]["created"])
        return body

    def jobs(self, method, ws, parts, query, data, rule) -> Response:
        coll = ws["jobs"]
        if len(parts) == 1:
            if method != "GET":
                raise ApiError(405, "MethodNotAllowed", f"{method} not supported on jobs.")
            recs = sorted(coll.values(), key=lambda r: r["_emu"]["created"], reverse=True)
            jtype = query.get("jobType")
            if jtype:
                recs = [r for r in recs if r["properties"].get("jobType", "").lower() == jtype.lower()]
            return Response(200, {"value": [self._job_body(ws, r) for r in recs]})
        name = parts[1]
        job = coll.get(name.lower())
        if len(parts) == 3:
            if job is None:
                raise _not_found("job", name)
            if method == "POST" and parts[2].lower() == "cancel":
                now = time.time()
                if self._job_status(job) not in TERMINAL_JOB and job["_emu"].get("canceled_at") is None:
                    job["_emu"]["canceled_at"] = now + self.latencies["cancel"]
                ready = job["_emu"].get("canceled_at") or now
                op = self._lro("cancel", ready, "Succeeded", None, None)
                return Response(202, None, {"Location": self._op_url(op, "mfeOperationResults"),
                                            "retry-after-ms": self._poll_ms(ready)})
            raise ApiError(404, "NotFound", f"Unknown job action {parts[2]}.")
        if method == "GET":
            if job is None:
                raise _not_found("job", name)
            return Response(200, self._job_body(ws, job))
        if method == "PUT":
            return self._put_job(ws, name, data, rule)
        if method == "DELETE":
            raise ApiError(405, "MethodNotAllowed", "Jobs cannot be deleted; archive them instead.")
        raise ApiError(405, "MethodNotAllowed", f"{method} not supported on jobs.")

    def _compute_ref_ok(self, ws, ref: Optional[str], where: str) -> None:
        if ref is None or ref == "":
            return
        low = str(ref).lower()
        if low in ("serverless", "azureml:serverless", "local"):
            return
        m = COMPUTE_ID.match(ref)
        name = m["name"] if m else str(ref).split(":", 1)[-1] if low.startswith("azureml:") else str(ref)
        if m and (m["ws"].lower() != ws["name"].lower()):
            raise _bad(f"{where}: compute '{ref}' belongs to another workspace.")
        rec = ws["computes"].get(name.lower())
        if rec is None or "deleted_at" in rec["_emu"]:
            raise _bad(f"{where}: compute '{name}' was not found in workspace '{ws['name']}'.", "UserError")

    def _component_ref_ok(self, ws, ref: Optional[str], where: str) -> None:
        if not ref:
            return
        m = REGISTRY_ASSET_URI.match(ref)
        if m:
            if m["reg"].lower() != _registry.REGISTRY_NAME:
                raise _bad(f"{where}: registry '{m['reg']}' was not found.", "UserError")
            versions = self.registry_components.get(m["name"])
            if versions is None or (m["sel"].lower() == "versions" and m["ver"] not in versions) or (
                m["sel"].lower() == "labels" and m["ver"] not in ("latest", "default")
            ):
                raise _bad(f"{where}: component '{m['name']}' {m['sel'][:-1]} '{m['ver']}' was not found in "
                           f"registry '{m['reg']}'.", "UserError")
            return
        m = WS_ASSET_ID.match(ref)
        if m:
            cont = ws["components"].get(m["name"].lower())
            if cont is None or m["ver"] not in cont["versions"]:
                raise _bad(f"{where}: component '{m['name']}:{m['ver']}' was not found.", "UserError")
            return
        raise _bad(f"{where}: componentId '{ref}' is not a valid component reference.", "UserError")

    def _asset_ref_ok(self, ws, uri: Optional[str], where: str) -> Optional[str]:
        """Check a job input URI: missing assets/datastores -> 400; returns a runtime failure message or None."""
        if not uri or not isinstance(uri, str):
            return None
        m = WS_ASSET_ID.match(uri)
        if m:
            cont = ws[m["kind"].lower()].get(m["name"].lower())
            if cont is None or m["ver"] not in cont["versions"]:
                raise _bad(f"{where}: asset '{m['name']}:{m['ver']}' was not found.", "UserError")
            return None
        m = REGISTRY_ASSET_URI.match(uri)
        if m and m["kind"].lower() == "models" and m["reg"].lower() == _registry.REGISTRY_NAME:
            versions = self.registry_models.get(m["name"])
            if versions is None or (m["sel"].lower() == "versions" and m["ver"] not in versions):
                raise _bad(f"{where}: model '{m['name']}' version '{m['ver']}' was not found in registry "
                           f"'{m['reg']}'.", "UserError")
            return None
        m = DATASTORE_URI.match(uri) or SHORT_DATASTORE_URI.match(uri)
        if m:
            self._datastore(ws, m["ds"])
            if not self._blob_exists(ws, m["path"]):
                return f"{where}: the input path '{m['path']}' does not exist on datastore '{m['ds']}'."
        return None

    def _put_job(self, ws, name, data, rule) -> Response:
        if not _JOB_NAME.match(name):
            raise _bad(f"Job name '{name}' is invalid: letters, digits, '-' and '_' only, starting with a letter "
                       f"or digit, at most 255 characters.", "ValidationError")
        if name.lower() in ws["jobs"]:
            raise ApiError(409, "UserError",
                           f"A job with name '{name}' already exists in workspace '{ws['name']}'. Job names are "
                           f"unique and a submitted job cannot be replaced; submit with a new name.")
        if not isinstance(data, dict) or not isinstance(data.get("properties"), dict):
            raise _bad("The job body must have 'properties'.", "InvalidRequestContent")
        props = copy.deepcopy(data["properties"])
        jtype = props.get("jobType")
        if jtype not in ("Pipeline", "Command"):
            raise _bad(f"jobType '{jtype}' is not supported by the emulator (Pipeline, Command).")
        runtime_errors: list[str] = []
        self._compute_ref_ok(ws, props.get("computeId"), "job")
        settings = props.get("settings") or {}
        if isinstance(settings, dict):
            self._compute_ref_ok(ws, settings.get("default_compute"), "settings.default_compute")
        for in_name, inp in (props.get("inputs") or {}).items():
            if isinstance(inp, dict):
                msg = self._asset_ref_ok(ws, inp.get("uri"), f"input '{in_name}'")
                if msg:
                    runtime_errors.append(msg)
        if jtype == "Pipeline":
            jobs = props.get("jobs") or {}
            if not isinstance(jobs, dict) or not jobs:
                raise _bad("A pipeline job needs at least one child job.", "UserError")
            for child_name, child in jobs.items():
                if not isinstance(child, dict):
                    raise _bad(f"child job '{child_name}' is malformed.")
                where = f"jobs.{child_name}"
                self._compute_ref_ok(ws, child.get("computeId"), where)
                self._component_ref_ok(ws, child.get("componentId"), where)
                for in_name, inp in (child.get("inputs") or {}).items():
                    if not isinstance(inp, dict):
                        continue
                    msg = self._asset_ref_ok(ws, inp.get("uri"), f"{where}.inputs.{in_name}")
                    if msg:
                        runtime_errors.append(msg)
                    value = inp.get("value")
                    if in_name.startswith("compute_") and isinstance(value, str) and "${{" not in value:
                        self._compute_ref_ok(ws, value, f"{where}.inputs.{in_name}")
            for in_name, inp in (props.get("inputs") or {}).items():
                value = inp.get("value") if isinstance(inp, dict) else None
                if in_name.startswith("compute_") and isinstance(value, str) and "${{" not in value:
                    # chat_completion_pipeline takes its computes as literal inputs: check them like computeId
                    self._compute_ref_ok(ws, value, f"inputs.{in_name}")
        else:
            if not props.get("command"):
                raise _bad("A command job needs 'command'.")
        error = self._fault_error(rule)
        if error is None and runtime_errors:
            error = {"code": "UserError", "message": "; ".join(runtime_errors)}
        now = time.time()
        props.setdefault("displayName", name)
        props.setdefault("experimentName", "Default")
        props.setdefault("tags", {})
        props.setdefault("properties", {})
        props.setdefault("isArchived", False)
        props.setdefault("outputs", {})
        job = {
            "id": f"{self.ws_id(ws)}/jobs/{name}", "name": name, "type": f"{PROVIDER}/workspaces/jobs",
            "properties": props,
            "_emu": {"created": now, "duration": self.job_duration, "error": error, "canceled_at": None},
        }
        ws["jobs"][name.lower()] = job
        return Response(201, self._job_body(ws, job))

    def history(self, method, m) -> Response:
        ws = self.workspace(m["sub"], m["rg"], m["ws"])
        job = ws["jobs"].get(m["run"].lower())
        if job is None:
            raise _not_found("run", m["run"])
        status = self._job_status(job)
        start, end = self._job_times(job)
        rest = (m["rest"] or "").rstrip("/").lower()
        body = {
            "runId": job["name"], "runUuid": str(uuid.uuid5(uuid.NAMESPACE_URL, job["id"])), "status": status,
            "startTimeUtc": _iso(start) if start else None, "endTimeUtc": _iso(end) if end else None,
            "target": job["properties"].get("computeId"), "properties": {}, "inputDatasets": [],
            "outputDatasets": [], "logFiles": {}, "warnings": [],
            "revision": 1,
        }
        if status == "Failed":
            err = job["_emu"]["error"] or {"code": "SystemError", "message": "The job failed."}
            body["error"] = {"error": {"code": err["code"], "message": err["message"]}}
        if rest in ("", "/details") and method == "GET":
            if status not in TERMINAL_JOB:
                # long-poll a little so a client that polls without sleeping does not spin
                self.lock.release()
                try:
                    time.sleep(min(0.05, max(0.0, job["_emu"]["created"] + job["_emu"]["duration"] - time.time())))
                finally:
                    self.lock.acquire()
            return Response(200, body)
        raise ApiError(404, "NotFound", f"Unknown run-history route {m['rest']}.")

    # ------------------------------------------------------------ endpoints
    def endpoints(self, method, ws, parts, query, data, rule) -> Response:
        coll = ws["endpoints"]
        if len(parts) == 1:
            if method != "GET":
                raise ApiError(405, "MethodNotAllowed", f"{method} not supported on onlineEndpoints.")
            return Response(200, {"value": [self._endpoint_body(ws, r) for r in coll.values()]})
        name = parts[1]
        ep = coll.get(name.lower())
        if len(parts) >= 3 and parts[2].lower() == "deployments":
            if ep is None or "deleted_at" in ep["_emu"]:
                raise _not_found(f"{PROVIDER}/workspaces/{ws['name']}/onlineEndpoints", name)
            return self.deployments(method, ws, ep, parts[3:], query, data, rule)
        if len(parts) == 3:
            if ep is None:
                raise _not_found("onlineEndpoint", name)
            action = parts[2].lower()
            if method == "POST" and action == "listkeys":
                if ep["properties"]["authMode"] != "Key":
                    raise _bad(f"Endpoint '{name}' does not use key authentication.")
                return Response(200, dict(ep["_emu"]["keys"]))
            if method == "POST" and action == "regeneratekeys":
                which = (data or {}).get("keyType", "Primary")
                if which not in ("Primary", "Secondary"):
                    raise _bad("keyType must be Primary or Secondary.")
                ep["_emu"]["keys"][f"{which.lower()}Key"] = secrets.token_urlsafe(32)
                return Response(202, None, {"Location": self._op_url(self._lro("keys", time.time(), "Succeeded",
                                                                                None, None), "mfeOperationResults")})
            if method == "POST" and action == "token":
                raise _bad(f"Endpoint '{name}' does not use AMLToken authentication.")
            raise ApiError(404, "NotFound", f"Unknown endpoint action {parts[2]}.")
        if method == "GET":
            if ep is None:
                raise _not_found(f"{PROVIDER}/workspaces/{ws['name']}/onlineEndpoints", name)
            return Response(200, self._endpoint_body(ws, ep), self._pending_headers(ep))
        if method == "DELETE":
            if ep is None:
                return Response(204)
            return self._start_delete(ep, "endpoint", rule)
        if method in ("PUT", "PATCH"):
            return self._put_endpoint(ws, name, data, rule, patch=(method == "PATCH"))
        raise ApiError(405, "MethodNotAllowed", f"{method} not supported on onlineEndpoints.")

    def _validate_traffic(self, ws, ep_name: str, traffic: Any, what: str) -> dict:
        if traffic in (None, {}):
            return {}
        if not isinstance(traffic, dict):
            raise _bad(f"{what} must be a map of deployment name to percent.")
        deps = ws["deployments"].get(ep_name.lower(), {})
        total = 0
        clean = {}
        for dname, pct in traffic.items():
            try:
                pct_i = int(pct)
            except (TypeError, ValueError):
                raise _bad(f"{what}: the value for '{dname}' must be an integer percent.") from None
            if pct_i < 0 or pct_i > 100:
                raise _bad(f"{what}: the value for '{dname}' must be between 0 and 100.")
            dep = deps.get(dname.lower())
            if dep is None or "deleted_at" in dep["_emu"]:
                raise _bad(f"{what}: deployment '{dname}' does not exist on endpoint '{ep_name}'.", "BadArgument")
            state = self._prov_state(dep)
            if pct_i > 0 and state != "Succeeded":
                raise _bad(f"{what}: deployment '{dname}' is in provisioning state {state}; traffic can only be "
                           f"routed to a deployment in state Succeeded.", "BadArgument")
            total += pct_i
            clean[dep["name"]] = pct_i
        if what == "traffic" and total not in (0, 100):
            raise _bad(f"Traffic values must add up to 0 or 100, got {total}.", "BadArgument")
        if what == "mirrorTraffic" and total > 50:
            raise _bad("Mirror traffic cannot exceed 50 percent.", "BadArgument")
        return clean

    def _put_endpoint(self, ws, name, data, rule, patch=False) -> Response:
        existing = ws["endpoints"].get(name.lower())
        if patch and existing is None:
            raise _not_found("onlineEndpoint", name)
        if not _ENDPOINT_NAME.match(name):
            raise _bad(f"Endpoint name '{name}' is invalid: 3-32 characters, start with a letter, letters, digits "
                       f"and hyphens, not ending with a hyphen.", "ValidationError")
        if not isinstance(data, dict):
            raise _bad("The endpoint body must be an object.", "InvalidRequestContent")
        if existing is not None and "deleted_at" in existing["_emu"]:
            raise ApiError(409, "Conflict", f"Endpoint '{name}' is being deleted.")
        props = data.get("properties") or {}
        if patch:
            merged = copy.deepcopy(existing["properties"])
            merged.update({k: v for k, v in props.items() if v is not None})
            props = merged
        if not isinstance(props, dict):
            raise _bad("properties must be an object.")
        auth = props.get("authMode")
        if auth not in ("Key", "AMLToken", "AADToken"):
            raise _bad(f"authMode '{auth}' must be one of Key, AMLToken, AADToken.", "ValidationError")
        if existing is not None and existing["properties"]["authMode"] != auth:
            pass  # Azure allows switching auth mode
        loc = data.get("location") or self.location
        if loc.replace(" ", "").lower() != self.location.lower():
            raise _bad(f"The endpoint location '{loc}' must match the workspace location '{self.location}'.")
        if existing is not None and self._prov_state(existing) in ("Creating", "Updating"):
            raise ApiError(409, "Conflict", f"Endpoint '{name}' has an operation in progress; retry later.")
        traffic = self._validate_traffic(ws, name, props.get("traffic"), "traffic")
        mirror = self._validate_traffic(ws, name, props.get("mirrorTraffic"), "mirrorTraffic")
        error = self._fault_error(rule)
        now = time.time()
        latency = self.latencies["endpoint"]
        if existing is not None and self.latencies.get("endpoint_update") is not None:
            latency = self.latencies["endpoint_update"]
        keys = existing["_emu"]["keys"] if existing else {"primaryKey": secrets.token_urlsafe(32),
                                                          "secondaryKey": secrets.token_urlsafe(32)}
        ident = data.get("identity") or {"type": "SystemAssigned"}
        if isinstance(ident, dict) and ident.get("type", "").lower().startswith("systemassigned"):
            ident = {**ident, "principalId": str(uuid.uuid5(uuid.NAMESPACE_URL, name)),
                     "tenantId": "00000000-0000-0000-0000-000000000001"}
        rec = {
            "id": f"{self.ws_id(ws)}/onlineEndpoints/{name}", "name": name,
            "type": f"{PROVIDER}/workspaces/onlineEndpoints", "location": self.location,
            "tags": data.get("tags") if data.get("tags") is not None else (existing or {}).get("tags", {}),
            "identity": ident, "kind": data.get("kind", "Managed"),
            "properties": {
                "authMode": auth, "description": props.get("description"),
                "properties": props.get("properties") or {}, "publicNetworkAccess": props.get(
                    "publicNetworkAccess", "Enabled"),
                "traffic": traffic, "mirrorTraffic": mirror, "compute": None,
                "scoringUri": f"{self.base_url}inference/{ws['sub']}/{ws['rg']}/{ws['name']}/{name}/score",
                "swaggerUri": f"{self.base_url}inference/{ws['sub']}/{ws['rg']}/{ws['name']}/{name}/swagger.json",
            },
            "_emu": {
                "created": existing["_emu"]["created"] if existing else now, "modified": now,
                "ready_at": now + latency, "pending": "Updating" if existing else "Creating",
                "final": "Failed" if error else "Succeeded", "error": error, "keys": keys,
            },
        }
        if error and existing is not None:
            # a failed update leaves the previous configuration in place
            rec["properties"]["traffic"] = existing["properties"]["traffic"]
            rec["properties"]["mirrorTraffic"] = existing["properties"]["mirrorTraffic"]
        ws["endpoints"][name.lower()] = rec
        op = self._lro("endpoint", now + latency, "Failed" if error else "Succeeded", error, None)
        return Response(200 if existing else 201, self._endpoint_body(ws, rec),
                        {"Azure-AsyncOperation": self._op_url(op), "retry-after-ms": self._poll_ms(now + latency)})

    def _endpoint_body(self, ws, rec) -> dict:
        body = self._public(rec)
        body["systemData"] = self._system_data(rec["_emu"]["created"], rec["_emu"]["modified"])
        body["properties"]["provisioningState"] = self._prov_state(rec)
        return body

    def deployments(self, method, ws, ep, parts, query, data, rule) -> Response:
        deps = ws["deployments"].setdefault(ep["name"].lower(), {})
        if not parts:
            if method != "GET":
                raise ApiError(405, "MethodNotAllowed", f"{method} not supported on deployments.")
            return Response(200, {"value": [self._deployment_body(r) for r in deps.values()]})
        name = parts[0]
        dep = deps.get(name.lower())
        if len(parts) > 1:
            if dep is None:
                raise _not_found("deployment", name)
            action = parts[1].lower()
            if method == "POST" and action == "getlogs":
                return Response(200, {"content": f"[emulator] deployment {dep['name']} is "
                                                 f"{self._prov_state(dep)}\n"})
            if method == "GET" and action == "skus":
                return Response(200, {"value": []})
            raise ApiError(404, "NotFound", f"Unknown deployment action {parts[1]}.")
        if method == "GET":
            if dep is None:
                raise _not_found(f"{PROVIDER}/workspaces/{ws['name']}/onlineEndpoints/{ep['name']}/deployments",
                                 name)
            return Response(200, self._deployment_body(dep), self._pending_headers(dep))
        if method == "DELETE":
            if dep is None:
                return Response(204)
            if ep["properties"]["traffic"].get(dep["name"], 0) > 0 or ep["properties"]["mirrorTraffic"].get(
                    dep["name"], 0) > 0:
                raise _bad(f"Deployment '{dep['name']}' still receives traffic on endpoint '{ep['name']}'; set its "
                           f"traffic to 0 before deleting it.", "BadArgument")
            return self._start_delete(dep, "deployment", rule)
        if method in ("PUT", "PATCH"):
            return self._put_deployment(ws, ep, name, data, rule, patch=(method == "PATCH"))
        raise ApiError(405, "MethodNotAllowed", f"{method} not supported on deployments.")

    def _put_deployment(self, ws, ep, name, data, rule, patch=False) -> Response:
        deps = ws["deployments"].setdefault(ep["name"].lower(), {})
        existing = deps.get(name.lower())
        if patch and existing is None:
            raise _not_found("deployment", name)
        if not _DEPLOYMENT_NAME.match(name):
            raise _bad(f"Deployment name '{name}' is invalid: 3-32 characters, start with a letter, letters, "
                       f"digits and hyphens.", "ValidationError")
        if self._prov_state(ep) != "Succeeded":
            raise _bad(f"Endpoint '{ep['name']}' is in provisioning state {self._prov_state(ep)}; deployments "
                       f"can be created only on a Succeeded endpoint.", "BadArgument")
        if not isinstance(data, dict):
            raise _bad("The deployment body must be an object.", "InvalidRequestContent")
        if existing is not None and self._prov_state(existing) in ("Creating", "Updating", "Deleting"):
            raise ApiError(409, "Conflict", f"Deployment '{name}' has an operation in progress; retry later.")
        props = data.get("properties") or {}
        sku = data.get("sku") or {}
        if patch:
            merged = copy.deepcopy(existing["properties"])
            merged.update({k: v for k, v in props.items() if v is not None})
            props = merged
            sku = {**existing.get("sku", {}), **sku}
        ptype = props.get("endpointComputeType")
        if ptype not in ("Managed", None):
            raise _bad(f"endpointComputeType '{ptype}' is not supported by the emulator (Managed).")
        instance = props.get("instanceType")
        if not instance:
            raise _bad("instanceType is required for a managed online deployment.", "ValidationError")
        if not re.match(r"^Standard_[A-Za-z0-9_]+$", instance):
            raise _bad(f"instanceType '{instance}' is not a valid VM size.", "ValidationError")
        try:
            capacity = int(sku.get("capacity", 1))
        except (TypeError, ValueError):
            raise _bad("sku.capacity must be an integer.") from None
        if capacity < 1:
            raise _bad(f"sku.capacity must be at least 1, got {capacity}.", "ValidationError")
        model = props.get("model")
        if not model:
            raise _bad("A model is required for a managed online deployment.", "ValidationError")
        self._model_ref_ok(ws, model)
        for probe in ("livenessProbe", "readinessProbe"):
            p = props.get(probe)
            if isinstance(p, dict):
                for k in ("initialDelay", "period", "timeout"):
                    if p.get(k) is not None and not _ISO_DURATION.match(str(p[k])):
                        raise _bad(f"{probe}.{k} '{p[k]}' is not an ISO-8601 duration.")
        rs = props.get("requestSettings")
        if isinstance(rs, dict) and rs.get("requestTimeout") is not None and not _ISO_DURATION.match(
                str(rs["requestTimeout"])):
            raise _bad(f"requestSettings.requestTimeout '{rs['requestTimeout']}' is not an ISO-8601 duration.")
        error = self._fault_error(rule)
        now = time.time()
        latency = self.latencies["deployment"]
        props = copy.deepcopy(props)
        props["endpointComputeType"] = "Managed"
        props.setdefault("scaleSettings", {"scaleType": "Default"})
        if props["scaleSettings"] is None:
            props["scaleSettings"] = {"scaleType": "Default"}
        props.setdefault("appInsightsEnabled", False)
        rec = {
            "id": f"{ep['id']}/deployments/{name}", "name": name,
            "type": f"{PROVIDER}/workspaces/onlineEndpoints/deployments", "location": self.location,
            "tags": data.get("tags") or {}, "kind": data.get("kind", "Managed"),
            "sku": {"name": sku.get("name", "Default"), "tier": sku.get("tier", "Standard"), "capacity": capacity},
            "properties": props,
            "_emu": {
                "created": existing["_emu"]["created"] if existing else now, "modified": now,
                "ready_at": now + latency, "pending": "Updating" if existing else "Creating",
                "final": "Failed" if error else "Succeeded", "error": error,
            },
        }
        deps[name.lower()] = rec
        op = self._lro("deployment", now + latency, "Failed" if error else "Succeeded", error, None)
        return Response(200 if existing else 201, self._deployment_body(rec),
                        {"Azure-AsyncOperation": self._op_url(op), "retry-after-ms": self._poll_ms(now + latency)})

    def _model_ref_ok(self, ws, model: str) -> None:
        m = WS_ASSET_ID.match(model)
        if m and m["kind"].lower() == "models":
            if m["ws"].lower() != ws["name"].lower():
                raise _bad(f"Model '{model}' belongs to another workspace.")
            cont = ws["models"].get(m["name"].lower())
            if cont is None or m["ver"] not in cont["versions"]:
                raise _bad(f"Model '{m['name']}' version '{m['ver']}' was not found in workspace "
                           f"'{ws['name']}'.", "UserError")
            return
        m = REGISTRY_ASSET_URI.match(model)
        if m and m["kind"].lower() == "models":
            if m["reg"].lower() != _registry.REGISTRY_NAME or m["name"] not in self.registry_models or (
                    m["sel"].lower() == "versions" and m["ver"] not in self.registry_models[m["name"]]):
                raise _bad(f"Registry model '{model}' was not found.", "UserError")
            return
        raise _bad(f"Model reference '{model}' is not a model version ARM id.", "UserError")

    def _deployment_body(self, rec) -> dict:
        body = self._public(rec)
        body["systemData"] = self._system_data(rec["_emu"]["created"], rec["_emu"]["modified"])
        state = self._prov_state(rec)
        body["properties"]["provisioningState"] = state
        if state == "Failed" and rec["_emu"].get("error"):
            body["properties"]["description"] = body["properties"].get("description")
        return body

    # -------------------------------------------------------------- scoring
    def score(self, method, m, hdrs, body) -> Response:
        if method != "POST":
            raise ApiError(405, "MethodNotAllowed", "Scoring accepts POST only.")
        with self.lock:
            self.sweep()
            try:
                ws = self.workspace(m["sub"], m["rg"], m["ws"], create=False)
            except ApiError:
                return Response(404, {"message": "Endpoint not found."})
            ep = ws["endpoints"].get(m["ep"].lower())
            if ep is None or self._prov_state(ep) != "Succeeded":
                return Response(404, {"message": f"Endpoint {m['ep']} not found or not ready."})
            auth = hdrs.get("authorization", "")
            token = auth[7:] if auth.lower().startswith("bearer ") else ""
            keys = ep["_emu"]["keys"].values()
            if not token or not any(secrets.compare_digest(token, k) for k in keys):
                return Response(401, {"message": "Unauthorized: invalid or missing key."})
            deps = ws["deployments"].get(ep["name"].lower(), {})
            wanted = hdrs.get("azureml-model-deployment")
            if wanted:
                dep = deps.get(wanted.lower())
                if dep is None or self._prov_state(dep) != "Succeeded":
                    return Response(404, {"message": f"Deployment {wanted} not found or not ready."})
            else:
                traffic = {k: v for k, v in ep["properties"]["traffic"].items() if v > 0}
                if not traffic:
                    return Response(
                        424, {"message": "No valid deployments to route to. Please check that the endpoint has at "
                                         "least one deployment with positive weight values or use a "
                                         "deployment specific header to route."})
                pick = sorted(traffic.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
                dep = deps[pick.lower()]
            dep_name = dep["name"]
            model = dep["properties"].get("model", "")
        try:
            payload = json.loads(body.decode() or "null")
        except (ValueError, UnicodeDecodeError):
            return Response(400, {"message": "The request body must be JSON."})
        if not isinstance(payload, dict) or "input_data" not in payload:
            return Response(400, {"message": "Expected a JSON object with 'input_data' (chat-completion format: "
                                             "{\"input_data\": {\"input_string\": [messages], \"parameters\": {}}})."})
        data = payload["input_data"]
        messages = data.get("input_string") if isinstance(data, dict) else data
        if not isinstance(messages, list) or not messages:
            return Response(400, {"message": "input_data.input_string must be a non-empty list of messages."})
        if all(isinstance(m, list) for m in messages):  # a batch of conversations (the notebook's [messages])
            messages = messages[0]
        last_user = ""
        for msg in messages:
            if isinstance(msg, dict) and msg.get("role") == "user":
                last_user = str(msg.get("content", ""))
        digest = hashlib.sha256(json.dumps([model, messages], sort_keys=True).encode()).hexdigest()[:12]
        text = f"[{dep_name}:{digest}] You said: {last_user}" if last_user else f"[{dep_name}:{digest}] Hello."
        return Response(200, {"output": text}, {"azureml-model-deployment": dep_name})

    # ------------------------------------------------------------- registry
    def registry_discovery(self, method, path) -> Response:
        m = re.match(r"^/registrymanagement/v1\.0/registries/(?P<reg>[^/]+)/discovery$", path, re.I)
        if not m or method != "GET":
            raise ApiError(404, "NotFound", f"No route for {method} {path}.")
        if m["reg"].lower() != _registry.REGISTRY_NAME:
            raise ApiError(404, "RegistryNotFound", f"Registry '{m['reg']}' was not found.")
        return Response(200, {
            "registryName": _registry.REGISTRY_NAME, "primaryRegion": self.location, "regions": [self.location],
            "primaryRegionResourceProviderUri": self.base_url, "subscriptionId": _registry.REGISTRY_SUBSCRIPTION,
            "resourceGroup": _registry.REGISTRY_RESOURCE_GROUP, "registryId": str(uuid.uuid5(uuid.NAMESPACE_URL,
                                                                                                "azureml")),
            "workspaceName": None, "tenantId": "00000000-0000-0000-0000-000000000001",
        })

    def _registry_base(self) -> str:
        return (f"azureml://registries/{_registry.REGISTRY_NAME}")

    def registry(self, method, m, query) -> Response:
        if m["reg"].lower() != _registry.REGISTRY_NAME:
            raise ApiError(404, "RegistryNotFound", f"Registry '{m['reg']}' was not found.")
        if method != "GET":
            raise ApiError(403, "AuthorizationFailed",
                           "The azureml system registry is read-only: you do not have write access.")
        parts = [p for p in (m["rest"] or "").split("/") if p]
        if not parts:
            return Response(200, {"name": _registry.REGISTRY_NAME, "location": self.location, "properties": {}})
        kind = parts[0].lower()
        source = {"models": self.registry_models, "components": self.registry_components}.get(kind)
        if source is None:
            raise ApiError(404, "NotFound", f"The emulated registry does not serve '{parts[0]}'.")
        if len(parts) == 1:
            return Response(200, {"value": [self._reg_container(kind, n, v) for n, v in source.items()]})
        name = parts[1]
        versions = source.get(name)
        if versions is None:
            raise _not_found(f"registry {kind[:-1]}", name)
        if len(parts) == 2:
            return Response(200, self._reg_container(kind, name, versions))
        if parts[2].lower() != "versions":
            raise ApiError(404, "NotFound", f"Unknown registry route {parts[2]}.")
        if len(parts) == 3:
            items = sorted(versions, key=lambda v: [int(x) if x.isdigit() else x for x in v.split(".")],
                           reverse=True)
            top = query.get("$top")
            if top and top.isdigit():
                items = items[: int(top)]
            return Response(200, {"value": [self._reg_version(kind, name, v, versions[v]) for v in items]})
        version = parts[3]
        if version not in versions:
            raise _not_found(f"registry {kind[:-1]} version", f"{name}:{version}")
        return Response(200, self._reg_version(kind, name, version, versions[version]))

    def _reg_id(self, kind, name, version=None) -> str:
        base = f"azureml://registries/{_registry.REGISTRY_NAME}/{kind}/{name}"
        return f"{base}/versions/{version}" if version else base

    def _reg_container(self, kind, name, versions) -> dict:
        latest = sorted(versions, key=lambda v: [int(x) if x.isdigit() else x for x in v.split(".")])[-1]
        return {"id": self._reg_id(kind, name), "name": name, "type": f"{PROVIDER}/registries/{kind}",
                "systemData": self._system_data(self.registry_created),
                "properties": {"description": None, "tags": {}, "properties": {}, "isArchived": False,
                               "latestVersion": latest}}

    def _reg_version(self, kind, name, version, spec) -> dict:
        if kind == "models":
            props = {
                "description": spec["description"], "tags": dict(spec["tags"]),
                "properties": dict(spec["properties"]), "isArchived": False, "isAnonymous": False,
                "modelType": spec["modelType"], "flavors": copy.deepcopy(spec["flavors"]),
                "modelUri": f"azureml://registries/{_registry.REGISTRY_NAME}/models/{name}/versions/{version}",
                "jobName": None, "stage": None, "provisioningState": "Succeeded",
            }
        else:
            props = {
                "description": spec.get("description"), "tags": {}, "properties": {}, "isArchived": False,
                "isAnonymous": False, "componentSpec": copy.deepcopy(spec), "provisioningState": "Succeeded",
            }
        return {"id": self._reg_id(kind, name, version), "name": version,
                "type": f"{PROVIDER}/registries/{kind}/versions", "systemData": self._system_data(
                    self.registry_created), "properties": props}

    # ----------------------------------------------------------------- blob
    def blob(self, method, path, raw_path, query, hdrs, body) -> Response:
        auth = hdrs.get("authorization", "")
        if not auth.startswith(f"SharedKey {BLOB_ACCOUNT}:"):
            return self._blob_error(403, "AuthenticationFailed",
                                    "Server failed to authenticate the request: a SharedKey signature is required.")
        try:
            self._check_shared_key(method, raw_path, query, hdrs)
        except ApiError as err:
            return self._blob_error(err.status, err.code, err.message, head=(method == "HEAD"))
        parts = path.split("/", 3)  # '', account, container, blob
        container = parts[2] if len(parts) > 2 else ""
        blob = parts[3] if len(parts) > 3 else ""
        now = time.time()
        with self.lock:
            blobs = self.state["blobs"]
            if not blob:
                if query.get("restype") == "container" and query.get("comp") == "list":
                    prefix = query.get("prefix", "")
                    base = f"/{BLOB_ACCOUNT}/{container}/"
                    names = sorted(k[len(base):] for k in blobs if k.startswith(base + prefix))
                    items = "".join(
                        f"<Blob><Name>{xml_escape(n)}</Name><Properties><Content-Length>"
                        f"{blobs[base + n]['size']}</Content-Length><BlobType>BlockBlob"
                        f"</BlobType></Properties><Metadata>" + "".join(
                            f"<{k}>{xml_escape(v)}</{k}>" for k, v in blobs[base + n]["metadata"].items())
                        + "</Metadata></Blob>" for n in names)
                    xml = (f'<?xml version="1.0" encoding="utf-8"?><EnumerationResults ServiceEndpoint='
                           f'"{self.base_url}{BLOB_ACCOUNT}/" ContainerName="{xml_escape(container)}"><Prefix>'
                           f"{xml_escape(prefix)}</Prefix><Blobs>{items}</Blobs><NextMarker /></EnumerationResults>")
                    return Response(200, xml.encode(), {"Content-Type": "application/xml", "x-ms-version":
                                                        hdrs.get("x-ms-version", "2021-08-06")})
                if query.get("restype") == "container":
                    return Response(200 if method in ("GET", "HEAD") else 201, b"", self._blob_headers(now))
                return self._blob_error(400, "InvalidQueryParameterValue", "Unsupported container operation.")
            key = path
            rec = blobs.get(key)
            if method in ("HEAD", "GET"):
                if rec is None:
                    return self._blob_error(404, "BlobNotFound", "The specified blob does not exist.",
                                            head=(method == "HEAD"))
                data = self._blob_read(rec)
                headers = self._blob_headers(rec["modified"], rec)
                headers["Content-Type"] = rec.get("content_type", "application/octet-stream")
                status = 200
                rng = re.match(r"^bytes=(\d+)-(\d*)$", hdrs.get("x-ms-range", hdrs.get("range", "")))
                if rng and method == "GET":
                    start = int(rng.group(1))
                    end = min(int(rng.group(2)) if rng.group(2) else len(data) - 1, len(data) - 1)
                    if start >= len(data):  # Azure answers 416 (also for an empty blob)
                        return self._blob_error(416, "InvalidRange", "The range specified is invalid.")
                    headers["Content-Range"] = f"bytes {start}-{max(end, start)}/{len(data)}"
                    data = data[start: end + 1]
                    status = 206
                headers["Content-Length"] = str(len(data))
                return Response(status, b"" if method == "HEAD" else data, headers)
            if method == "PUT":
                comp = query.get("comp")
                if comp == "metadata":
                    if rec is None:
                        return self._blob_error(404, "BlobNotFound", "The specified blob does not exist.")
                    rec["metadata"] = self._meta(hdrs)
                    rec["modified"] = now
                    self.save()
                    return Response(200, b"", self._blob_headers(now, rec))
                if comp == "block":
                    block_id = query.get("blockid", "")
                    self.staged.setdefault(key, {})[block_id] = body
                    return Response(201, b"", self._blob_headers(now))
                if comp == "blocklist":
                    staged = self.staged.pop(key, {})
                    ids = re.findall(r"<(?:Latest|Uncommitted|Committed)>([^<]*)</", body.decode())
                    try:
                        data = b"".join(staged[i] for i in ids)
                    except KeyError:
                        return self._blob_error(400, "InvalidBlockList", "The specified block list is invalid.")
                    blobs[key] = self._blob_write(data, hdrs, now)
                    self.save()
                    return Response(201, b"", self._blob_headers(now, blobs[key]))
                if comp:
                    return self._blob_error(400, "InvalidQueryParameterValue", f"Unsupported comp={comp}.")
                if hdrs.get("x-ms-blob-type") != "BlockBlob":
                    return self._blob_error(400, "MissingRequiredHeader", "x-ms-blob-type: BlockBlob is required.")
                if hdrs.get("if-none-match") == "*" and rec is not None:
                    return self._blob_error(409, "BlobAlreadyExists", "The specified blob already exists.")
                blobs[key] = self._blob_write(body, hdrs, now)
                self.save()
                headers = self._blob_headers(now, blobs[key])
                headers["Content-MD5"] = base64.b64encode(hashlib.md5(body).digest()).decode()
                headers["x-ms-request-server-encrypted"] = "true"
                return Response(201, b"", headers)
            if method == "DELETE":
                if rec is None:
                    return self._blob_error(404, "BlobNotFound", "The specified blob does not exist.")
                del blobs[key]
                self.save()
                return Response(202, b"", self._blob_headers(now))
        return self._blob_error(405, "UnsupportedHttpVerb", f"{method} is not supported.")

    def _check_shared_key(self, method, raw_path, query, hdrs) -> None:
        """Verify the SharedKey signature like Azure Storage does (so a wrong account key is caught)."""
        import hmac

        x_ms = sorted((k, v) for k, v in hdrs.items() if k.startswith("x-ms-"))
        canon_headers = "".join(f"{k}:{v}\n" for k, v in x_ms)
        canon_resource = f"/{BLOB_ACCOUNT}{raw_path}"  # path style: '/<account>/<account>/<container>/<blob>'
        for k in sorted(query):
            canon_resource += f"\n{k.lower()}:{query[k]}"
        signed = []
        for name in ("content-encoding", "content-language", "content-length", "content-md5", "content-type",
                     "date", "if-modified-since", "if-match", "if-none-match", "if-unmodified-since"):
            value = hdrs.get(name, "")
            if name == "content-length" and value == "0":
                value = ""
            signed.append(value)
        string_to_sign = method + "\n" + "\n".join(signed) + "\n\n" + canon_headers + canon_resource
        expected = base64.b64encode(
            hmac.new(base64.b64decode(self.account_key), string_to_sign.encode(), hashlib.sha256).digest()
        ).decode()
        given = hdrs.get("authorization", "").split(":", 1)[-1]
        if not secrets.compare_digest(expected, given):
            raise ApiError(403, "AuthenticationFailed",
                           "Server failed to authenticate the request. Make sure the value of the Authorization "
                           "header is formed correctly including the signature.")

    def _blob_write(self, data: bytes, hdrs: dict, now: float) -> dict:
        sha = hashlib.sha256(data).hexdigest()
        if sha not in self.blob_data:
            self.blob_data[sha] = data
            if self.state_dir is not None:
                folder = self.state_dir / "blobs"
                folder.mkdir(parents=True, exist_ok=True)
                (folder / sha).write_bytes(data)
        return {"sha": sha, "size": len(data), "metadata": self._meta(hdrs), "modified": now,
                "content_type": hdrs.get("x-ms-blob-content-type", "application/octet-stream")}

    def _blob_read(self, rec: dict) -> bytes:
        sha = rec["sha"]
        if sha not in self.blob_data and self.state_dir is not None:
            try:
                self.blob_data[sha] = (self.state_dir / "blobs" / sha).read_bytes()
            except OSError:
                return b""
        return self.blob_data.get(sha, b"")

    @staticmethod
    def _meta(hdrs: dict) -> dict:
        return {k[len("x-ms-meta-"):]: v for k, v in hdrs.items() if k.startswith("x-ms-meta-")}

    @staticmethod
    def _blob_headers(ts: float, rec: Optional[dict] = None) -> dict:
        headers = {"Last-Modified": _http_date(ts), "ETag": f'"0x{int(ts * 1e6):X}"', "x-ms-version": "2021-08-06"}
        if rec is not None:
            headers["x-ms-blob-type"] = "BlockBlob"
            for k, v in rec.get("metadata", {}).items():
                headers[f"x-ms-meta-{k}"] = v
        return headers

    @staticmethod
    def _blob_error(status: int, code: str, message: str, head: bool = False) -> Response:
        body = None if head else (f'<?xml version="1.0" encoding="utf-8"?><Error><Code>{code}</Code><Message>'
                                  f"{xml_escape(message)}</Message></Error>").encode()
        return Response(status, body, {"x-ms-error-code": code, "Content-Type": "application/xml"})

    # -------------------------------------------------------------- control
    def control(self, method, path, query, body) -> Response:
        route = path[len("/_emulator"):].rstrip("/") or "/"
        data = json.loads(body.decode() or "null") if body else None
        if route == "/health" and method == "GET":
            return Response(200, {"ok": True, "base_url": self.base_url})
        if route == "/requests":
            if method == "GET":
                with self.lock:
                    log = [r._asdict() for r in self.log]
                return Response(200, {"requests": log, "write_calls": sum(1 for r in self.log
                                                                          if is_write(r.method, r.path))})
            if method == "DELETE":
                with self.lock:
                    self.log.clear()
                return Response(204)
        if route == "/faults":
            if method == "GET":
                return Response(200, {"faults": [r.to_dict() for r in self.faults.list()]})
            if method == "POST":
                rules = data if isinstance(data, list) else [data]
                try:
                    added = [self.faults.add_dict(r).to_dict() for r in rules]
                except FaultRuleError as exc:
                    raise _bad(exc.message, "InvalidFault") from None
                return Response(201, {"faults": added})
            if method == "DELETE":
                self.faults.clear()
                return Response(204)
        m = re.match(r"^/faults/(\d+)$", route)
        if m and method == "DELETE":
            return Response(204 if self.faults.remove(int(m.group(1))) else 404)
        if route == "/reset" and method == "POST":
            self.reset_state()
            self.faults.clear()
            with self.lock:
                self.log.clear()
            self.save()
            return Response(204)
        if route == "/config":
            if method == "POST":
                data = data or {}
                unknown = set(data) - {"latencies", "job_duration"}
                if unknown:
                    raise _bad(f"unknown config keys: {', '.join(sorted(unknown))}")
                lat = dict(data.get("latencies") or {})
                if "job" in lat:
                    data["job_duration"] = lat.pop("job")
                bad = set(lat) - set(DEFAULT_LATENCIES)
                if bad:
                    raise _bad(f"unknown latency kinds: {', '.join(sorted(bad))}")
                self.latencies.update({k: float(v) for k, v in lat.items()})
                if "job_duration" in data:
                    self.job_duration = float(data["job_duration"])
            if method in ("GET", "POST"):
                return Response(200, {"latencies": self.latencies, "job_duration": self.job_duration})
        raise ApiError(404, "NotFound", f"No control route {method} {path}.")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 120  # idle keep-alive connections are closed after this many seconds
    server_version = "amlgen-emulator"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - never log request lines/headers
        return

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _serve(self) -> None:
        app: App = self.server.app  # type: ignore[attr-defined]
        body = self._read_body()
        try:
            resp = app.handle(self.command, self.path, dict(self.headers.items()), body)
        except Exception as exc:  # a bug in the emulator: answer 500 without details of the request
            resp = ApiError(500, "InternalServerError", f"emulator error: {type(exc).__name__}: {exc}").response()
            if app.verbose:
                import traceback

                traceback.print_exc()
        data, headers = resp.encode()
        self.send_response(resp.status)
        for k, v in headers.items():
            self.send_header(k, v)
        if "Content-Length" not in headers:
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD" and data:
            self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = do_HEAD = _serve


class TLSServer(ThreadingHTTPServer):
    """ThreadingHTTPServer that performs the TLS handshake in the per-connection thread."""

    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, address, app: App, ssl_context) -> None:
        self.app = app
        self.ssl_context = ssl_context
        super().__init__(address, _Handler)

    def finish_request(self, request, client_address) -> None:
        try:
            request.settimeout(30)  # a client that never completes the handshake holds only its own thread
            conn = self.ssl_context.wrap_socket(request, server_side=True)
        except (OSError, ValueError):
            return
        try:
            self.RequestHandlerClass(conn, client_address, self)
        finally:
            try:
                conn.close()
            except OSError:
                pass
