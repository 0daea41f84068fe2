"""Long-running operations (LROs): how the requests that start one answer, and how a client polls it.

Computes, endpoints, deployments, their deletes, endpoint key regeneration and job cancels start an operation
(``lro``) recorded in ``state["operations"]`` with the instant it ends and how (``final``, ``error``); the answer
that started it carries its URLs (``op_headers``, ``op_url``). The operation status routes answer the polls.
"""

from __future__ import annotations

import datetime as _dt
import time
import uuid
from typing import Optional

from .core import PROVIDER, ApiError, Request, Response, add_routes, fault_error, not_found, poll_ms
from .faults import FaultRule
from .state import AppState

# The long-running operations whose status has the minimal compute shape (fact 3); every other is an mfe one.
COMPUTE_OPS = ("compute", "delete-compute")
# The prefix of an mfe operation id (``oeidp:<workspaceId>:<guid>``, fact 7; ``odidp:`` for deployments, fact 15).
OP_PREFIX = {"endpoint": "oeidp", "delete-endpoint": "oeidp", "deployment": "odidp", "delete-deployment": "odidp"}
ASYNC_TIMEOUT = "PT30M"  # x-ms-async-operation-timeout of endpoint/deployment operations (facts 7, 14, 15)


# ------------------------------------------------------------------------------------------ starting one
def lro(app: AppState, kind: str, ready_at: float, final: str, error: Optional[dict], *,
        ws: Optional[dict] = None, api_version: Optional[str] = None) -> str:
    """Start an operation that ends ``final`` (with ``error``) at ``ready_at``; returns its id.

    Endpoint and deployment operation ids look like the service's ``oeidp:<workspaceId>:<guid>`` /
    ``odidp:...`` (facts 7, 15); the status URL is under the workspace's region and follows the request's
    api-version (fact 10)."""
    guid = str(uuid.uuid4())
    prefix = OP_PREFIX.get(kind)
    op_id = f"{prefix}:{ws['workspace_id']}:{guid}" if prefix and ws else guid
    app.state["operations"][op_id] = {
        "kind": kind, "created": time.time(), "ready_at": ready_at, "final": final, "error": error,
        "sub": ws["sub"] if ws else app.subscription_id,
        "location": ws.get("location", app.location) if ws else app.location,
        "api_version": api_version or "2023-04-01-preview",
    }
    return op_id


def op_url(app: AppState, op_id: str, kind: str = "mfeOperationsStatus") -> str:
    op = app.state["operations"].get(op_id, {})
    return (f"{app.base_url}subscriptions/{op.get('sub', app.subscription_id)}/providers/{PROVIDER}/locations/"
            f"{op.get('location', app.location)}/{kind}/{op_id}?api-version="
            f"{op.get('api_version', '2023-04-01-preview')}")


def op_headers(app: AppState, op_id: str, location: Optional[str] = None) -> dict:
    """The LRO headers of an answer that started ``op_id``: computes give ``Azure-AsyncOperation`` only
    (facts 1, 5, 6); endpoints and deployments add ``x-ms-async-operation-timeout`` and ``Location`` - the
    resource's own URL on a PUT (facts 7, 15), the ``mfeOperationResults`` URL on a DELETE (fact 14)."""
    op = app.state["operations"][op_id]
    ready = op["ready_at"]
    if op["kind"] in COMPUTE_OPS:
        return {"Azure-AsyncOperation": op_url(app, op_id, "computeOperationsStatus"),
                "x-ms-response-type": "standard", "retry-after-ms": poll_ms(ready)}
    location = location or op_url(app, op_id, "mfeOperationResults")
    return {"Azure-AsyncOperation": op_url(app, op_id), "Location": location,
            "x-ms-async-operation-timeout": ASYNC_TIMEOUT, "x-ms-response-type": "standard",
            "retry-after-ms": poll_ms(ready)}


def resource_url(app: AppState, arm_id: str, api_version: Optional[str]) -> str:
    return f"{app.base_url}{arm_id.lstrip('/')}?api-version={api_version or '2023-04-01-preview'}"


def start_delete(app: AppState, rec: dict, kind: str, rule: Optional[FaultRule] = None, *,
                 ws: Optional[dict] = None, api_version: Optional[str] = None) -> Response:
    """Answer the DELETE of a compute/endpoint/deployment: 202 (computes: empty body, fact 6; endpoints and
    deployments: the JSON literal ``null``, fact 14); the resource goes ``latencies["delete"]`` later."""
    now = time.time()
    error = fault_error(rule)
    if error is not None:  # the delete fails: the resource stays as it was
        op = lro(app, f"delete-{kind}", now + app.latencies["delete"], "Failed", error, ws=ws,
                 api_version=api_version)
    else:
        if "deleted_at" not in rec["_emu"]:
            rec["_emu"]["deleted_at"] = now + app.latencies["delete"]
        op = lro(app, f"delete-{kind}", rec["_emu"]["deleted_at"], "Succeeded", None, ws=ws,
                 api_version=api_version)
    if kind == "compute":
        return Response(202, None, op_headers(app, op))
    return Response(202, b"null", {"Content-Type": "application/json; charset=utf-8", **op_headers(app, op)})


# ------------------------------------------------------------------------------- operation status routes
def _operation(app: AppState, req: Request) -> dict:
    op = app.state["operations"].get(req.params["op"])
    if op is None:
        raise not_found("operation", req.params["op"])
    return op


def _op_time(ts: float) -> str:
    return _dt.datetime.fromtimestamp(ts, _dt.UTC).isoformat()


def operation_status(app: AppState, req: Request) -> Response:
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


def operation_result(app: AppState, req: Request) -> Response:
    """``mfeOperationResults``: 202 until done, then 200 or the operation's error."""
    op = _operation(app, req)
    if time.time() < op["ready_at"]:
        return Response(202, None, {"Location": op_url(app, req.params["op"], "mfeOperationResults"),
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
