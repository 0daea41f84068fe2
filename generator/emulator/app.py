"""``App``: the state of one emulator and the way each request reaches its handler.

``App.handle`` answers ``(method, path, headers, body)`` with a ``Response``: control API first, then fault
rules, then ``dispatch``, which works out the plane of the path (run logs, blob service, scoring, registry
discovery, discovery, MLflow and assetstore operations, run history, registry, operations, workspace ARM), applies that plane's checks (auth, api-version,
lock, body parsing, saving) and looks the path up in the route table (``core``). The long-running operations
(LROs) that computes, endpoints, deployments, deletes and job cancels start live here too.
"""

from __future__ import annotations

import base64
import datetime as _dt
import importlib
import json
import os
import re
import secrets
import threading
import time
import uuid
from pathlib import Path
from typing import Optional
from urllib.parse import parse_qs, unquote, urlsplit

from . import blob, registry, runs
from .core import (
    BLOB_ACCOUNT, DEFAULT_LATENCIES, PROVIDER, ApiError, Request, RequestRecord, Response, add_routes, bad,
    fault_error, find_route, not_found, normalise_region, poll_ms,
)
from .errors import EmulatorError
from .faults import FaultRule, Faults

# The resource families: importing one registers its routes. A new resource is a module listed here.
FAMILIES = ("workspace", "computes", "assets", "jobs", "endpoints", "deployments", "scoring", "registry", "runs",
            "mlflow", "blob", "control")
for _family in FAMILIES:
    importlib.import_module(f"{__package__}.{_family}")

MAX_LOG = 200_000  # request-log entries kept (oldest dropped first)
_STATE_FILE = "state.json"
_STATE_VERSION = 1

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
    r"(?P<kind>mfeOperationsStatus|mfeOperationResults|computeOperationsStatus)/(?P<op>[^/]+)$",
    re.IGNORECASE,
)
HISTORY_RE = re.compile(
    r"^/history/v1\.0/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/"
    r"Microsoft\.MachineLearningServices/workspaces/(?P<ws>[^/]+)/(?:experiments/[^/]+/)?runs/(?P<run>[^/]+)"
    r"(?P<rest>/.*)?$",
    re.IGNORECASE,
)
SCORE_RE = re.compile(r"^/inference/(?P<region>[^/]+)/(?P<ep>[^/]+)/score$")
# The long-running operations whose status has the minimal compute shape (fact 3); every other is an mfe one.
COMPUTE_OPS = ("compute", "delete-compute")
# The prefix of an mfe operation id (``oeidp:<workspaceId>:<guid>``, fact 7; ``odidp:`` for deployments, fact 15).
OP_PREFIX = {"endpoint": "oeidp", "delete-endpoint": "oeidp", "deployment": "odidp", "delete-deployment": "odidp"}
ASYNC_TIMEOUT = "PT30M"  # x-ms-async-operation-timeout of endpoint/deployment operations (facts 7, 14, 15)


class App:
    """State and request handling of one emulator (thread-safe, one lock)."""

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
        registries: Optional[dict] = None,
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
        self.state_dir = state_dir
        self.faults = faults
        self.verbose = verbose
        self.base_url = ""  # set once the server is bound
        self.account_key = base64.b64encode(secrets.token_bytes(64)).decode()  # never logged
        self.lock = threading.RLock()
        self.job_scripts: list[dict] = []  # scripted job lives (see jobs.add_script)
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
        self.registry_created = time.time() - 86400 * 30
        registry.setup(self, registries)  # the azureml registry's content and the declared user registries

    # ----------------------------------------------------------------------------------------------- state
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
            for ep, deps in ws["deployments"].items():
                for k in [k for k, r in deps.items() if r["_emu"].get("deleted_at", now + 1) <= now]:
                    del deps[k]

    # ------------------------------------------------------------------------------- long-running operations
    def lro(self, kind: str, ready_at: float, final: str, error: Optional[dict], *, ws: Optional[dict] = None,
            api_version: Optional[str] = None) -> str:
        """Start an operation that ends ``final`` (with ``error``) at ``ready_at``; returns its id.

        Endpoint and deployment operation ids look like the service's ``oeidp:<workspaceId>:<guid>`` /
        ``odidp:...`` (facts 7, 15); the status URL is under the workspace's region and follows the request's
        api-version (fact 10)."""
        guid = str(uuid.uuid4())
        prefix = OP_PREFIX.get(kind)
        op_id = f"{prefix}:{ws['workspace_id']}:{guid}" if prefix and ws else guid
        self.state["operations"][op_id] = {
            "kind": kind, "created": time.time(), "ready_at": ready_at, "final": final, "error": error,
            "sub": ws["sub"] if ws else self.subscription_id,
            "location": ws.get("location", self.location) if ws else self.location,
            "api_version": api_version or "2023-04-01-preview",
        }
        return op_id

    def op_url(self, op_id: str, kind: str = "mfeOperationsStatus") -> str:
        op = self.state["operations"].get(op_id, {})
        return (f"{self.base_url}subscriptions/{op.get('sub', self.subscription_id)}/providers/{PROVIDER}/locations/"
                f"{op.get('location', self.location)}/{kind}/{op_id}?api-version="
                f"{op.get('api_version', '2023-04-01-preview')}")

    def op_headers(self, op_id: str, resource_url: Optional[str] = None) -> dict:
        """The LRO headers of an answer that started ``op_id``: computes give ``Azure-AsyncOperation`` only
        (facts 1, 5, 6); endpoints and deployments add ``x-ms-async-operation-timeout`` and ``Location`` - the
        resource's own URL on a PUT (facts 7, 15), the ``mfeOperationResults`` URL on a DELETE (fact 14)."""
        op = self.state["operations"][op_id]
        ready = op["ready_at"]
        if op["kind"] in COMPUTE_OPS:
            return {"Azure-AsyncOperation": self.op_url(op_id, "computeOperationsStatus"),
                    "x-ms-response-type": "standard", "retry-after-ms": poll_ms(ready)}
        location = resource_url or self.op_url(op_id, "mfeOperationResults")
        return {"Azure-AsyncOperation": self.op_url(op_id), "Location": location,
                "x-ms-async-operation-timeout": ASYNC_TIMEOUT, "x-ms-response-type": "standard",
                "retry-after-ms": poll_ms(ready)}

    def resource_url(self, arm_id: str, api_version: Optional[str]) -> str:
        return f"{self.base_url}{arm_id.lstrip('/')}?api-version={api_version or '2023-04-01-preview'}"

    def start_delete(self, rec: dict, kind: str, rule: Optional[FaultRule] = None, *, ws: Optional[dict] = None,
                     api_version: Optional[str] = None) -> Response:
        """Answer the DELETE of a compute/endpoint/deployment: 202 (computes: empty body, fact 6; endpoints and
        deployments: the JSON literal ``null``, fact 14); the resource goes ``latencies["delete"]`` later."""
        now = time.time()
        error = fault_error(rule)
        if error is not None:  # the delete fails: the resource stays as it was
            op = self.lro(f"delete-{kind}", now + self.latencies["delete"], "Failed", error, ws=ws,
                          api_version=api_version)
        else:
            if "deleted_at" not in rec["_emu"]:
                rec["_emu"]["deleted_at"] = now + self.latencies["delete"]
            op = self.lro(f"delete-{kind}", rec["_emu"]["deleted_at"], "Succeeded", None, ws=ws,
                          api_version=api_version)
        if kind == "compute":
            return Response(202, None, self.op_headers(op))
        return Response(202, b"null", {"Content-Type": "application/json; charset=utf-8", **self.op_headers(op)})

    # -------------------------------------------------------------------------------------------- requests
    def handle(self, method: str, raw_path: str, headers: dict, body: bytes) -> Response:
        split = urlsplit(raw_path)
        path = unquote(split.path) or "/"
        query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        req = Request(method.upper(), path, raw_path, query, {k.lower(): v for k, v in headers.items()}, body)
        if path.startswith("/_emulator"):
            try:
                return self.serve_control(req)
            except ApiError as err:
                return err.response(self.location)
        # scoring applies its fault rules itself, once it knows the deployment (see scoring.py)
        delay, rule = (0.0, None) if SCORE_RE.match(path) else self.faults.pick(method, path)
        if delay:
            time.sleep(delay)
        if rule is not None and rule.action == "status":
            resp = ApiError(rule.status, "TooManyRequests" if rule.status == 429 else "ServiceUnavailable",
                            rule.message).response(self.location)
            if rule.retry_after is not None:
                ra = rule.retry_after
                resp.headers["Retry-After"] = str(int(ra)) if float(ra).is_integer() else str(ra)
        elif rule is not None and rule.action == "body":
            resp = Response(rule.status, rule.body if rule.body is not None else {})
        else:
            req.rule = rule
            try:
                resp = self.dispatch(req)
            except ApiError as err:
                resp = err.response(self._region_of(req))
            except json.JSONDecodeError as exc:
                resp = bad(f"The request body is not valid JSON: {exc}",
                           "InvalidRequestContent").response(self._region_of(req))
        resp.headers.setdefault("x-ms-request-id", str(uuid.uuid4()))
        with self.lock:
            self.log.append(RequestRecord(method.upper(), path, resp.status))
            if len(self.log) > MAX_LOG:
                del self.log[: len(self.log) - MAX_LOG]
        if self.verbose:
            print(f"{method.upper()} {path} -> {resp.status}", flush=True)
        return resp

    def _region_of(self, req: Request) -> str:
        return req.ws.get("location", self.location) if req.ws else self.location

    def call(self, req: Request, segments: list[str], case_sensitive: bool = False) -> Response:
        """Answer ``req`` with the route-table handler for ``segments``."""
        found = find_route(segments, req.method, case_sensitive)
        if found is None:
            raise ApiError(404, "NotFound", f"No route for {req.method} {req.path} in the Azure ML emulator.")
        route, params = found
        req.parts = segments
        req.params.update(params)
        return route.handler(self, req)

    def serve_control(self, req: Request) -> Response:
        """The ``/_emulator`` control API: no auth, no fault rules, not logged; case-sensitive routes."""
        route = req.path[len("/_emulator"):].rstrip("/") or "/"
        req.data = json.loads(req.body.decode() or "null") if req.body else None
        # "/_emulatorX" is no control route: its segment keeps a "/" so that no template matches it
        segments = ["_emulator", *route[1:].split("/")] if route.startswith("/") else ["_emulator", "/" + route]
        return self.call(req, segments, case_sensitive=True)

    def dispatch(self, req: Request) -> Response:
        """Work out the plane of the path, apply its checks and answer from the route table."""
        path = req.path
        if runs.is_log_url(req):
            return runs.serve_log(self, req)  # a run's log file through its SAS URL (signature checked there)
        if path.startswith(f"/{BLOB_ACCOUNT}/") or path == f"/{BLOB_ACCOUNT}":
            return blob.serve(self, req)  # SharedKey auth, checked by the blob service itself
        if SCORE_RE.match(path):
            return self.call(req, path[1:].split("/"))  # endpoint-key auth, checked by the scoring route
        if path.lower().startswith("/registrymanagement/v1.0/registries/"):
            self._require_bearer(req.headers)
            return self.call(req, path[1:].split("/"))
        if path == "/discovery":
            return self.call(req, ["discovery"])
        if path.lower().startswith(("/mlflow/v1.0/", "/assetstore/v1.0/")):  # MLflow tracking, registry operations
            self._require_bearer(req.headers)
            with self.lock:
                if req.method in ("POST", "PUT", "PATCH") and req.body:
                    req.data = json.loads(req.body.decode() or "null")
                return self.call(req, path[1:].split("/"))
        m = HISTORY_RE.match(path)
        if m:
            self._require_bearer(req.headers)
            rest = (m["rest"] or "").rstrip("/")
            with self.lock:
                self.sweep()
                req.ws, req.match = self.workspace(m["sub"], m["rg"], m["ws"]), m
                return self.call(req, ["history", "runs", m["run"], *(rest[1:].split("/") if rest else [])])
        m = REG_RE.match(path)
        if m:
            self._require_bearer(req.headers)
            self._require_api_version(req.query)
            with self.lock:
                registry.check_access(self, m["reg"], req.method)
                if req.method in ("PUT", "POST", "PATCH"):
                    req.data = json.loads(req.body.decode() or "null") if req.body else None
                resp = self.call(req, ["registries", m["reg"], *[p for p in (m["rest"] or "").split("/") if p]])
                if req.method != "GET" and resp.status < 400:
                    self.save()
                return resp
        m = OP_RE.match(path)
        if m:
            self._require_bearer(req.headers)
            with self.lock:
                return self.call(req, ["locations", m["loc"], m["kind"], m["op"]])
        m = WS_RE.match(path)
        if m:
            self._require_bearer(req.headers)
            self._require_api_version(req.query)
            with self.lock:
                self.sweep()
                if req.method in ("PUT", "PATCH", "POST"):
                    req.data = json.loads(req.body.decode() or "null") if req.body else None
                req.ws = self.workspace(m["sub"], m["rg"], m["ws"])
                rest = (m["rest"] or "").rstrip("/")
                resp = self.call(req, ["workspaces", m["ws"], *[p for p in rest.split("/") if p]])
                if req.method != "GET" and resp.status < 400:
                    self.save()
                return resp
        raise ApiError(404, "NoRegisteredProviderFound" if path.startswith("/subscriptions") else "NotFound",
                       f"No route for {req.method} {path} in the Azure ML emulator.")

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


# ------------------------------------------------------------------------------- operation status routes
def _operation(app: App, req: Request) -> dict:
    op = app.state["operations"].get(req.params["op"])
    if op is None:
        raise not_found("operation", req.params["op"])
    return op


def _op_time(ts: float) -> str:
    return _dt.datetime.fromtimestamp(ts, _dt.timezone.utc).isoformat()


def operation_status(app: App, req: Request) -> Response:
    """An operation's status. Compute operations answer ``{"status": "InProgress"}`` then ``{"status":
    "Succeeded", "percentComplete": 100.0}`` (fact 3); mfe operations (endpoints, deployments, their deletes)
    answer ``{id, name, startTime, endTime, percentComplete, status}`` with ``"Updating"`` while running and the
    zero ``endTime`` until done, ``percentComplete`` staying 0.0 (fact 8; a deployment's puts ``status`` first)."""
    op_id = req.params["op"]
    op = _operation(app, req)
    done = time.time() >= op["ready_at"]
    hdrs = {} if done else {"retry-after-ms": poll_ms(op["ready_at"])}
    status = op["final"] if done else "InProgress"
    error = None
    if done and op["final"] != "Succeeded":
        error = op.get("error") or {"code": "Failed", "message": "The operation failed."}
    if op["kind"] in COMPUTE_OPS:
        body: dict = {"status": status}
        if done and op["final"] == "Succeeded":
            body["percentComplete"] = 100.0
    else:
        status = op["final"] if done else "Updating"
        body = {"id": f"/subscriptions/{op.get('sub', app.subscription_id)}/providers/{PROVIDER}/locations/"
                      f"{op.get('location', app.location)}/mfeOperationsStatus/{op_id}",
                "name": op_id, "startTime": _op_time(op["created"]),
                "endTime": _op_time(op["ready_at"]) if done else "0001-01-01T00:00:00+00:00",
                "percentComplete": 0.0, "status": status}
        if op["kind"] == "deployment":
            body = {"status": body.pop("status"), **body}
    if error is not None:
        body["error"] = error
    return Response(200, body, hdrs)


def operation_result(app: App, req: Request) -> Response:
    """``mfeOperationResults``: 202 until done, then 200 or the operation's error."""
    op = _operation(app, req)
    if time.time() < op["ready_at"]:
        return Response(202, None, {"Location": app.op_url(req.params["op"], "mfeOperationResults"),
                                    "retry-after-ms": poll_ms(op["ready_at"])})
    if op["final"] == "Succeeded":
        return Response(200, None)
    error = op.get("error") or {}
    raise ApiError(400, error.get("code", "Failed"), error.get("message", ""))


add_routes(  # any method, as Azure's operation URLs are only ever polled
    ("locations/{loc}/mfeOperationsStatus/{op}", "*", operation_status),
    ("locations/{loc}/computeOperationsStatus/{op}", "*", operation_status),
    ("locations/{loc}/mfeOperationResults/{op}", "*", operation_result),
)
