"""``App``: one emulator, and the way each request reaches its handler.

``App`` is the emulator's ``AppState`` (``state.py``) with the ``azureml`` registry set up and ``App.handle``,
which answers ``(method, path, headers, body)`` with a ``Response``: control API first, then fault rules, then
``dispatch``, which works out the plane of the path (run logs, blob service, scoring, registry discovery,
discovery, MLflow and assetstore operations, run history, registry, operations, workspace ARM), applies that
plane's checks (auth, api-version, lock, body parsing, saving) and looks the path up in the route table
(``core``). This module stands above every resource family: it imports them, none imports it.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Any, Optional
from urllib.parse import parse_qs, unquote, urlsplit

# The resource families: importing one registers its routes (``core.add_routes``). A new resource is a module
# imported here.
from . import (  # noqa: F401
    assets,
    blob,
    computes,
    control,
    deployments,
    endpoints,
    jobs,
    metrics,
    mlflow,
    operations,
    registry,
    runs,
    scoring,
    workspace,
)
from .core import ApiError, Request, RequestRecord, Response, bad, call_route
from .state import AppState

MAX_LOG = 200_000  # request-log entries kept (oldest dropped first)

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


class App(AppState):
    """One emulator: its state and its request handling (thread-safe, one lock)."""

    def __init__(self, *, registries: Optional[dict] = None, **state: Any) -> None:
        """``state``: ``AppState``'s keyword arguments; ``registries``: the user registries to declare."""
        super().__init__(**state)
        self.registry_created = time.time() - 86400 * 30
        registry.setup(self, registries)  # the azureml registry's content and the declared user registries

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
            if blob.is_blob_path(path):  # the storage service's XML error
                resp = blob.fault_response(req, rule.status, rule.message)
            else:
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

    def serve_control(self, req: Request) -> Response:
        """The ``/_emulator`` control API: no auth, no fault rules, not logged; case-sensitive routes."""
        route = req.path[len("/_emulator"):].rstrip("/") or "/"
        req.data = json.loads(req.body.decode() or "null") if req.body else None
        # "/_emulatorX" is no control route: its segment keeps a "/" so that no template matches it
        segments = ["_emulator", *route[1:].split("/")] if route.startswith("/") else ["_emulator", "/" + route]
        return call_route(self, req, segments, case_sensitive=True)

    def dispatch(self, req: Request) -> Response:
        """Work out the plane of the path, apply its checks and answer from the route table."""
        path = req.path
        if runs.is_log_url(req):
            return runs.serve_log(self, req)  # a run's log file through its SAS URL (signature checked there)
        if blob.is_blob_path(path):
            return blob.serve(self, req)  # SharedKey auth, checked by the blob service itself
        if SCORE_RE.match(path):
            return call_route(self, req, path[1:].split("/"))  # endpoint-key auth, checked by the scoring route
        if path.lower().startswith("/registrymanagement/v1.0/registries/"):
            self._require_bearer(req.headers)
            return call_route(self, req, path[1:].split("/"))
        if path == "/discovery":
            return call_route(self, req, ["discovery"])
        if path.lower().startswith(("/mlflow/v1.0/", "/assetstore/v1.0/")):  # MLflow tracking, registry operations
            self._require_bearer(req.headers)
            with self.lock:
                if req.method in ("POST", "PUT", "PATCH") and req.body:
                    req.data = json.loads(req.body.decode() or "null")
                return call_route(self, req, path[1:].split("/"))
        m = HISTORY_RE.match(path)
        if m:
            self._require_bearer(req.headers)
            rest = (m["rest"] or "").rstrip("/")
            with self.lock:
                self.sweep()
                req.ws, req.match = self.workspace(m["sub"], m["rg"], m["ws"]), m
                return call_route(self, req, ["history", "runs", m["run"], *(rest[1:].split("/") if rest else [])])
        m = REG_RE.match(path)
        if m:
            self._require_bearer(req.headers)
            self._require_api_version(req.query)
            with self.lock:
                registry.check_access(self, m["reg"], req.method)
                if req.method in ("PUT", "POST", "PATCH"):
                    req.data = json.loads(req.body.decode() or "null") if req.body else None
                resp = call_route(self, req, ["registries", m["reg"], *[p for p in (m["rest"] or "").split("/") if p]])
                if req.method != "GET" and resp.status < 400:
                    self.save()
                return resp
        m = OP_RE.match(path)
        if m:
            self._require_bearer(req.headers)
            with self.lock:
                return call_route(self, req, ["locations", m["loc"], m["kind"], m["op"]])
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
                resp = call_route(self, req, ["workspaces", m["ws"], *[p for p in rest.split("/") if p]])
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
