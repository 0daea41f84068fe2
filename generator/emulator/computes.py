"""AmlCompute clusters: create/update as an LRO, scale with PATCH, delete as an LRO, node and key listings.

What the service answers (recording ``compute-amlcompute-create-update-delete-2024``): every PUT, a create or
an update, is **201** with ``Azure-AsyncOperation`` (``.../locations/<region>/computeOperationsStatus/<guid>``)
and no ``Location``, ``provisioningState "Creating"`` and null runtime fields (facts 1, 4, 5); ``vmSize`` comes
back upper-cased (fact 2); after success a GET shows ``allocationState``, node counts, ``computeLocation``,
``tags {}``, ``provisioningWarnings {}`` and ``adminUserPassword: null`` (fact 4). DELETE is 202 with an empty
body and ``Azure-AsyncOperation`` only (fact 6).

Beyond the recordings: a cluster's nodes follow the jobs running on it (``POST .../listNodes`` lists them
``running``; the node counts are non-zero), and ``minNodeCount`` nodes stay up idle.
"""

from __future__ import annotations

import hashlib
import re
import time

from .core import (
    ISO_DURATION,
    PROVIDER,
    ApiError,
    Request,
    Response,
    add_routes,
    bad,
    fault_error,
    iso,
    not_found,
    pending_headers,
    prov_state,
    public,
    refuse,
    ws_id,
)
from .joblife import job_nodes
from .operations import lro, op_headers, start_delete
from .state import AppState
from .workspace import WS

COMPUTES = WS + "/computes"
COMPUTE = COMPUTES + "/{name}"
_COMPUTE_NAME = re.compile(r"^[a-zA-Z][a-zA-Z0-9-]{1,15}$")
NODE_COUNTS = ("preparingNodeCount", "runningNodeCount", "idleNodeCount", "unusableNodeCount", "leavingNodeCount",
               "preemptedNodeCount")


# ------------------------------------------------------------------------------------------------ nodes
def nodes(ws: dict, rec: dict) -> list[dict]:
    """The cluster's nodes now: one per node a running (or preparing) job holds, then idle nodes up to
    ``minNodeCount``; never more than ``maxNodeCount``."""
    inner = rec["properties"]["properties"]
    scale = inner["scaleSettings"]
    out: list[dict] = []
    for job_name, state, count in job_nodes(ws, rec["name"]):
        for _ in range(count):
            out.append({"nodeState": state, "runId": job_name})
    out = out[: int(scale["maxNodeCount"])]
    while len(out) < int(scale.get("minNodeCount") or 0):
        out.append({"nodeState": "idle", "runId": None})
    suffix = "p" if inner.get("vmPriority") == "LowPriority" else "d"
    for i, node in enumerate(out):
        digest = hashlib.sha256(f"{ws_id(ws)}/{rec['name']}/{i}".encode()).hexdigest()[:32]
        node.update({"nodeId": f"tvmps_{digest}_{suffix}", "privateIpAddress": f"10.0.0.{4 + i}",
                     "publicIpAddress": None, "port": 50000 + i})
    return out


def _counts(ws: dict, rec: dict) -> dict:
    listed = nodes(ws, rec)
    counts = dict.fromkeys(NODE_COUNTS, 0)
    for node in listed:
        counts[f"{node['nodeState']}NodeCount"] += 1
    return {"currentNodeCount": len(listed), "targetNodeCount": len(listed), "nodeStateCounts": counts,
            "allocationState": "Steady", "allocationStateTransitionTime": iso(rec["_emu"]["modified"])}


# ------------------------------------------------------------------------------------------------- bodies
def compute_body(ws: dict, rec: dict, answer: str = "") -> dict:
    """The compute as the service shows it: to a GET (``answer=""``), or as the answer of a create PUT
    (``"create"``) or an update PUT (``"update"``)."""
    body = public(rec)
    state = "Creating" if answer else prov_state(rec)
    props, inner = body["properties"], body["properties"]["properties"]
    creds = inner.pop("userAccountCredentials", None)
    runtime = {"currentNodeCount": None, "targetNodeCount": None, "nodeStateCounts": None, "allocationState": None}
    if not answer and state not in ("Creating", "Failed"):
        runtime = _counts(ws, rec)
    err = rec["_emu"].get("error")
    out_inner = {
        "vmSize": str(inner["vmSize"]).upper(), "vmPriority": inner["vmPriority"],
        "scaleSettings": inner["scaleSettings"],
    }
    if creds and not answer:
        out_inner["userAccountCredentials"] = {"adminUserName": creds.get("adminUserName"), "adminUserPassword": None,
                                               "adminUserSshPublicKey": creds.get("adminUserSshPublicKey")}
    out_inner.update({"subnet": inner.get("subnet"), **runtime, "errors": None,
                      "remoteLoginPortPublicAccess": inner.get("remoteLoginPortPublicAccess", "NotSpecified"),
                      "osType": inner.get("osType", "Linux"), "virtualMachineImage": inner.get("virtualMachineImage"),
                      "isolatedNetwork": bool(inner.get("isolatedNetwork", False))})
    if "enableNodePublicIp" in inner:
        out_inner["enableNodePublicIp"] = inner["enableNodePublicIp"]
    out_inner["enableBatchPrivateLink"] = False
    if not answer:
        out_inner["propertyBag"] = {}
    out_props = {
        "createdOn": iso(rec["_emu"]["created"]), "modifiedOn": iso(rec["_emu"]["modified"]),
        "disableLocalAuth": props.get("disableLocalAuth", True), "description": props.get("description"),
        "resourceId": (f"/subscriptions/{ws['sub']}/resourceGroups/{ws['rg']}/providers/Microsoft.BatchAI/workspaces/"
                       f"{ws['name']}/clusters/{rec['name']}" if answer == "update" else None),
        "computeType": "AmlCompute",
    }
    if answer != "create":
        out_props["computeLocation"] = props.get("computeLocation")
    out_props.update({
        "provisioningState": state,
        "provisioningErrors": [{"error": err}] if err and state == "Failed" else None,
        "provisioningWarnings": None if answer == "create" else {}, "isAttachedCompute": False,
        "properties": out_inner,
    })
    return {"id": body["id"], "name": body["name"], "type": body["type"], "location": body["location"],
            "tags": None if answer == "create" else (body.get("tags") or {}), "properties": out_props}


def _existing(req: Request) -> dict:
    rec = req.ws["computes"].get(req.params["name"].lower())
    if rec is None:
        raise not_found("compute", req.params["name"])
    return rec


# ----------------------------------------------------------------------------------------------- handlers
def list_computes(app: AppState, req: Request) -> Response:
    return Response(200, {"value": [compute_body(req.ws, r) for r in req.ws["computes"].values()]})


def get_compute(app: AppState, req: Request) -> Response:
    rec = req.ws["computes"].get(req.params["name"].lower())
    if rec is None:
        raise not_found(f"{PROVIDER}/workspaces/{req.ws['name']}/computes", req.params["name"])
    return Response(200, compute_body(req.ws, rec), pending_headers(rec))


def delete_compute(app: AppState, req: Request) -> Response:
    rec = req.ws["computes"].get(req.params["name"].lower())
    if rec is None:
        return Response(204)
    action = req.query.get("underlyingResourceAction", "")
    if action.lower() not in ("delete", "detach"):
        raise bad("The query parameter underlyingResourceAction must be 'Delete' or 'Detach'.")
    return start_delete(app, rec, "compute", req.rule, ws=req.ws, api_version=req.query.get("api-version"))


def patch_compute(app: AppState, req: Request) -> Response:
    rec = _existing(req)
    scale = ((req.data or {}).get("properties") or {}).get("scaleSettings")
    if scale:
        _validate_scale(scale)
        rec["properties"]["properties"]["scaleSettings"].update(scale)
    return Response(200, compute_body(req.ws, rec))


def list_nodes(app: AppState, req: Request) -> Response:
    rec = _existing(req)
    return Response(200, {"nodes": nodes(req.ws, rec) if prov_state(rec) not in ("Creating", "Failed") else [],
                          "nextLink": None})


def list_keys(app: AppState, req: Request) -> Response:
    _existing(req)
    return Response(200, {"computeType": "AmlCompute"})


def unknown_action(app: AppState, req: Request) -> Response:
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


def put_compute(app: AppState, req: Request) -> Response:
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
    inner = dict(props.get("properties") or {})
    vm_size = inner.get("vmSize")
    if not vm_size or not isinstance(vm_size, str):
        raise bad("properties.properties.vmSize is required for AmlCompute.", "ValidationError")
    if not re.match(r"^(Standard|Basic)_[A-Za-z0-9_]+$", vm_size, re.I):
        raise bad(f"The VM size '{vm_size}' is not a valid Azure VM size.", "ValidationError")
    prio = inner.get("vmPriority", "Dedicated") or "Dedicated"
    if prio not in ("Dedicated", "LowPriority"):
        raise bad(f"vmPriority '{prio}' must be Dedicated or LowPriority.")
    scale = _validate_scale(inner.get("scaleSettings") or {})
    # the recorded create put a cluster in eastus from a westus workspace: the location is the cluster's own
    loc = str(data.get("location") or ws["location"]).replace(" ", "").lower()
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
    creds = inner.get("userAccountCredentials")
    if isinstance(creds, dict):  # the password is write-only: never stored, never shown
        inner["userAccountCredentials"] = {k: v for k, v in creds.items() if k != "adminUserPassword"}
    error = fault_error(req.rule)
    latency = app.latencies["compute"]
    rec = {
        "id": f"{ws_id(ws)}/computes/{name}", "name": name, "type": f"{PROVIDER}/workspaces/computes",
        "location": loc, "tags": data.get("tags") or {},
        "properties": {
            "computeType": "AmlCompute", "computeLocation": loc,
            "description": props.get("description"), "disableLocalAuth": props.get("disableLocalAuth", True),
            "properties": {
                **inner, "vmSize": vm_size, "vmPriority": prio,
                "scaleSettings": {"maxNodeCount": scale["maxNodeCount"],
                                  "minNodeCount": scale.get("minNodeCount", 0) or 0,
                                  "nodeIdleTimeBeforeScaleDown": scale.get("nodeIdleTimeBeforeScaleDown", "PT2M")},
                "osType": inner.get("osType", "Linux"),
            },
        },
        "_emu": {
            "created": existing["_emu"]["created"] if existing else now, "modified": now,
            "ready_at": now + latency, "pending": "Updating" if existing else "Creating",
            "final": "Failed" if error else "Succeeded", "error": error,
        },
    }
    ws["computes"][key] = rec
    op = lro(app, "compute", now + latency, "Failed" if error else "Succeeded", error, ws=ws,
                 api_version=req.query.get("api-version"))
    # a create and an update both answer 201 (facts 1, 5)
    return Response(201, compute_body(ws, rec, "update" if existing else "create"), op_headers(app, op))


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
