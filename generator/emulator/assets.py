"""Workspace assets: ``data``, ``models``, ``components``, ``environments`` and ``codes`` containers and versions.

Versions are immutable (409 when a PUT changes the URI/type/spec); a model from a job output needs that job
``Completed`` with that output. What the service answers (recordings ``model-*``, ``online-deployment-create``,
``pipeline-job-registry-*``): a new version is **201** + ``Location``, a re-put **200** (fact 24); the latest
model version of a name that does not exist is a 404 ``UserError``/``ModelNotFound`` (fact 23); a workspace model
version is a positive integer below 2^31; model versions show ``stage`` ``Development`` (``Logged`` when
anonymous), ``flavors {}``, ``jobName`` and ``resourceGroups`` in ``modelUri`` (fact 24); an environment shows
``environmentType "UserCreated"``, its conda file as a JSON string and ``autoRebuild "Disabled"`` (fact 22); an
anonymous component gets a service-assigned GUID version and its spec's booleans and numbers as strings (fact
34); code versions are found by content hash (fact 21).
"""

from __future__ import annotations

import copy
import json
import re
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import yaml

from . import registry_seed
from .core import PROVIDER, ApiError, Request, Response, add_routes, bad, not_found, public, refuse, system_data, ws_id
from .joblife import job_status
from .refs import check_datastore_uri
from .state import AppState
from .workspace import WS

KINDS = ("data", "models", "components", "environments", "codes")
MODEL_VERSION_MAX = 2**31 - 1
_ASSET_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9._-]{0,254}$")
_ASSET_VERSION = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9._-]{0,29}$")
_ANONYMOUS_VERSION = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9._-]{0,63}$")
JOB_OUTPUT_URI = re.compile(r"^azureml://jobs/(?P<job>[^/]+)/outputs/(?P<out>[^/]+)(?:/(?P<path>.*))?$", re.I)


def _kind(req: Request) -> str:
    return req.parts[2].lower()


# ----------------------------------------------------------------------------------------------- containers
def container_body(ws: dict, kind: str, cont: dict) -> dict:
    versions = sorted(cont["versions"].values(), key=lambda r: r["_emu"]["created"])
    latest = versions[-1]["_emu"]["version"] if versions else None
    next_version = None
    if versions:
        nums = [int(v["_emu"]["version"]) for v in versions if v["_emu"]["version"].isdigit()]
        next_version = str(max(nums) + 1) if nums else None
    body = {
        "id": f"{ws_id(ws)}/{kind}/{cont['name']}", "name": cont["name"],
        "type": f"{PROVIDER}/workspaces/{kind}", "systemData": system_data(cont["created"]),
        "properties": {"description": cont.get("description"), "tags": cont.get("tags") or {},
                       "properties": {}, "isArchived": False, "latestVersion": latest,
                       "nextVersion": next_version or "1", "provisioningState": "Succeeded"},
    }
    if kind == "data":
        body["properties"]["dataType"] = versions[-1]["properties"].get("dataType") if versions else "uri_file"
    if kind == "components":
        body["properties"]["componentType"] = "CommandComponent"
    return body


def _new_container(coll: dict, name: str) -> dict:
    cont = {"name": name, "created": time.time(), "versions": {}, "description": None, "tags": {}}
    coll[name.lower()] = cont
    return cont


def list_containers(app: AppState, req: Request) -> Response:
    kind = _kind(req)
    return Response(200, {"value": [container_body(req.ws, kind, c) for c in req.ws[kind].values()]})


def get_container(app: AppState, req: Request) -> Response:
    kind, name = _kind(req), req.params["name"]
    cont = req.ws[kind].get(name.lower())
    if cont is None:
        raise not_found(f"{kind} container", name)
    return Response(200, container_body(req.ws, kind, cont))


def put_container(app: AppState, req: Request) -> Response:
    kind, name = _kind(req), req.params["name"]
    if not _ASSET_NAME.match(name):
        raise bad(f"Invalid {kind} name '{name}'.", "ValidationError")
    cont = req.ws[kind].get(name.lower())
    new = cont is None
    cont = cont or _new_container(req.ws[kind], name)
    props = (req.data or {}).get("properties") or {}
    cont["description"] = props.get("description", cont.get("description"))
    cont["tags"] = props.get("tags", cont.get("tags") or {})
    return Response(201 if new else 200, container_body(req.ws, kind, cont))


def delete_container(app: AppState, req: Request) -> Response:
    coll, key = req.ws[_kind(req)], req.params["name"].lower()
    if key not in coll:
        return Response(204)
    del coll[key]
    return Response(200)


# ------------------------------------------------------------------------------------------------- versions
def asset_body(ws: dict, kind: str, name: str, rec: dict) -> dict:
    body = public(rec)
    body["id"] = f"{ws_id(ws)}/{kind}/{name}/versions/{rec['_emu']['version']}"
    body["name"] = rec["_emu"]["version"]
    body["type"] = f"{PROVIDER}/workspaces/{kind}/versions"
    props = body["properties"]
    props["provisioningState"] = "Succeeded"
    if kind == "models":
        anonymous = bool(props.get("isAnonymous"))
        props = {"description": props.get("description"), "tags": props.get("tags") or {},
                 "properties": props.get("properties") or {}, "isArchived": bool(props.get("isArchived")),
                 "isAnonymous": anonymous, "autoDeleteSetting": props.get("autoDeleteSetting"),
                 "flavors": props.get("flavors") or {}, "modelType": props.get("modelType"),
                 "modelUri": re.sub(r"/resourcegroups/", "/resourceGroups/", str(props.get("modelUri")), count=1),
                 "jobName": props.get("jobName"), "provisioningState": "Succeeded",
                 "stage": props.get("stage") or ("Logged" if anonymous else "Development"),
                 "intellectualProperty": props.get("intellectualProperty"),
                 **{k: v for k, v in props.items() if k not in _MODEL_KEYS}}
    elif kind == "environments":
        props = {"description": props.get("description"), "tags": props.get("tags") or {},
                 "properties": {"azureml.labels": "", **(props.get("properties") or {})},
                 "isArchived": bool(props.get("isArchived")), "isAnonymous": bool(props.get("isAnonymous")),
                 "autoDeleteSetting": props.get("autoDeleteSetting"), "environmentType": "UserCreated",
                 **{k: v for k, v in props.items() if k not in _ENV_KEYS},
                 "osType": props.get("osType") or "Linux", "autoRebuild": props.get("autoRebuild") or "Disabled",
                 "provisioningState": "Succeeded",
                 "stage": props.get("stage") or ("Logged" if props.get("isAnonymous") else "Development"),
                 "intellectualProperty": props.get("intellectualProperty")}
    elif kind == "codes":
        props = {"description": props.get("description"), "tags": props.get("tags") or {},
                 "properties": props.get("properties") or {}, "isArchived": bool(props.get("isArchived")),
                 "isAnonymous": bool(props.get("isAnonymous")), "codeUri": props.get("codeUri"),
                 "provisioningState": "Succeeded"}
    elif kind == "components":  # no provisioningState in the recorded answers (RC #2-#3, RM #4)
        props = {"description": props.get("description"), "tags": props.get("tags") or {},
                 "properties": props.get("properties") or {}, "isArchived": bool(props.get("isArchived")),
                 "isAnonymous": bool(props.get("isAnonymous")),
                 "componentSpec": component_spec(props.get("componentSpec") or {}),
                 **{k: v for k, v in props.items() if k not in _COMPONENT_KEYS}}
    body["properties"] = props
    body["systemData"] = system_data(rec["_emu"]["created"], rec["_emu"]["modified"])
    return body


_MODEL_KEYS = {"description", "tags", "properties", "isArchived", "isAnonymous", "autoDeleteSetting", "flavors",
               "modelType", "modelUri", "jobName", "provisioningState", "stage", "intellectualProperty"}
_COMPONENT_KEYS = {"description", "tags", "properties", "isArchived", "isAnonymous", "componentSpec",
                   "provisioningState"}
_ENV_KEYS = {"description", "tags", "properties", "isArchived", "isAnonymous", "autoDeleteSetting",
             "environmentType", "osType", "autoRebuild", "provisioningState", "stage", "intellectualProperty"}


def _order(records: list, query: dict, render: Callable) -> tuple[list, bool]:
    """Sorted, filtered, paged records and whether more remain (``$top`` and ``$skipToken``)."""
    order = query.get("$orderBy", query.get("$orderby", "")).lower()
    recs = list(records)
    recs.sort(key=lambda r: r["_emu"]["created"], reverse="desc" in order or not order)
    if query.get("listViewType", "ActiveOnly") == "ActiveOnly":
        recs = [r for r in recs if not (r.get("properties") or {}).get("isArchived")]
    if query.get("hash"):  # code versions by content hash (fact 21)
        recs = [r for r in recs if ((r.get("properties") or {}).get("properties") or {}).get("hash_sha256")
                == query["hash"]]
    try:
        skip = int(query.get("$skipToken") or 0)
        top = int(query["$top"]) if query.get("$top") else None
    except ValueError:
        raise bad("$top and $skipToken must be integers.") from None
    recs = recs[skip:]
    more = top is not None and len(recs) > top
    if top is not None:
        recs = recs[:top]
    return [render(r) for r in recs], more


def list_versions(app: AppState, req: Request) -> Response:
    kind, name = _kind(req), req.params["name"]
    cont = req.ws[kind].get(name.lower())
    if cont is None and kind == "models":  # fact 23 (M26 #1, M24 #2)
        raise ApiError(404, "UserError", "The specified resource was not found.", details=[{
            "code": "ModelNotFound", "message": f"Model container with name: {name} not found."}])
    versions = list(cont["versions"].values()) if cont else []
    owner = {id(r): name for r in versions}
    if kind == "codes" and req.query.get("hash"):  # a hash lookup searches every code container (fact 21, D #8)
        versions, owner = [], {}
        for other in req.ws["codes"].values():
            for r in other["versions"].values():
                versions.append(r)
                owner[id(r)] = other["name"]
    value, more = _order(versions, req.query, lambda r: asset_body(req.ws, kind, owner[id(r)], r))
    body: dict = {"value": value}
    if more:  # the next page, as the service links it (fact 25)
        query = {k: v for k, v in req.query.items() if k != "$skipToken"}
        query["$skipToken"] = str(int(req.query.get("$skipToken") or 0) + len(value))
        body["nextLink"] = (f"{app.base_url}{ws_id(req.ws).lstrip('/')}/{kind}/{name}/versions?"
                            + urlencode(query, safe="$"))
    return Response(200, body)


def get_version(app: AppState, req: Request) -> Response:
    kind, name, version = _kind(req), req.params["name"], req.params["version"]
    cont = req.ws[kind].get(name.lower())
    if cont is None or version not in cont["versions"]:
        raise not_found(f"{kind} version", f"{name}:{version}")
    return Response(200, asset_body(req.ws, kind, cont["name"], cont["versions"][version]))


def delete_version(app: AppState, req: Request) -> Response:
    cont = req.ws[_kind(req)].get(req.params["name"].lower())
    if cont is None or req.params["version"] not in cont["versions"]:
        return Response(204)
    del cont["versions"][req.params["version"]]
    return Response(200)


def put_version(app: AppState, req: Request) -> Response:
    ws, kind, name, version, data = req.ws, _kind(req), req.params["name"], req.params["version"], req.data
    if not _ASSET_NAME.match(name):
        raise bad(f"Invalid {kind} name '{name}': use letters, digits, '-', '_' and '.'.", "ValidationError")
    if kind == "models" and (not re.fullmatch(r"[1-9][0-9]{0,9}", version) or int(version) > MODEL_VERSION_MAX):
        raise bad(f"Model version '{version}' is invalid: the version of a workspace model must be a positive "
                  f"integer less than 2^31 ({MODEL_VERSION_MAX + 1}).", "UserError")
    if not isinstance(data, dict) or not isinstance(data.get("properties"), dict):
        raise bad(f"The {kind} version body must have 'properties'.", "InvalidRequestContent")
    props = copy.deepcopy(data["properties"])
    # anonymous assets are versioned by a 32-hex content hash (D #10); named ones take up to 30 characters
    anonymous = props.get("isAnonymous") or name == "azureml_anonymous"
    if not (_ANONYMOUS_VERSION if anonymous else _ASSET_VERSION).match(version):
        raise bad(f"Invalid {kind} version '{version}'.", "ValidationError")
    anonymous_component = kind == "components" and bool(props.get("isAnonymous"))
    if anonymous_component:  # the service assigns its own version id (fact 34)
        spec = json.dumps(props.get("componentSpec"), sort_keys=True)  # one id per distinct content
        version = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{ws_id(ws)}/components/{name}/{spec}"))
    if req.rule is not None and req.rule.action == "fail":
        raise bad(req.rule.message, "InjectedFailure")
    latency = app.latencies.get("model" if kind == "models" else "data", 0.0)
    if latency:
        app.lock.release()
        try:
            time.sleep(latency)
        finally:
            app.lock.acquire()
    if kind == "models":
        _validate_model(ws, props)
        immutable = ("modelUri", "modelType")
    elif kind == "data":
        _validate_data(ws, props)
        immutable = ("dataUri", "dataType")
    elif kind == "components":
        if not isinstance(props.get("componentSpec"), dict):
            raise bad("componentSpec is required.")
        immutable = ("componentSpec",)
    elif kind == "codes":
        if not isinstance(props.get("codeUri"), str) or not props["codeUri"]:
            raise bad("codeUri is required.", "ValidationError")
        immutable = ("codeUri",)
    else:
        immutable = ()
    coll = ws[kind]
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
        # a re-put is 200 (fact 24); an anonymous component's answers 201 again (fact 34, RC #2)
        return Response(201 if anonymous_component else 200, asset_body(ws, kind, cont["name"], existing),
                        _location(app, req) if anonymous_component else {})
    if cont is None:
        cont = _new_container(coll, name)
    props.setdefault("tags", {})
    props.setdefault("properties", {})
    props.setdefault("isArchived", False)
    props.setdefault("isAnonymous", False)
    if kind == "environments" and isinstance(props.get("condaFile"), str):
        props["condaFile"] = _conda_as_json(props["condaFile"])
    rec = {"properties": props, "_emu": {"created": now, "modified": now, "version": version}}
    cont["versions"][version] = rec
    return Response(201, asset_body(ws, kind, cont["name"], rec), _location(app, req))


def _location(app: AppState, req: Request) -> dict:
    """``Location`` of a created version: the URL it was put to (facts 22, 24, 34)."""
    return {"Location": f"{app.base_url}{req.path.lstrip('/')}?api-version={req.query.get('api-version', '')}"}


def _conda_as_json(text: str) -> str:
    """The service answers an environment's conda file as a JSON string (fact 22)."""
    try:
        return json.dumps(yaml.safe_load(text), indent=2)
    except yaml.YAMLError:
        raise bad("condaFile is not valid YAML.") from None


def _as_strings(value: Any) -> Any:
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, dict):
        return {k: _as_strings(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_strings(v) for v in value]
    return value


def component_spec(spec: dict) -> dict:
    """A component spec as the service answers it: booleans and numbers as strings, inputs ``optional``, a
    command's ``resources``, curated environment shorthands resolved to the registry, the client's ``_source``
    dropped (fact 34)."""
    out = _as_strings({k: v for k, v in copy.deepcopy(spec).items() if not k.startswith("_")})
    for inp in (out.get("inputs") or {}).values():
        if isinstance(inp, dict):
            inp.setdefault("optional", "False")
    if out.get("type") == "command":
        out.setdefault("resources", {"instance_count": "1"})
    env = out.get("environment")
    m = re.match(r"^azureml:(?P<name>AzureML-[^:@]+)(?:@latest|:(?P<ver>[^:]+))$", str(env or ""))
    if m:  # curated environments live in the azureml registry; "@latest" shows as version 1 here
        out["environment"] = f"azureml://registries/azureml/environments/{m['name']}/versions/{m['ver'] or '1'}"
    return out


def _validate_model(ws: dict, props: dict) -> None:
    mtype = props.get("modelType") or "custom_model"
    if mtype not in ("custom_model", "mlflow_model", "triton_model"):
        raise bad(f"modelType '{mtype}' is not one of custom_model, mlflow_model, triton_model.")
    props["modelType"] = mtype
    uri = props.get("modelUri")
    if not uri or not isinstance(uri, str):
        raise bad("modelUri is required.", "ValidationError")
    m = JOB_OUTPUT_URI.match(uri)
    if m:
        job = ws["jobs"].get(m["job"].lower())
        if job is None:
            raise bad(f"Cannot register the model: job '{m['job']}' was not found in workspace "
                      f"'{ws['name']}'.", "UserError")
        status = job_status(job)
        if status != "Completed":
            raise bad(f"Cannot register the model from job '{m['job']}': the job is {status}; its output "
                      f"'{m['out']}' is available only once the job is Completed.", "UserError")
        outputs = job["properties"].get("outputs") or {}
        if m["out"] not in outputs and m["out"] != "artifacts":  # every job has the default artifacts
            raise bad(f"Job '{m['job']}' has no output named '{m['out']}' (outputs: "
                      f"{', '.join(sorted(outputs)) or 'none'}).", "UserError")
    else:
        check_datastore_uri(ws, uri)
    flavors = props.get("flavors")
    if flavors is not None and not isinstance(flavors, dict):
        raise bad("flavors must be an object.")
    props["flavors"] = flavors or {}  # the SDK cannot read a model whose flavors is null
    if mtype == "mlflow_model" and not flavors:
        # the service reads MLmodel from the artifact; the emulator's artifacts are always transformers
        props["flavors"] = copy.deepcopy(registry_seed.MLFLOW_FLAVORS)


def _validate_data(ws: dict, props: dict) -> None:
    dtype = props.get("dataType")
    if dtype not in ("uri_file", "uri_folder", "mltable"):
        raise bad(f"dataType '{dtype}' must be uri_file, uri_folder or mltable.", "ValidationError")
    uri = props.get("dataUri")
    if not uri or not isinstance(uri, str):
        raise bad("dataUri is required.", "ValidationError")
    check_datastore_uri(ws, uri)


def _not_allowed(where: str) -> Callable:
    return refuse(405, "MethodNotAllowed", lambda req: f"{req.method} not supported{where.format(kind=_kind(req))}.")


def _unknown_sub_resource(app: AppState, req: Request) -> Response:
    raise ApiError(404, "NotFound", f"Unknown {_kind(req)} sub-resource {req.parts[4]}.")


def _rows(base: str) -> list[tuple]:
    """The route rows of one asset kind (``base`` = ``workspaces/{ws}/<kind>``)."""
    return [
        (base, "GET", list_containers),
        (base, "*", _not_allowed(" on {kind}")),
        (base + "/{name}", "GET", get_container),
        (base + "/{name}", "PUT", put_container),
        (base + "/{name}", "DELETE", delete_container),
        (base + "/{name}", "*", _not_allowed("")),
        (base + "/{name}/versions", "GET", list_versions),
        (base + "/{name}/versions", "*", _not_allowed(" on {kind} versions list")),
        (base + "/{name}/versions/{version}", "GET", get_version),
        (base + "/{name}/versions/{version}", "PUT", put_version),
        (base + "/{name}/versions/{version}", "DELETE", delete_version),
        (base + "/{name}/versions/{version}", "*", _not_allowed(" on {kind} versions")),
        (base + "/{name}/*", "*", _unknown_sub_resource),
    ]


add_routes(*[row for kind in KINDS for row in _rows(f"{WS}/{kind}")])
