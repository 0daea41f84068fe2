"""Managed online deployments: create/update/delete as LROs, logs, listing.

What the service answers (recording ``online-deployment-create-2025``): a PUT is **201** with
``Azure-AsyncOperation`` (``.../mfeOperationsStatus/odidp:<workspaceId>:<guid>``), ``Location`` and
``x-ms-async-operation-timeout: PT30M``, ``provisioningState "Creating"`` (fact 15); the service fills what the
client did not send - ``requestSettings``, liveness/readiness probes, ``scaleSettings``, ``sku.tier``,
``egressPublicNetworkAccess``, ``modelMountPath``, ``dataCollector`` (fact 16) - and, once the deployment
succeeded, the ``AZUREML_*`` environment variables (fact 18); ``instanceType`` is echoed as sent. The list is
``{"value": [...]}`` and its shape follows the api-version (``privateNetworkConnection`` before 2023,
``dataCollector`` after, fact 19). An update answers 201 too (not recorded; as endpoint and compute updates do).
"""

from __future__ import annotations

import copy
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
)
from .endpoints import ENDPOINT, NAME
from .operations import lro, op_headers, op_url, resource_url, start_delete
from .refs import REGISTRY_ASSET_URI, WS_ASSET_ID, model_ref_ok
from .state import AppState

DEPLOYMENTS = ENDPOINT + "/deployments"
DEPLOYMENT = DEPLOYMENTS + "/{deployment}"
DEFAULT_REQUEST_SETTINGS = {"maxQueueWait": "PT0S", "requestTimeout": "PT5S", "maxConcurrentRequestsPerInstance": 1}
DEFAULT_PROBE = {"failureThreshold": 30, "successThreshold": 1, "timeout": "PT2S", "period": "PT10S",
                 "initialDelay": "PT10S"}
MAX_LOG_LINES = 500
CODE_ID = re.compile(r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.MachineLearningServices/"
                     r"workspaces/[^/]+/codes/(?P<name>[^/]+)/versions/(?P<ver>[^/]+)$", re.I)


# ------------------------------------------------------------------------------------------------- bodies
def _service_env(ws: dict, props: dict) -> dict:
    """The environment variables the service adds once a deployment runs (fact 18)."""
    env = {}
    model = str(props.get("model") or "")
    m = WS_ASSET_ID.match(model) or REGISTRY_ASSET_URI.match(model)
    if m:
        env["AZUREML_MODEL_DIR"] = f"/var/azureml-app/azureml-models/{m['name']}/{m['ver']}"
    code = props.get("codeConfiguration")
    if isinstance(code, dict) and code.get("scoringScript"):
        env["AZUREML_ENTRY_SCRIPT"] = code["scoringScript"]
        cm = CODE_ID.match(str(code.get("codeId") or ""))
        folder = "onlinescoring"
        if cm:
            cont = ws["codes"].get(cm["name"].lower()) or {}
            rec = (cont.get("versions") or {}).get(cm["ver"])
            if rec and rec["properties"].get("codeUri"):
                folder = str(rec["properties"]["codeUri"]).rstrip("/").rsplit("/", 1)[-1]
        env["AML_APP_ROOT"] = f"/var/azureml-app/{folder}"
    return env


def deployment_body(app: AppState, ws: dict, rec: dict, api_version: str = "", answer: bool = False) -> dict:
    emu, sent = rec["_emu"], rec["properties"]
    state = "Creating" if answer else prov_state(rec)
    service = {}
    if emu.get("op") in app.state["operations"]:
        service["AzureAsyncOperationUri"] = (op_url(app, emu["op"]).split("?")[0]
                                             + f"?api-version={api_version or '2023-04-01-preview'}")
    props: dict = {"description": sent.get("description"),
                   "properties": {**(sent.get("properties") or {}), **service}}
    for key in ("codeConfiguration", "environmentId"):
        if key in sent:
            props[key] = sent[key]
    env = dict(sent.get("environmentVariables") or {})
    if state == "Succeeded" or (state in ("Updating", "Deleting") and emu.get("ran")):
        env.update(_service_env(ws, sent))
    old = api_version[:4].isdigit() and api_version < "2023"
    props.update({
        "environmentVariables": env,
        "scaleSettings": sent.get("scaleSettings") or {"scaleType": "Default"},
        "requestSettings": {**DEFAULT_REQUEST_SETTINGS, **(sent.get("requestSettings") or {})},
        "modelMountPath": sent.get("modelMountPath"), "appInsightsEnabled": bool(sent.get("appInsightsEnabled")),
        "livenessProbe": {**DEFAULT_PROBE, **(sent.get("livenessProbe") or {})},
        "readinessProbe": {**DEFAULT_PROBE, **(sent.get("readinessProbe") or {})},
        "provisioningState": state, "instanceType": sent["instanceType"], "model": sent.get("model"),
    })
    for key, value in sent.items():
        if key not in props and key not in ("dataCollector", "egressPublicNetworkAccess", "endpointComputeType",
                                            "privateNetworkConnection"):
            props[key] = value
    if old:
        props["privateNetworkConnection"] = bool(sent.get("privateNetworkConnection", False))
    props["egressPublicNetworkAccess"] = sent.get("egressPublicNetworkAccess") or "Enabled"
    if not old:
        props["dataCollector"] = sent.get("dataCollector")
    props["endpointComputeType"] = "Managed"
    return {
        "id": rec["id"], "name": rec["name"], "type": rec["type"], "properties": props,
        "systemData": {"createdAt": iso(emu["created"]), "createdBy": "emulator@amlgen.local",
                       "lastModifiedAt": iso(emu["modified"])},
        "tags": rec.get("tags") or {}, "location": rec["location"], "kind": rec.get("kind", "Managed"),
        "sku": dict(rec["sku"]),
    }


def log_line(dep: dict, text: str) -> None:
    """Append a line to the deployment's log (what ``getLogs`` shows); at most ``MAX_LOG_LINES`` kept."""
    lines = dep["_emu"].setdefault("log", [])
    lines.append(f"{iso(time.time())} {text}")
    del lines[: max(0, len(lines) - MAX_LOG_LINES)]


# ----------------------------------------------------------------------------------------------- handlers
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


def list_deployments(app: AppState, req: Request) -> Response:
    _, deps = _endpoint_deployments(req)
    api = req.query.get("api-version", "")
    return Response(200, {"value": [deployment_body(app, req.ws, r, api) for r in deps.values()]})


def get_deployment(app: AppState, req: Request) -> Response:
    ep, deps = _endpoint_deployments(req)
    dep = deps.get(req.params["deployment"].lower())
    if dep is None:
        raise not_found(f"{PROVIDER}/workspaces/{req.ws['name']}/onlineEndpoints/{ep['name']}/deployments",
                        req.params["deployment"])
    return Response(200, deployment_body(app, req.ws, dep, req.query.get("api-version", "")), pending_headers(dep))


def delete_deployment(app: AppState, req: Request) -> Response:
    ep, deps = _endpoint_deployments(req)
    dep = deps.get(req.params["deployment"].lower())
    if dep is None:
        return Response(204)
    live = ep["properties"]["traffic"].get(dep["name"], 0)
    mirror = ep["properties"]["mirrorTraffic"].get(dep["name"], 0)
    if live > 0 or mirror > 0:
        what = "traffic" if live > 0 else "mirror traffic"
        raise bad(f"Deployment '{dep['name']}' still receives {what} on endpoint '{ep['name']}'; set its "
                  f"traffic to 0 before deleting it.", "BadArgument")
    dep["_emu"]["ran"] = dep["_emu"].get("ran") or prov_state(dep) == "Succeeded"
    return start_delete(app, dep, "deployment", req.rule, ws=req.ws, api_version=req.query.get("api-version"))


def get_logs(app: AppState, req: Request) -> Response:
    """``POST .../getLogs`` ``{"containerType", "tail"}`` -> ``{"content": ...}``: the deployment's state and the
    requests it scored (``[mirror]`` for mirrored copies) and the faults injected on it."""
    dep = _deployment(req)
    body = req.data if isinstance(req.data, dict) else {}
    lines = [f"[emulator] deployment {dep['name']} is {prov_state(dep)}", *dep["_emu"].get("log", [])]
    tail = body.get("tail")
    if isinstance(tail, int) and tail > 0:
        lines = lines[-tail:]
    return Response(200, {"content": "\n".join(lines) + "\n"})


def list_skus(app: AppState, req: Request) -> Response:
    _deployment(req)
    return Response(200, {"value": []})


def unknown_deployment_action(app: AppState, req: Request) -> Response:
    _deployment(req)
    raise ApiError(404, "NotFound", f"Unknown deployment action {req.parts[6]}.")


def deployments_not_allowed(app: AppState, req: Request) -> Response:
    _endpoint_deployments(req)
    raise ApiError(405, "MethodNotAllowed", f"{req.method} not supported on deployments.")


def _validate(props: dict, sku: dict) -> int:
    ptype = props.get("endpointComputeType")
    if ptype not in ("Managed", None):
        raise bad(f"endpointComputeType '{ptype}' is not supported by the emulator (Managed).")
    instance = props.get("instanceType")
    if not instance:
        raise bad("instanceType is required for a managed online deployment.", "ValidationError")
    if not re.match(r"^Standard_[A-Za-z0-9_]+$", instance, re.I):  # the recorded request sent STANDARD_F2S_V2
        raise bad(f"instanceType '{instance}' is not a valid VM size.", "ValidationError")
    try:
        capacity = int(sku.get("capacity", 1))
    except (TypeError, ValueError):
        raise bad("sku.capacity must be an integer.") from None
    if capacity < 1:
        raise bad(f"sku.capacity must be at least 1, got {capacity}.", "ValidationError")
    if not props.get("model"):
        raise bad("A model is required for a managed online deployment.", "ValidationError")
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
    return capacity


def put_deployment(app: AppState, req: Request) -> Response:
    """PUT (create or replace) or PATCH (merge into the existing one) of a deployment."""
    ep, deps = _endpoint_deployments(req)
    ws, name, data, patch = req.ws, req.params["deployment"], req.data, req.method == "PATCH"
    existing = deps.get(name.lower())
    if patch and existing is None:
        raise not_found("deployment", name)
    if not NAME.match(name):
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
    capacity = _validate(props, sku)
    model_ref_ok(app, ws, props["model"])
    error = fault_error(req.rule)
    now = time.time()
    latency = app.latencies["deployment"]
    props = copy.deepcopy(props)
    props["properties"] = {k: v for k, v in (props.get("properties") or {}).items() if k != "AzureAsyncOperationUri"}
    props["endpointComputeType"] = "Managed"
    op = lro(app, "deployment", now + latency, "Failed" if error else "Succeeded", error, ws=ws,
                 api_version=req.query.get("api-version"))
    rec = {
        "id": f"{ep['id']}/deployments/{name}", "name": name,
        "type": f"{PROVIDER}/workspaces/onlineEndpoints/deployments", "location": ws["location"],
        "tags": data.get("tags") or {}, "kind": data.get("kind", "Managed"),
        "sku": {"name": sku.get("name", "Default"), "tier": sku.get("tier", "Standard"), "capacity": capacity},
        "properties": props,
        "_emu": {
            "created": existing["_emu"]["created"] if existing else now, "modified": now,
            "ready_at": now + latency, "pending": "Updating" if existing else "Creating",
            "final": "Failed" if error else "Succeeded", "error": error, "op": op,
            "log": (existing or {}).get("_emu", {}).get("log", []),
            "ran": bool(existing and prov_state(existing) == "Succeeded"),
        },
    }
    deps[name.lower()] = rec
    api = req.query.get("api-version", "")
    return Response(202 if patch else 201, deployment_body(app, ws, rec, api, answer=True),
                    op_headers(app, op, resource_url(app, rec["id"], api)))


add_routes(
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
)
