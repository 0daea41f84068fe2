"""Managed online endpoints (keys, traffic), their deployments, and scoring.

Endpoints and deployments are created, updated and deleted as LROs; traffic goes only to ``Succeeded``
deployments and sums to 0 or 100. Scoring needs an endpoint key and answers a deterministic chat completion.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import secrets
import time
import uuid
from typing import TYPE_CHECKING, Any

from .core import (
    ISO_DURATION, PROVIDER, TENANT_ID, ApiError, Request, Response, add_routes, bad, fault_error, not_found,
    pending_headers, poll_ms, prov_state, public, refuse, system_data, ws_id,
)
from .refs import model_ref_ok
from .workspace import WS

if TYPE_CHECKING:
    from .app import App

ENDPOINTS = WS + "/onlineEndpoints"
ENDPOINT = ENDPOINTS + "/{name}"
DEPLOYMENTS = ENDPOINT + "/deployments"
DEPLOYMENT = DEPLOYMENTS + "/{deployment}"
SCORE = "inference/{sub}/{rg}/{ws}/{endpoint}/score"
_NAME = re.compile(r"^[a-zA-Z][a-zA-Z0-9-]{1,30}[a-zA-Z0-9]$")  # endpoint and deployment names


# ------------------------------------------------------------------------------------------------ endpoints
def endpoint_body(rec: dict) -> dict:
    body = public(rec)
    body["systemData"] = system_data(rec["_emu"]["created"], rec["_emu"]["modified"])
    body["properties"]["provisioningState"] = prov_state(rec)
    return body


def _endpoint(req: Request) -> dict:
    ep = req.ws["endpoints"].get(req.params["name"].lower())
    if ep is None:
        raise not_found("onlineEndpoint", req.params["name"])
    return ep


def list_endpoints(app: App, req: Request) -> Response:
    return Response(200, {"value": [endpoint_body(r) for r in req.ws["endpoints"].values()]})


def get_endpoint(app: App, req: Request) -> Response:
    ep = req.ws["endpoints"].get(req.params["name"].lower())
    if ep is None:
        raise not_found(f"{PROVIDER}/workspaces/{req.ws['name']}/onlineEndpoints", req.params["name"])
    return Response(200, endpoint_body(ep), pending_headers(ep))


def delete_endpoint(app: App, req: Request) -> Response:
    ep = req.ws["endpoints"].get(req.params["name"].lower())
    if ep is None:
        return Response(204)
    return app.start_delete(ep, "endpoint", req.rule)


def list_keys(app: App, req: Request) -> Response:
    ep = _endpoint(req)
    if ep["properties"]["authMode"] != "Key":
        raise bad(f"Endpoint '{req.params['name']}' does not use key authentication.")
    return Response(200, dict(ep["_emu"]["keys"]))


def regenerate_keys(app: App, req: Request) -> Response:
    ep = _endpoint(req)
    which = (req.data or {}).get("keyType", "Primary")
    if which not in ("Primary", "Secondary"):
        raise bad("keyType must be Primary or Secondary.")
    ep["_emu"]["keys"][f"{which.lower()}Key"] = secrets.token_urlsafe(32)
    op = app.lro("keys", time.time(), "Succeeded", None)
    return Response(202, None, {"Location": app.op_url(op, "mfeOperationResults")})


def get_token(app: App, req: Request) -> Response:
    _endpoint(req)
    raise bad(f"Endpoint '{req.params['name']}' does not use AMLToken authentication.")


def unknown_endpoint_action(app: App, req: Request) -> Response:
    _endpoint(req)
    raise ApiError(404, "NotFound", f"Unknown endpoint action {req.parts[4]}.")


def _validate_traffic(ws: dict, ep_name: str, traffic: Any, what: str) -> dict:
    if traffic in (None, {}):
        return {}
    if not isinstance(traffic, dict):
        raise bad(f"{what} must be a map of deployment name to percent.")
    deps = ws["deployments"].get(ep_name.lower(), {})
    total = 0
    clean = {}
    for dname, pct in traffic.items():
        try:
            pct_i = int(pct)
        except (TypeError, ValueError):
            raise bad(f"{what}: the value for '{dname}' must be an integer percent.") from None
        if pct_i < 0 or pct_i > 100:
            raise bad(f"{what}: the value for '{dname}' must be between 0 and 100.")
        dep = deps.get(dname.lower())
        if dep is None or "deleted_at" in dep["_emu"]:
            raise bad(f"{what}: deployment '{dname}' does not exist on endpoint '{ep_name}'.", "BadArgument")
        state = prov_state(dep)
        if pct_i > 0 and state != "Succeeded":
            raise bad(f"{what}: deployment '{dname}' is in provisioning state {state}; traffic can only be "
                      f"routed to a deployment in state Succeeded.", "BadArgument")
        total += pct_i
        clean[dep["name"]] = pct_i
    if what == "traffic" and total not in (0, 100):
        raise bad(f"Traffic values must add up to 0 or 100, got {total}.", "BadArgument")
    if what == "mirrorTraffic" and total > 50:
        raise bad("Mirror traffic cannot exceed 50 percent.", "BadArgument")
    return clean


def put_endpoint(app: App, req: Request) -> Response:
    """PUT (create or replace) or PATCH (merge into the existing one) of an endpoint."""
    ws, name, data, patch = req.ws, req.params["name"], req.data, req.method == "PATCH"
    existing = ws["endpoints"].get(name.lower())
    if patch and existing is None:
        raise not_found("onlineEndpoint", name)
    if not _NAME.match(name):
        raise bad(f"Endpoint name '{name}' is invalid: 3-32 characters, start with a letter, letters, digits "
                  f"and hyphens, not ending with a hyphen.", "ValidationError")
    if not isinstance(data, dict):
        raise bad("The endpoint body must be an object.", "InvalidRequestContent")
    if existing is not None and "deleted_at" in existing["_emu"]:
        raise ApiError(409, "Conflict", f"Endpoint '{name}' is being deleted.")
    props = data.get("properties") or {}
    if patch:
        merged = copy.deepcopy(existing["properties"])
        merged.update({k: v for k, v in props.items() if v is not None})
        props = merged
    if not isinstance(props, dict):
        raise bad("properties must be an object.")
    auth = props.get("authMode")
    if auth not in ("Key", "AMLToken", "AADToken"):
        raise bad(f"authMode '{auth}' must be one of Key, AMLToken, AADToken.", "ValidationError")
    loc = data.get("location") or app.location
    if loc.replace(" ", "").lower() != app.location.lower():
        raise bad(f"The endpoint location '{loc}' must match the workspace location '{app.location}'.")
    if existing is not None and prov_state(existing) in ("Creating", "Updating"):
        raise ApiError(409, "Conflict", f"Endpoint '{name}' has an operation in progress; retry later.")
    traffic = _validate_traffic(ws, name, props.get("traffic"), "traffic")
    mirror = _validate_traffic(ws, name, props.get("mirrorTraffic"), "mirrorTraffic")
    error = fault_error(req.rule)
    now = time.time()
    latency = app.latencies["endpoint"]
    if existing is not None and app.latencies.get("endpoint_update") is not None:
        latency = app.latencies["endpoint_update"]
    keys = existing["_emu"]["keys"] if existing else {"primaryKey": secrets.token_urlsafe(32),
                                                      "secondaryKey": secrets.token_urlsafe(32)}
    ident = data.get("identity") or {"type": "SystemAssigned"}
    if isinstance(ident, dict) and ident.get("type", "").lower().startswith("systemassigned"):
        ident = {**ident, "principalId": str(uuid.uuid5(uuid.NAMESPACE_URL, name)), "tenantId": TENANT_ID}
    inference = f"{app.base_url}inference/{ws['sub']}/{ws['rg']}/{ws['name']}/{name}"
    rec = {
        "id": f"{ws_id(ws)}/onlineEndpoints/{name}", "name": name,
        "type": f"{PROVIDER}/workspaces/onlineEndpoints", "location": app.location,
        "tags": data.get("tags") if data.get("tags") is not None else (existing or {}).get("tags", {}),
        "identity": ident, "kind": data.get("kind", "Managed"),
        "properties": {
            "authMode": auth, "description": props.get("description"),
            "properties": props.get("properties") or {}, "publicNetworkAccess": props.get(
                "publicNetworkAccess", "Enabled"),
            "traffic": traffic, "mirrorTraffic": mirror, "compute": None,
            "scoringUri": f"{inference}/score", "swaggerUri": f"{inference}/swagger.json",
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
    op = app.lro("endpoint", now + latency, "Failed" if error else "Succeeded", error)
    return Response(200 if existing else 201, endpoint_body(rec),
                    {"Azure-AsyncOperation": app.op_url(op), "retry-after-ms": poll_ms(now + latency)})


# ---------------------------------------------------------------------------------------------- deployments
def deployment_body(rec: dict) -> dict:
    body = public(rec)
    body["systemData"] = system_data(rec["_emu"]["created"], rec["_emu"]["modified"])
    state = prov_state(rec)
    body["properties"]["provisioningState"] = state
    if state == "Failed" and rec["_emu"].get("error"):
        body["properties"].setdefault("description", None)
    return body


def _endpoint_deployments(req: Request) -> tuple[dict, dict]:
    """The endpoint of a deployments route and its deployments; the endpoint must exist and not be deleting
    (404 first, whatever the route)."""
    ep = req.ws["endpoints"].get(req.params["name"].lower())
    if ep is None or "deleted_at" in ep["_emu"]:
        raise not_found(f"{PROVIDER}/workspaces/{req.ws['name']}/onlineEndpoints", req.params["name"])
    return ep, req.ws["deployments"].setdefault(ep["name"].lower(), {})


def _deployment(req: Request) -> dict:
    _, deps = _endpoint_deployments(req)
    dep = deps.get(req.params["deployment"].lower())
    if dep is None:
        raise not_found("deployment", req.params["deployment"])
    return dep


def list_deployments(app: App, req: Request) -> Response:
    _, deps = _endpoint_deployments(req)
    return Response(200, {"value": [deployment_body(r) for r in deps.values()]})


def get_deployment(app: App, req: Request) -> Response:
    ep, deps = _endpoint_deployments(req)
    dep = deps.get(req.params["deployment"].lower())
    if dep is None:
        raise not_found(f"{PROVIDER}/workspaces/{req.ws['name']}/onlineEndpoints/{ep['name']}/deployments",
                        req.params["deployment"])
    return Response(200, deployment_body(dep), pending_headers(dep))


def delete_deployment(app: App, req: Request) -> Response:
    ep, deps = _endpoint_deployments(req)
    dep = deps.get(req.params["deployment"].lower())
    if dep is None:
        return Response(204)
    if ep["properties"]["traffic"].get(dep["name"], 0) > 0 or ep["properties"]["mirrorTraffic"].get(
            dep["name"], 0) > 0:
        raise bad(f"Deployment '{dep['name']}' still receives traffic on endpoint '{ep['name']}'; set its "
                  f"traffic to 0 before deleting it.", "BadArgument")
    return app.start_delete(dep, "deployment", req.rule)


def get_logs(app: App, req: Request) -> Response:
    dep = _deployment(req)
    return Response(200, {"content": f"[emulator] deployment {dep['name']} is {prov_state(dep)}\n"})


def list_skus(app: App, req: Request) -> Response:
    _deployment(req)
    return Response(200, {"value": []})


def unknown_deployment_action(app: App, req: Request) -> Response:
    _deployment(req)
    raise ApiError(404, "NotFound", f"Unknown deployment action {req.parts[6]}.")


def deployments_not_allowed(app: App, req: Request) -> Response:
    _endpoint_deployments(req)
    raise ApiError(405, "MethodNotAllowed", f"{req.method} not supported on deployments.")


def put_deployment(app: App, req: Request) -> Response:
    """PUT (create or replace) or PATCH (merge into the existing one) of a deployment."""
    ep, deps = _endpoint_deployments(req)
    ws, name, data, patch = req.ws, req.params["deployment"], req.data, req.method == "PATCH"
    existing = deps.get(name.lower())
    if patch and existing is None:
        raise not_found("deployment", name)
    if not _NAME.match(name):
        raise bad(f"Deployment name '{name}' is invalid: 3-32 characters, start with a letter, letters, "
                  f"digits and hyphens.", "ValidationError")
    if prov_state(ep) != "Succeeded":
        raise bad(f"Endpoint '{ep['name']}' is in provisioning state {prov_state(ep)}; deployments "
                  f"can be created only on a Succeeded endpoint.", "BadArgument")
    if not isinstance(data, dict):
        raise bad("The deployment body must be an object.", "InvalidRequestContent")
    if existing is not None and prov_state(existing) in ("Creating", "Updating", "Deleting"):
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
        raise bad(f"endpointComputeType '{ptype}' is not supported by the emulator (Managed).")
    instance = props.get("instanceType")
    if not instance:
        raise bad("instanceType is required for a managed online deployment.", "ValidationError")
    if not re.match(r"^Standard_[A-Za-z0-9_]+$", instance):
        raise bad(f"instanceType '{instance}' is not a valid VM size.", "ValidationError")
    try:
        capacity = int(sku.get("capacity", 1))
    except (TypeError, ValueError):
        raise bad("sku.capacity must be an integer.") from None
    if capacity < 1:
        raise bad(f"sku.capacity must be at least 1, got {capacity}.", "ValidationError")
    model = props.get("model")
    if not model:
        raise bad("A model is required for a managed online deployment.", "ValidationError")
    model_ref_ok(app, ws, model)
    for probe in ("livenessProbe", "readinessProbe"):
        p = props.get(probe)
        if isinstance(p, dict):
            for k in ("initialDelay", "period", "timeout"):
                if p.get(k) is not None and not ISO_DURATION.match(str(p[k])):
                    raise bad(f"{probe}.{k} '{p[k]}' is not an ISO-8601 duration.")
    rs = props.get("requestSettings")
    if isinstance(rs, dict) and rs.get("requestTimeout") is not None and not ISO_DURATION.match(
            str(rs["requestTimeout"])):
        raise bad(f"requestSettings.requestTimeout '{rs['requestTimeout']}' is not an ISO-8601 duration.")
    error = fault_error(req.rule)
    now = time.time()
    latency = app.latencies["deployment"]
    props = copy.deepcopy(props)
    props["endpointComputeType"] = "Managed"
    props.setdefault("scaleSettings", {"scaleType": "Default"})
    if props["scaleSettings"] is None:
        props["scaleSettings"] = {"scaleType": "Default"}
    props.setdefault("appInsightsEnabled", False)
    rec = {
        "id": f"{ep['id']}/deployments/{name}", "name": name,
        "type": f"{PROVIDER}/workspaces/onlineEndpoints/deployments", "location": app.location,
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
    op = app.lro("deployment", now + latency, "Failed" if error else "Succeeded", error)
    return Response(200 if existing else 201, deployment_body(rec),
                    {"Azure-AsyncOperation": app.op_url(op), "retry-after-ms": poll_ms(now + latency)})


# --------------------------------------------------------------------------------------------------- scoring
def score(app: App, req: Request) -> Response:
    """``POST <scoringUri>``: endpoint key auth, routing by header or traffic, a deterministic completion."""
    p, hdrs = req.params, req.headers
    with app.lock:
        app.sweep()
        try:
            ws = app.workspace(p["sub"], p["rg"], p["ws"], create=False)
        except ApiError:
            return Response(404, {"message": "Endpoint not found."})
        ep = ws["endpoints"].get(p["endpoint"].lower())
        if ep is None or prov_state(ep) != "Succeeded":
            return Response(404, {"message": f"Endpoint {p['endpoint']} not found or not ready."})
        auth = hdrs.get("authorization", "")
        token = auth[7:] if auth.lower().startswith("bearer ") else ""
        keys = ep["_emu"]["keys"].values()
        if not token or not any(secrets.compare_digest(token, k) for k in keys):
            return Response(401, {"message": "Unauthorized: invalid or missing key."})
        deps = ws["deployments"].get(ep["name"].lower(), {})
        wanted = hdrs.get("azureml-model-deployment")
        if wanted:
            dep = deps.get(wanted.lower())
            if dep is None or prov_state(dep) != "Succeeded":
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
        payload = json.loads(req.body.decode() or "null")
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


_NOT_ALLOWED = refuse(405, "MethodNotAllowed", "{method} not supported on onlineEndpoints.")

add_routes(
    (ENDPOINTS, "GET", list_endpoints),
    (ENDPOINTS, "*", _NOT_ALLOWED),
    (ENDPOINT, "GET", get_endpoint),
    (ENDPOINT, "PUT", put_endpoint),
    (ENDPOINT, "PATCH", put_endpoint),
    (ENDPOINT, "DELETE", delete_endpoint),
    (ENDPOINT, "*", _NOT_ALLOWED),
    (ENDPOINT + "/listKeys", "POST", list_keys),
    (ENDPOINT + "/regenerateKeys", "POST", regenerate_keys),
    (ENDPOINT + "/token", "POST", get_token),
    (ENDPOINT + "/*", "*", unknown_endpoint_action),
    (DEPLOYMENTS, "GET", list_deployments),
    (DEPLOYMENTS, "*", deployments_not_allowed),
    (DEPLOYMENT, "GET", get_deployment),
    (DEPLOYMENT, "PUT", put_deployment),
    (DEPLOYMENT, "PATCH", put_deployment),
    (DEPLOYMENT, "DELETE", delete_deployment),
    (DEPLOYMENT, "*", deployments_not_allowed),
    (DEPLOYMENT + "/getLogs", "POST", get_logs),
    (DEPLOYMENT + "/skus", "GET", list_skus),
    (DEPLOYMENT + "/*", "*", unknown_deployment_action),
    (SCORE, "POST", score),
    (SCORE, "*", refuse(405, "MethodNotAllowed", "Scoring accepts POST only.")),
)
