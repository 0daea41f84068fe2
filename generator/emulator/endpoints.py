"""Managed online endpoints: create/update/delete as LROs, keys, traffic and mirror traffic.

What the service answers (recordings ``online-deployment-create-2025``, ``online-endpoint-amltoken-2022``): every
PUT, a create or an update (traffic), is **201** with ``Azure-AsyncOperation`` (``.../mfeOperationsStatus/
oeidp:<workspaceId>:<guid>``), ``Location`` (the endpoint's URL) and ``x-ms-async-operation-timeout: PT30M``; the
answer says ``Creating`` with null ``scoringUri``/``swaggerUri`` and the service's ``properties`` (facts 7, 11);
after success a GET has the scoring URI (fact 9) and ``AzureAsyncOperationUri`` names the latest operation at
the request's api-version (fact 10). DELETE is 202 with the body ``null`` and both LRO headers (fact 14).

Endpoint names are global per region (the scoring host is ``<name>.<region>.inference.ml.azure.com``): a name
another workspace - of any subscription - holds in the same region is refused, as the service refuses it.
"""

from __future__ import annotations

import copy
import json
import re
import secrets
import time
import uuid
from typing import Any

from .core import (
    PROVIDER,
    TENANT_ID,
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
    refuse,
    ws_id,
)
from .operations import lro, op_headers, op_url, resource_url, start_delete
from .state import AppState
from .workspace import WS

ENDPOINTS = WS + "/onlineEndpoints"
ENDPOINT = ENDPOINTS + "/{name}"
SERVICE_PROPERTIES = ("azureml.onlineendpointid", "AzureAsyncOperationUri")
# the service's answer to a name another workspace holds in the region (azureml-examples#1931,
# mlops-project-template#29; wrapped as the management front end wraps inference errors, azure-cli-extensions#7660)
NAME_IN_USE = ("There is already an endpoint with this name, Endpoint name needs to be unique within a region. "
               "Try some other name.")
NAME = re.compile(r"^[a-zA-Z][a-zA-Z0-9-]{1,30}[a-zA-Z0-9]$")  # endpoint and deployment names


# ------------------------------------------------------------------------------------------------- bodies
def scoring_base(app: AppState, ws: dict, name: str) -> str:
    """Where the emulator serves ``<name>.<region>.inference.ml.azure.com``: ``<base>/inference/<region>/<name>``."""
    return f"{app.base_url}inference/{ws['location']}/{name}"


def endpoint_body(app: AppState, ws: dict, rec: dict, api_version: str = "", answer: str = "") -> dict:
    """The endpoint as a GET shows it, or as the answer to a create PUT (``"create"``) or an update PUT
    (``"update"``: reduced ``systemData``, no ``identity``/``location``, fact 11)."""
    emu, props = rec["_emu"], rec["properties"]
    state = "Creating" if answer else prov_state(rec)
    service = {}
    if emu.get("op") in app.state["operations"]:
        service["AzureAsyncOperationUri"] = (op_url(app, emu["op"]).split("?")[0]
                                             + f"?api-version={api_version or '2023-04-01-preview'}")
    if answer != "update":
        service = {"azureml.onlineendpointid": ws_id(ws).lower() + f"/onlineendpoints/{rec['name'].lower()}",
                   **service}
    ready = not answer and time.time() >= emu.get("first_ready", emu["ready_at"]) and emu.get("served", True)
    base = scoring_base(app, ws, rec["name"])
    body: dict = {
        "id": rec["id"], "name": rec["name"], "type": rec["type"],
        "properties": {
            "description": props.get("description"), "properties": {**(props.get("properties") or {}), **service},
            "scoringUri": f"{base}/score" if ready else None, "swaggerUri": f"{base}/swagger.json" if ready else None,
            "authMode": props["authMode"], "provisioningState": state, "compute": props.get("compute"),
            "traffic": dict(props.get("traffic") or {}), "mirrorTraffic": dict(props.get("mirrorTraffic") or {}),
            "publicNetworkAccess": props.get("publicNetworkAccess", "Enabled"),
        },
    }
    if answer == "update":
        body["systemData"] = {"lastModifiedAt": iso(emu["modified"])}
        body.update({"tags": rec.get("tags") or {}, "kind": rec.get("kind", "Managed")})
        return body
    body["systemData"] = {"createdAt": iso(emu["created"]), "createdBy": "emulator@amlgen.local",
                          "lastModifiedAt": iso(emu["modified"])}
    body.update({"tags": rec.get("tags") or {}, "location": rec["location"], "kind": rec.get("kind", "Managed"),
                 "identity": rec.get("identity")})
    return body


def _endpoint(req: Request) -> dict:
    ep = req.ws["endpoints"].get(req.params["name"].lower())
    if ep is None:
        raise not_found("onlineEndpoint", req.params["name"])
    return ep


# ----------------------------------------------------------------------------------------------- handlers
def list_endpoints(app: AppState, req: Request) -> Response:
    api = req.query.get("api-version", "")
    return Response(200, {"value": [endpoint_body(app, req.ws, r, api) for r in req.ws["endpoints"].values()]})


def get_endpoint(app: AppState, req: Request) -> Response:
    ep = req.ws["endpoints"].get(req.params["name"].lower())
    if ep is None:
        raise not_found(f"{PROVIDER}/workspaces/{req.ws['name']}/onlineEndpoints", req.params["name"])
    return Response(200, endpoint_body(app, req.ws, ep, req.query.get("api-version", "")), pending_headers(ep))


def delete_endpoint(app: AppState, req: Request) -> Response:
    ep = req.ws["endpoints"].get(req.params["name"].lower())
    if ep is None:
        return Response(204)
    return start_delete(app, ep, "endpoint", req.rule, ws=req.ws, api_version=req.query.get("api-version"))


def list_keys(app: AppState, req: Request) -> Response:
    ep = _endpoint(req)
    if ep["properties"]["authMode"] != "Key":
        raise bad(f"Endpoint '{req.params['name']}' does not use key authentication.")
    return Response(200, dict(ep["_emu"]["keys"]))


def regenerate_keys(app: AppState, req: Request) -> Response:
    ep = _endpoint(req)
    which = (req.data or {}).get("keyType", "Primary")
    if which not in ("Primary", "Secondary"):
        raise bad("keyType must be Primary or Secondary.")
    ep["_emu"]["keys"][f"{which.lower()}Key"] = secrets.token_urlsafe(32)
    op = lro(app, "keys", time.time(), "Succeeded", None, ws=req.ws, api_version=req.query.get("api-version"))
    return Response(202, None, {"Location": op_url(app, op, "mfeOperationResults")})


def get_token(app: AppState, req: Request) -> Response:
    _endpoint(req)
    raise bad(f"Endpoint '{req.params['name']}' does not use AMLToken authentication.")


def unknown_endpoint_action(app: AppState, req: Request) -> Response:
    _endpoint(req)
    raise ApiError(404, "NotFound", f"Unknown endpoint action {req.parts[4]}.")


def _percent(value: Any, what: str, dname: str) -> int:
    try:
        pct = int(value)
    except (TypeError, ValueError):
        raise bad(f"{what}: the value for '{dname}' must be an integer percent.") from None
    if pct < 0 or pct > 100:
        raise bad(f"{what}: the value for '{dname}' must be between 0 and 100.")
    return pct


def check_traffic(ws: dict, ep_name: str, traffic: Any, mirror: Any) -> tuple[dict, dict]:
    """Live traffic sums to 0 or 100 and goes only to ``Succeeded`` deployments; mirror traffic goes to at most
    one ``Succeeded`` deployment, at most 50 percent, and a deployment gets live or mirror traffic, not both
    (the service's rules: "Traffic values need to sum to 100" / "to utmost 50", docs how-to-safely-rollout)."""
    deps = ws["deployments"].get(ep_name.lower(), {})
    out = []
    for what, value in (("traffic", traffic), ("mirrorTraffic", mirror)):
        if value in (None, {}):
            out.append({})
            continue
        if not isinstance(value, dict):
            raise bad(f"{what} must be a map of deployment name to percent.")
        clean = {}
        for dname, pct in value.items():
            pct_i = _percent(pct, what, dname)
            dep = deps.get(str(dname).lower())
            if dep is None or "deleted_at" in dep["_emu"]:
                raise bad(f"{what}: deployment '{dname}' does not exist on endpoint '{ep_name}'.", "BadArgument")
            state = prov_state(dep)
            if pct_i > 0 and state != "Succeeded":
                raise bad(f"{what}: deployment '{dname}' is in provisioning state {state}; traffic can only be "
                          f"routed to a deployment in state Succeeded.", "BadArgument")
            clean[dep["name"]] = pct_i
        out.append(clean)
    live, mirrored = out
    total = sum(live.values())
    if total not in (0, 100):
        raise bad(f"Traffic values must add up to 0 or 100, got {total}.", "BadArgument")
    shadows = {k: v for k, v in mirrored.items() if v > 0}
    if len(shadows) > 1:
        raise bad(f"Mirror traffic can go to only one deployment, got {', '.join(sorted(shadows))}.", "BadArgument")
    if sum(shadows.values()) > 50:
        raise bad(f"Mirror traffic cannot exceed 50 percent, got {sum(shadows.values())}.", "BadArgument")
    both = [k for k in shadows if live.get(k, 0) > 0]
    if both:
        raise bad(f"Deployment '{both[0]}' receives live traffic ({live[both[0]]} percent); a deployment can "
                  f"receive live traffic or mirror traffic, not both.", "BadArgument")
    return live, mirrored


def put_endpoint(app: AppState, req: Request) -> Response:
    """PUT (create or replace) or PATCH (merge into the existing one) of an endpoint."""
    ws, name, data, patch = req.ws, req.params["name"], req.data, req.method == "PATCH"
    existing = ws["endpoints"].get(name.lower())
    if patch and existing is None:
        raise not_found("onlineEndpoint", name)
    if not NAME.match(name):
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
    loc = str(data.get("location") or ws["location"])
    if loc.replace(" ", "").lower() != ws["location"]:
        raise bad(f"The endpoint location '{loc}' must match the workspace location '{ws['location']}'.")
    if existing is None:
        holder = app.endpoint_holder(name, ws["location"])
        if holder is not None:
            raise ApiError(400, "BadRequest", NAME_IN_USE, details=[{
                "code": "InferencingClientCallFailed",
                "message": json.dumps({"errors": {"": [NAME_IN_USE]}, "title": "One or more validation errors "
                                                                              "occurred."})}])
    if existing is not None and prov_state(existing) in ("Creating", "Updating"):
        raise ApiError(409, "Conflict", f"Endpoint '{name}' has an operation in progress; retry later.")
    traffic, mirror = check_traffic(ws, name, props.get("traffic"), props.get("mirrorTraffic"))
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
    user_props = {k: v for k, v in (props.get("properties") or {}).items() if k not in SERVICE_PROPERTIES}
    op = lro(app, "endpoint", now + latency, "Failed" if error else "Succeeded", error, ws=ws,
                 api_version=req.query.get("api-version"))
    first_ready = existing["_emu"].get("first_ready", existing["_emu"]["ready_at"]) if existing else now + latency
    rec = {
        "id": f"{ws_id(ws)}/onlineEndpoints/{name}", "name": name,
        "type": f"{PROVIDER}/workspaces/onlineEndpoints", "location": ws["location"],
        "tags": data.get("tags") if data.get("tags") is not None else (existing or {}).get("tags", {}),
        "identity": ident, "kind": data.get("kind", "Managed"),
        "properties": {
            "authMode": auth, "description": props.get("description"), "properties": user_props,
            "publicNetworkAccess": props.get("publicNetworkAccess", "Enabled"),
            "traffic": traffic, "mirrorTraffic": mirror, "compute": None,
        },
        "_emu": {
            "created": existing["_emu"]["created"] if existing else now, "modified": now,
            "ready_at": now + latency, "pending": "Updating" if existing else "Creating",
            "final": "Failed" if error else "Succeeded", "error": error, "keys": keys, "op": op,
            "first_ready": first_ready, "served": not (error and existing is None),
        },
    }
    if error and existing is not None:
        # a failed update leaves the previous configuration in place
        rec["properties"]["traffic"] = existing["properties"]["traffic"]
        rec["properties"]["mirrorTraffic"] = existing["properties"]["mirrorTraffic"]
    ws["endpoints"][name.lower()] = rec
    api = req.query.get("api-version", "")
    return Response(202 if patch else 201, endpoint_body(app, ws, rec, api, "update" if existing else "create"),
                    op_headers(app, op, resource_url(app, rec["id"], api)))


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
)
