"""Workspace assets: ``data``, ``models``, ``components`` and ``environments`` containers and their versions.

Versions are immutable (409 when a PUT changes the URI/type/spec); a model from a job output needs that job
``Completed`` with that output.
"""

from __future__ import annotations

import copy
import re
import time
from typing import TYPE_CHECKING, Callable

from . import registry_seed
from .core import PROVIDER, ApiError, Request, Response, add_routes, bad, not_found, public, refuse, system_data, ws_id
from .jobs import job_status
from .refs import check_datastore_uri
from .workspace import WS

if TYPE_CHECKING:
    from .app import App

KINDS = ("data", "models", "components", "environments")
_ASSET_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9._-]{0,254}$")
_ASSET_VERSION = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9._-]{0,29}$")
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


def list_containers(app: App, req: Request) -> Response:
    kind = _kind(req)
    return Response(200, {"value": [container_body(req.ws, kind, c) for c in req.ws[kind].values()]})


def get_container(app: App, req: Request) -> Response:
    kind, name = _kind(req), req.params["name"]
    cont = req.ws[kind].get(name.lower())
    if cont is None:
        raise not_found(f"{kind} container", name)
    return Response(200, container_body(req.ws, kind, cont))


def put_container(app: App, req: Request) -> Response:
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


def delete_container(app: App, req: Request) -> Response:
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
    body["systemData"] = system_data(rec["_emu"]["created"], rec["_emu"]["modified"])
    body["properties"]["provisioningState"] = "Succeeded"
    return body


def _order(records: list, query: dict, render: Callable) -> list:
    order = query.get("$orderBy", query.get("$orderby", "")).lower()
    recs = list(records)
    recs.sort(key=lambda r: r["_emu"]["created"], reverse="desc" in order or not order)
    if query.get("listViewType", "ActiveOnly") == "ActiveOnly":
        recs = [r for r in recs if not (r.get("properties") or {}).get("isArchived")]
    top = query.get("$top")
    if top:
        try:
            recs = recs[: int(top)]
        except ValueError:
            raise bad("$top must be an integer.") from None
    return [render(r) for r in recs]


def list_versions(app: App, req: Request) -> Response:
    kind, name = _kind(req), req.params["name"]
    cont = req.ws[kind].get(name.lower())
    versions = list(cont["versions"].values()) if cont else []
    return Response(200, {"value": _order(versions, req.query, lambda r: asset_body(req.ws, kind, name, r))})


def get_version(app: App, req: Request) -> Response:
    kind, name, version = _kind(req), req.params["name"], req.params["version"]
    cont = req.ws[kind].get(name.lower())
    if cont is None or version not in cont["versions"]:
        raise not_found(f"{kind} version", f"{name}:{version}")
    return Response(200, asset_body(req.ws, kind, cont["name"], cont["versions"][version]))


def delete_version(app: App, req: Request) -> Response:
    cont = req.ws[_kind(req)].get(req.params["name"].lower())
    if cont is None or req.params["version"] not in cont["versions"]:
        return Response(204)
    del cont["versions"][req.params["version"]]
    return Response(200)


def put_version(app: App, req: Request) -> Response:
    ws, kind, name, version, data = req.ws, _kind(req), req.params["name"], req.params["version"], req.data
    if not _ASSET_NAME.match(name):
        raise bad(f"Invalid {kind} name '{name}': use letters, digits, '-', '_' and '.'.", "ValidationError")
    if not _ASSET_VERSION.match(version):
        raise bad(f"Invalid {kind} version '{version}'.", "ValidationError")
    if not isinstance(data, dict) or not isinstance(data.get("properties"), dict):
        raise bad(f"The {kind} version body must have 'properties'.", "InvalidRequestContent")
    props = copy.deepcopy(data["properties"])
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
        return Response(200, asset_body(ws, kind, cont["name"], existing))
    if cont is None:
        cont = _new_container(coll, name)
    props.setdefault("tags", {})
    props.setdefault("properties", {})
    props.setdefault("isArchived", False)
    props.setdefault("isAnonymous", False)
    rec = {"properties": props, "_emu": {"created": now, "modified": now, "version": version}}
    cont["versions"][version] = rec
    return Response(201, asset_body(ws, kind, cont["name"], rec))


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


def _unknown_sub_resource(app: App, req: Request) -> Response:
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
