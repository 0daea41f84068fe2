"""AmlCompute clusters: create/update as an LRO, scale with PATCH, delete as an LRO, node and key listings."""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING

from .core import (
    ISO_DURATION, PROVIDER, ApiError, Request, Response, add_routes, bad, fault_error, iso, not_found,
    pending_headers, poll_ms, prov_state, public, refuse, system_data, ws_id,
)
from .workspace import WS

if TYPE_CHECKING:
    from .app import App

COMPUTES = WS + "/computes"
COMPUTE = COMPUTES + "/{name}"
_COMPUTE_NAME = re.compile(r"^[a-zA-Z][a-zA-Z0-9-]{1,15}$")


def compute_body(rec: dict) -> dict:
    body = public(rec)
    body["systemData"] = system_data(rec["_emu"]["created"], rec["_emu"]["modified"])
    state = prov_state(rec)
    body["properties"]["provisioningState"] = state
    body["properties"]["createdOn"] = iso(rec["_emu"]["created"])
    body["properties"]["modifiedOn"] = iso(rec["_emu"]["modified"])
    err = rec["_emu"].get("error")
    body["properties"]["provisioningErrors"] = [{"error": err}] if err and state == "Failed" else None
    return body


def _existing(req: Request) -> dict:
    rec = req.ws["computes"].get(req.params["name"].lower())
    if rec is None:
        raise not_found("compute", req.params["name"])
    return rec


def list_computes(app: App, req: Request) -> Response:
    return Response(200, {"value": [compute_body(r) for r in req.ws["computes"].values()]})


def get_compute(app: App, req: Request) -> Response:
    rec = req.ws["computes"].get(req.params["name"].lower())
    if rec is None:
        raise not_found(f"{PROVIDER}/workspaces/{req.ws['name']}/computes", req.params["name"])
    return Response(200, compute_body(rec), pending_headers(rec))


def delete_compute(app: App, req: Request) -> Response:
    rec = req.ws["computes"].get(req.params["name"].lower())
    if rec is None:
        return Response(204)
    action = req.query.get("underlyingResourceAction", "")
    if action.lower() not in ("delete", "detach"):
        raise bad("The query parameter underlyingResourceAction must be 'Delete' or 'Detach'.")
    return app.start_delete(rec, "compute", req.rule)


def patch_compute(app: App, req: Request) -> Response:
    rec = _existing(req)
    scale = ((req.data or {}).get("properties") or {}).get("scaleSettings")
    if scale:
        _validate_scale(scale)
        rec["properties"]["properties"]["scaleSettings"].update(scale)
    return Response(200, compute_body(rec))


def list_nodes(app: App, req: Request) -> Response:
    _existing(req)
    return Response(200, {"nodes": [], "nextLink": None})


def list_keys(app: App, req: Request) -> Response:
    _existing(req)
    return Response(200, {"computeType": "AmlCompute"})


def unknown_action(app: App, req: Request) -> Response:
    _existing(req)
    raise ApiError(404, "NotFound", f"Unknown compute action {req.parts[4]}.")


def _validate_scale(scale: dict) -> dict:
    if not isinstance(scale, dict):
        raise bad("scaleSettings must be an object.")
    try:
        max_n = int(scale.get("maxNodeCount"))
        min_n = int(scale.get("minNodeCount", 0) or 0)
    except (TypeError, ValueError):
        raise bad("scaleSettings.maxNodeCount is required and must be an integer.") from None
    if max_n < 1:
        raise bad(f"scaleSettings.maxNodeCount must be at least 1, got {max_n}.")
    if min_n < 0 or min_n > max_n:
        raise bad(f"scaleSettings.minNodeCount ({min_n}) must be between 0 and maxNodeCount ({max_n}).")
    idle = scale.get("nodeIdleTimeBeforeScaleDown")
    if idle is not None and not ISO_DURATION.match(str(idle)):
        raise bad(f"scaleSettings.nodeIdleTimeBeforeScaleDown '{idle}' is not an ISO-8601 duration.")
    return scale


def put_compute(app: App, req: Request) -> Response:
    ws, name, data = req.ws, req.params["name"], req.data
    if not _COMPUTE_NAME.match(name):
        raise bad(f"Compute name '{name}' is invalid: it must be 2-16 characters, start with a letter and "
                  f"contain only letters, digits and hyphens.", "ValidationError")
    if not isinstance(data, dict) or not isinstance(data.get("properties"), dict):
        raise bad("The compute body must have 'properties'.", "InvalidRequestContent")
    props = data["properties"]
    ctype = props.get("computeType")
    if ctype != "AmlCompute":
        raise bad(f"computeType '{ctype}' is not supported by the emulator (only AmlCompute).")
    inner = props.get("properties") or {}
    vm_size = inner.get("vmSize")
    if not vm_size or not isinstance(vm_size, str):
        raise bad("properties.properties.vmSize is required for AmlCompute.", "ValidationError")
    if not re.match(r"^(Standard|Basic)_[A-Za-z0-9_]+$", vm_size, re.I):
        raise bad(f"The VM size '{vm_size}' is not a valid Azure VM size.", "ValidationError")
    prio = inner.get("vmPriority", "Dedicated") or "Dedicated"
    if prio not in ("Dedicated", "LowPriority"):
        raise bad(f"vmPriority '{prio}' must be Dedicated or LowPriority.")
    scale = _validate_scale(inner.get("scaleSettings") or {})
    loc = data.get("location")
    if loc and loc.replace(" ", "").lower() != app.location.lower():
        raise bad(f"The compute location '{loc}' must match the workspace location '{app.location}'.")
    key = name.lower()
    existing = ws["computes"].get(key)
    now = time.time()
    if existing is not None:
        if "deleted_at" in existing["_emu"]:
            raise ApiError(409, "Conflict", f"Compute '{name}' is being deleted.")
        old = existing["properties"]["properties"]
        if old.get("vmSize", "").lower() != vm_size.lower():
            raise bad(f"Updating vmSize of existing compute '{name}' from {old.get('vmSize')} to {vm_size} "
                      f"is not supported; delete and recreate it.", "BadArgument")
        if old.get("vmPriority", "Dedicated") != prio:
            raise bad(f"Updating vmPriority of existing compute '{name}' is not supported.", "BadArgument")
    error = fault_error(req.rule)
    latency = app.latencies["compute"]
    rec = {
        "id": f"{ws_id(ws)}/computes/{name}", "name": name, "type": f"{PROVIDER}/workspaces/computes",
        "location": app.location, "tags": data.get("tags") or {}, "identity": data.get("identity"),
        "sku": data.get("sku"),
        "properties": {
            "computeType": "AmlCompute", "computeLocation": app.location,
            "description": props.get("description"), "disableLocalAuth": props.get("disableLocalAuth", True),
            "resourceId": None, "isAttachedCompute": False,
            "properties": {
                **inner, "vmSize": vm_size, "vmPriority": prio,
                "scaleSettings": {"minNodeCount": scale.get("minNodeCount", 0) or 0,
                                  "maxNodeCount": scale["maxNodeCount"],
                                  "nodeIdleTimeBeforeScaleDown": scale.get("nodeIdleTimeBeforeScaleDown", "PT2M")},
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
    op = app.lro("compute", now + latency, "Failed" if error else "Succeeded", error)
    return Response(200 if existing else 201, compute_body(rec),
                    {"Azure-AsyncOperation": app.op_url(op), "retry-after-ms": poll_ms(now + latency)})


add_routes(
    (COMPUTES, "GET", list_computes),
    (COMPUTES, "*", refuse(405, "MethodNotAllowed", "Use PUT on a compute name.")),
    (COMPUTE, "GET", get_compute),
    (COMPUTE, "PUT", put_compute),
    (COMPUTE, "PATCH", patch_compute),
    (COMPUTE, "DELETE", delete_compute),
    (COMPUTE, "*", refuse(405, "MethodNotAllowed", "{method} is not supported on computes.")),
    (COMPUTE + "/listNodes", "POST", list_nodes),
    (COMPUTE + "/listKeys", "POST", list_keys),
    (COMPUTE + "/*", "*", unknown_action),
)
