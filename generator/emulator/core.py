"""What every part of the emulator shares: responses and ARM errors, the route table, and small helpers.

The route table maps ``(path template, method)`` to a handler ``handler(app, req) -> Response``. A template is
a ``/``-separated path: literal segments (matched case-insensitively unless the caller asks otherwise),
``{name}`` segments (any non-empty segment, passed to the handler in ``req.params``) and an optional final
``*`` (the prefix and anything below it). Method ``"*"`` matches any method. Among the routes that match a
request, an exact template beats a ``*`` one, a longer ``*`` prefix beats a shorter one, more literal segments
beat fewer, and a named method beats ``"*"``.

Each resource family (``workspace``, ``computes``, ``assets``, ``jobs``, ``endpoints``, ``registry``, ``blob``,
``control``) registers its rows with ``add_routes`` when imported; ``App`` (``app.py``) works out which plane a
request belongs to and the segments to look up. See docs/emulator.md.
"""

from __future__ import annotations

import copy
import datetime as _dt
import json
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Optional, Union

from .faults import FaultRule

PROVIDER = "Microsoft.MachineLearningServices"
BLOB_ACCOUNT = "amlgenemulatorstore"
TENANT_ID = "00000000-0000-0000-0000-000000000001"
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
ISO_DURATION = re.compile(r"^P(?!$)(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$")


# ------------------------------------------------------------------------------------------------ request log
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


# ------------------------------------------------------------------------------------- requests and responses
@dataclass
class Request:
    """One request as a handler sees it."""

    method: str  # upper case
    path: str  # percent-decoded, without the query string
    raw_path: str  # as received: percent-encoded, with the query string
    query: dict  # the last value of each query parameter
    headers: dict  # lower-case names
    body: bytes
    rule: Optional[FaultRule] = None  # the ``fail`` fault rule that fired for this request, if any
    data: Any = None  # the parsed JSON body (ARM and control routes)
    ws: Optional[dict] = None  # the workspace record (workspace and run-history routes)
    match: Optional[re.Match] = None  # the plane's path match (run-history routes)
    parts: list = field(default_factory=list)  # the segments looked up in the route table, as received
    params: dict = field(default_factory=dict)  # the template's {name} segments


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
    """Raised inside handlers to answer an ARM-style error.

    The body is the service's (facts 23, 27, 40 of the recordings): ``{"error": {"code", "message", "details",
    "additionalInfo": [ComponentName, Correlation, Environment, Location, Time]}}`` with the header
    ``x-ms-response-type: error``; ``details`` holds inner errors (e.g. ``ModelNotFound``).
    """

    def __init__(self, status: int, code: str, message: str, headers: Optional[dict] = None,
                 details: Optional[list] = None):
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}
        self.details = details or []

    def response(self, location: str = "eastus") -> Response:
        headers = {"x-ms-response-type": "error", **self.headers}
        details = [{"code": d.get("code"), "message": d.get("message"), "details": [], "additionalInfo": []}
                   for d in self.details]
        return Response(self.status, {"error": {"code": self.code, "message": self.message, "details": details,
                                                "additionalInfo": additional_info(location)}}, headers)


def additional_info(location: str) -> list:
    """The ``additionalInfo`` list the Azure ML management front end adds to every error (fact 40)."""
    now = _dt.datetime.now(_dt.UTC).isoformat()
    return [
        {"type": "ComponentName", "info": {"value": "managementfrontend"}},
        {"type": "Correlation", "info": {"value": {"operation": uuid.uuid4().hex, "request": uuid.uuid4().hex[:16]}}},
        {"type": "Environment", "info": {"value": location}},
        {"type": "Location", "info": {"value": location}},
        {"type": "Time", "info": {"value": now}},
    ]


def not_found(kind: str, name: str) -> ApiError:
    return ApiError(404, "ResourceNotFound", f"The resource {kind} '{name}' could not be found.")


def bad(message: str, code: str = "UserError") -> ApiError:
    return ApiError(400, code, message)


# ---------------------------------------------------------------------------------------------- route table
# ``handler(app, req)``: ``app`` is the emulator's ``AppState`` (``state.py``, which stands above this module)
Handler = Callable[[Any, Request], Response]


@dataclass(frozen=True)
class Route:
    template: str
    method: str  # upper case, or "*"
    handler: Handler
    segments: tuple  # lower-case literal, or None for a {name}
    names: tuple  # the {name}s in order
    wildcard: bool  # the template ends with "/*"


ROUTES: dict[tuple[str, str], Route] = {}  # (template with {} for every {name}, method) -> Route
_BY_HEAD: dict[str, list[Route]] = {}  # first literal segment -> routes
_PARAM = re.compile(r"^\{(\w+)\}$")


def add_routes(*rows: tuple[str, str, Handler]) -> None:
    """Register ``(template, method, handler)`` rows (see the module doc); a row registered twice is an error."""
    for template, method, handler in rows:
        segs = template.split("/")
        wildcard = segs[-1] == "*"
        if wildcard:
            segs = segs[:-1]
        params = [_PARAM.match(s) for s in segs]
        names = tuple(p.group(1) for p in params if p)
        segments = tuple(None if p else s.lower() for s, p in zip(segs, params))
        if not segments or segments[0] is None:
            raise ValueError(f"route {template!r} must start with a literal segment")
        key = ("/".join("{}" if s is None else s for s in segments) + ("/*" if wildcard else ""), method.upper())
        if key in ROUTES:
            raise ValueError(f"route {method} {template} is registered twice")
        ROUTES[key] = Route(template, method.upper(), handler, segments, names, wildcard)
        _BY_HEAD.setdefault(segments[0], []).append(ROUTES[key])


def find_route(segments: list[str], method: str, case_sensitive: bool = False) -> Optional[tuple[Route, dict]]:
    """The best route for these path segments and method, with its ``{name}`` values (None if none matches)."""
    best = None
    head = segments[0] if case_sensitive else segments[0].lower()
    for r in _BY_HEAD.get(head, ()):
        if r.method not in (method, "*"):
            continue
        n = len(r.segments)
        if len(segments) < n or (not r.wildcard and len(segments) != n):
            continue
        values = []
        for tpl, seg in zip(r.segments, segments):
            if tpl is None:
                if not seg:
                    break
                values.append(seg)
            elif tpl != (seg if case_sensitive else seg.lower()):
                break
        else:
            rank = (not r.wildcard, n, sum(s is not None for s in r.segments), r.method != "*")
            if best is None or rank > best[0]:
                best = (rank, r, dict(zip(r.names, values)))
    return (best[1], best[2]) if best else None


def call_route(app: Any, req: Request, segments: list[str], case_sensitive: bool = False) -> Response:
    """Answer ``req`` with the route-table handler for ``segments`` (404 when no row matches)."""
    found = find_route(segments, req.method, case_sensitive)
    if found is None:
        raise ApiError(404, "NotFound", f"No route for {req.method} {req.path} in the Azure ML emulator.")
    route, params = found
    req.parts = segments
    req.params.update(params)
    return route.handler(app, req)


def refuse(status: int, code: str, message: Union[str, Callable[[Request], str]]) -> Handler:
    """A handler that only answers an ARM error; ``{method}`` in a string message becomes the request method."""

    def handler(app: Any, req: Request) -> Response:
        text = message(req) if callable(message) else message.replace("{method}", req.method)
        raise ApiError(status, code, text)

    return handler


# ---------------------------------------------------------------------------------------------------- helpers
def iso(ts: float) -> str:
    return _dt.datetime.fromtimestamp(ts, _dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def http_date(ts: float) -> str:
    return _dt.datetime.fromtimestamp(ts, _dt.UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")


def normalise_region(location: str) -> str:
    """An Azure region as ARM names it: ``"East US"`` -> ``"eastus"``."""
    return str(location or "").replace(" ", "").lower()


def ws_id(ws: dict) -> str:
    return f"/subscriptions/{ws['sub']}/resourceGroups/{ws['rg']}/providers/{PROVIDER}/workspaces/{ws['name']}"


def blob_container(ws: dict) -> str:
    """The blob container of a workspace's ``workspaceblobstore``."""
    return f"azureml-blobstore-{ws['workspace_id']}"


def system_data(created: float, modified: Optional[float] = None) -> dict:
    return {
        "createdAt": iso(created), "createdBy": "emulator@amlgen.local", "createdByType": "User",
        "lastModifiedAt": iso(modified or created), "lastModifiedBy": "emulator@amlgen.local",
        "lastModifiedByType": "User",
    }


def public(rec: dict) -> dict:
    """A stored record without the emulator's bookkeeping (``_emu``)."""
    return {k: copy.deepcopy(v) for k, v in rec.items() if k != "_emu"}


def prov_state(rec: dict) -> str:
    """Provisioning state of a resource with a lifecycle (compute, endpoint, deployment) at this instant."""
    emu = rec["_emu"]
    now = time.time()
    if "deleted_at" in emu:
        return "Deleting"
    if now < emu.get("ready_at", 0):
        return emu.get("pending", "Creating")
    return emu.get("final", "Succeeded")


def poll_ms(ready_at: float) -> str:
    """The ``retry-after-ms`` to give a client polling for something ready at ``ready_at``."""
    remaining = max(0.0, ready_at - time.time())
    return str(int(min(100, max(10, remaining * 1000))))


def pending_headers(rec: dict) -> dict:
    emu = rec["_emu"]
    ready = emu.get("deleted_at", emu.get("ready_at", 0))
    if time.time() < ready:
        return {"retry-after-ms": poll_ms(ready)}
    return {}


def fault_error(rule: Optional[FaultRule]) -> Optional[dict]:
    """The error a ``fail`` fault rule gives the operation it fired on (None without one)."""
    if rule is not None and rule.action == "fail":
        return {"code": "InjectedFailure", "message": rule.message}
    return None
