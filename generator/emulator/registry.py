"""Azure ML registries: the read-only ``azureml`` system registry and user registries that take model versions.

- The ``azureml`` registry serves the models and components of ``registry_seed`` (derived from the published
  specs) in every region; writes answer 403.
- User registries (``Emulator(registries={name: [regions]})``, ``Emulator.add_registry``, ``POST
  /_emulator/registries``) start empty and take model versions through a PUT of the version or an ``import``
  (what ``ml_client.models.share`` sends); both answer 202 + ``Location`` on an assetstore operation that is
  polled to 200 (fact 37). Registry versions are immutable: another content under an existing version is 409.
- ``MLClient(registry_name=...)`` first calls the discovery route (fact 36); the registry's regions decide
  where its assets may be consumed (``refs.registry_region_ok``, fact 33).

Archived state: a version's ``isArchived`` is its spec's; a model container is archived when its latest
version is (the model-level state, e.g. Phi-3-mini-4k-instruct whose version 14 predates the lifecycle
metadata); container lists honour ``listViewType`` (ActiveOnly by default), version lists list every version.
"""

from __future__ import annotations

import copy
import datetime as _dt
import re
import time
import uuid
from typing import Optional

from . import registry_seed
from .core import (
    TENANT_ID,
    ApiError,
    Request,
    Response,
    add_routes,
    bad,
    fault_error,
    not_found,
    poll_ms,
    refuse,
    system_data,
)
from .errors import EmulatorError
from .registry_seed import REGISTRY_NAME, REGISTRY_RESOURCE_GROUP, REGISTRY_SUBSCRIPTION
from .state import AppState

REGISTRY = "registries/{reg}"
KINDS = ("models", "components")
REGISTRY_NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9\-_]{2,32}$")
REGION_RE = re.compile(r"^[a-z][a-z0-9]{2,30}$")
# regions the system registry lists in its discovery document (it serves every region; the rule never refuses it)
SYSTEM_REGIONS = ("eastus", "eastus2", "westus", "westus2", "westus3", "centralus", "northcentralus",
                  "southcentralus", "westcentralus", "canadacentral", "brazilsouth", "northeurope", "westeurope",
                  "uksouth", "francecentral", "germanywestcentral", "swedencentral", "switzerlandnorth",
                  "norwayeast", "uaenorth", "southafricanorth", "centralindia", "japaneast", "koreacentral",
                  "southeastasia", "eastasia", "australiaeast")
WS_ASSET_ID = re.compile(
    r"^azureml://locations/(?P<loc>[^/]+)/workspaces/(?P<guid>[^/]+)/models/(?P<name>[^/]+)/versions/(?P<ver>[^/]+)$",
    re.I,
)


# ------------------------------------------------------------------------------------------------ registries
def setup(app: AppState, declared: Optional[dict]) -> None:
    """The system registry's content and the declared user registries (called once by ``App``)."""
    app.registry_models = {name: {v: _system_version(rec) for v, rec in versions.items()}
                           for name, versions in registry_seed.models().items()}
    app.registry_components = registry_seed.components()
    app.user_registries = {}
    for name, regions in (declared or {}).items():
        add_registry(app, name, regions)


def add_registry(app: AppState, name: str, regions: list[str]) -> dict:
    """Declare (or re-declare with new regions) a user registry; raises ``EmulatorError`` on bad input."""
    if not isinstance(name, str) or not REGISTRY_NAME_RE.match(name) or name.lower() == REGISTRY_NAME:
        raise EmulatorError(f"registry name {name!r} is invalid (3-33 letters, digits, '-', '_'; not "
                            f"'{REGISTRY_NAME}')")
    if isinstance(regions, str) or not regions or not all(isinstance(r, str) and REGION_RE.match(r.lower())
                                                          for r in regions):
        raise EmulatorError(f"registry {name!r} needs a list of regions such as ['eastus'], got {regions!r}")
    rec = {"name": name, "regions": list(dict.fromkeys(r.lower() for r in regions))}
    with app.lock:
        app.user_registries[name.lower()] = rec
    return dict(rec)


def registry_regions(app: AppState, reg: str) -> Optional[list[str]]:
    """The regions of a registry (None = every region, the system registry); 404 when it does not exist."""
    if reg.lower() == REGISTRY_NAME:
        return None
    rec = app.user_registries.get(reg.lower())
    if rec is None:
        raise ApiError(404, "RegistryNotFound", f"Registry '{reg}' was not found.")
    return rec["regions"]


def list_registries(app: AppState) -> list[dict]:
    return [{"name": REGISTRY_NAME, "regions": None, "system": True},
            *({"name": r["name"], "regions": list(r["regions"]), "system": False}
              for r in app.user_registries.values())]


def _store(app: AppState, reg: str) -> dict:
    """The state of a user registry: ``{"models": {name: {version: record}}, "pending": {op: ...}}``."""
    regs = app.state.setdefault("registries", {})
    return regs.setdefault(reg.lower(), {"models": {}, "pending": {}})


def check_access(app: AppState, reg: str, method: str) -> None:
    """Every registry data-plane route: 404 for an unknown registry, 403 for a write to ``azureml``."""
    registry_regions(app, reg)
    if reg.lower() == REGISTRY_NAME and method != "GET":
        raise ApiError(403, "AuthorizationFailed",
                       "The azureml system registry is read-only: you do not have write access.")


# -------------------------------------------------------------------------------------------------- discovery
def discovery(app: AppState, req: Request) -> Response:
    reg = req.params["reg"]
    regions = registry_regions(app, reg)
    system = regions is None
    name = REGISTRY_NAME if system else app.user_registries[reg.lower()]["name"]
    regions = list(dict.fromkeys([app.location.lower(), *SYSTEM_REGIONS])) if system else regions
    return Response(200, {
        "registryId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"registry/{name.lower()}")), "registryName": name,
        "tenantId": TENANT_ID, "primaryRegion": regions[0], "regions": regions,
        "subscriptionId": REGISTRY_SUBSCRIPTION if system else app.subscription_id,
        "resourceGroup": REGISTRY_RESOURCE_GROUP if system else app.resource_group,
        "workspaceName": None, "primaryRegionResourceProviderUri": app.base_url,
        "registryFqdns": {r: {"uri": app.base_url.rstrip("/")} for r in regions},
        "intellectualPropertyPublisher": None,
    })


def _no_discovery_route(app: AppState, req: Request) -> Response:
    raise ApiError(404, "NotFound", f"No route for {req.method} {req.path}.")


def get_registry(app: AppState, req: Request) -> Response:
    regions = registry_regions(app, req.params["reg"])
    return Response(200, {"name": req.params["reg"], "location": (regions or [app.location])[0],
                          "properties": {"regionDetails": [{"location": r} for r in (regions or [app.location])]}})


# ------------------------------------------------------------------------------------------------- records
def _epoch(iso: str) -> float:
    return _dt.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def _system_version(rec: dict) -> dict:
    """A derived seed record as a stored registry model version."""
    out = {
        "description": rec["description"], "tags": dict(rec["tags"]), "properties": dict(rec["properties"]),
        "isArchived": rec["isArchived"], "modelType": "mlflow_model",
        "flavors": copy.deepcopy(registry_seed.MLFLOW_FLAVORS),
        "modelUri": f"https://amlgenazuremlregistry.blob.core.windows.net/azureml/models/{rec['name']}/"
                    f"versions/{rec['version']}",
        "jobName": None, "originAssetId": None, "created": _epoch(rec["created"]),
    }
    if rec.get("system_metadata") is not None:
        out["system_metadata"] = copy.deepcopy(rec["system_metadata"])
    return out


def model_versions(app: AppState, reg: str, name: str) -> dict:
    """``{version: record}`` of a registry model (empty when the registry has no such model)."""
    if reg.lower() == REGISTRY_NAME:
        return app.registry_models.get(name, {})
    settle(app, reg)
    return _store(app, reg)["models"].get(name, {})


def component_versions(app: AppState, reg: str, name: str) -> dict:
    if reg.lower() == REGISTRY_NAME:
        return app.registry_components.get(name, {})
    return {}


def _versions_of(app: AppState, req: Request) -> dict:
    kind, reg, name = req.parts[2].lower(), req.params["reg"], req.params["name"]
    return (model_versions if kind == "models" else component_versions)(app, reg, name)


def _names(app: AppState, reg: str, kind: str) -> list[str]:
    if reg.lower() == REGISTRY_NAME:
        return list(app.registry_models if kind == "models" else app.registry_components)
    settle(app, reg)
    return list(_store(app, reg)["models"]) if kind == "models" else []


def _version_key(version: str) -> list:
    return [int(x) if x.isdigit() else x for x in version.split(".")]


def _latest(versions: dict, kind: str) -> str:
    if kind == "models":  # latest = most recently created
        return max(versions, key=lambda v: (versions[v]["created"], _version_key(v)))
    return sorted(versions, key=_version_key)[-1]


def _asset_id(reg: str, kind: str, name: str, version: Optional[str] = None) -> str:
    base = f"azureml://registries/{reg.lower()}/{kind}/{name}"
    return f"{base}/versions/{version}" if version else base


def _created(app: AppState, kind: str, rec: dict) -> float:
    return rec.get("created", app.registry_created) if kind == "models" else app.registry_created


def _container(app: AppState, reg: str, kind: str, name: str, versions: dict) -> dict:
    latest = _latest(versions, kind)
    archived = bool(versions[latest].get("isArchived")) if kind == "models" else False
    first = min(_created(app, kind, r) for r in versions.values())
    return {"id": _asset_id(reg, kind, name), "name": name, "type": kind, "systemData": system_data(first),
            "properties": {"description": None, "tags": {}, "properties": {}, "isArchived": archived,
                           "latestVersion": latest, "nextVersion": None}}


def _version(app: AppState, reg: str, kind: str, name: str, version: str, rec: dict) -> dict:
    """A registry version as the data plane answers it (fact 38: ``name`` is the asset name, ``type`` the kind)."""
    if kind == "models":
        props = {k: copy.deepcopy(rec.get(k)) for k in ("description", "tags", "properties", "isArchived", "flavors",
                                                          "modelType", "modelUri", "originAssetId", "jobName")}
        props.update({"isAnonymous": False, "intellectualProperty": None})
        if rec.get("system_metadata") is not None:
            props["system_metadata"] = copy.deepcopy(rec["system_metadata"])
    else:
        props = {"description": rec.get("description"), "tags": {}, "properties": {}, "isArchived": False,
                 "isAnonymous": False, "componentSpec": copy.deepcopy(rec)}
    return {"id": _asset_id(reg, kind, name, version), "name": name, "type": kind,
            "systemData": system_data(_created(app, kind, rec)), "properties": props}


# ---------------------------------------------------------------------------------------------------- reads
def list_containers(app: AppState, req: Request) -> Response:
    kind, reg = req.parts[2].lower(), req.params["reg"]
    # azure-ai-ml 1.35.2 sends str() of its ListViewType enum on this path ("ListViewType.ARCHIVED_ONLY"): read
    # as the value it names (whether Azure does is not recorded; passing the string "ArchivedOnly" is safe)
    view = req.query.get("listViewType", "ActiveOnly").lower().replace("listviewtype.", "").replace("_", "")
    if view not in ("activeonly", "archivedonly", "all"):
        raise bad(f"listViewType '{req.query['listViewType']}' is not one of ActiveOnly, ArchivedOnly, All.")
    out = []
    for name in _names(app, reg, kind):
        versions = (model_versions if kind == "models" else component_versions)(app, reg, name)
        if not versions:
            continue
        body = _container(app, reg, kind, name, versions)
        archived = body["properties"]["isArchived"]
        if view == "all" or (view == "archivedonly") == archived:
            out.append(body)
    return Response(200, {"value": out})


def get_container(app: AppState, req: Request) -> Response:
    versions = _versions_of(app, req)
    if not versions:
        raise not_found(f"registry {req.parts[2].lower()[:-1]}", req.params["name"])
    return Response(200, _container(app, req.params["reg"], req.parts[2].lower(), req.params["name"], versions))


def list_versions(app: AppState, req: Request) -> Response:
    """Newest first (or ``$orderBy=createdtime asc``); a name without versions answers an empty list (fact 23)."""
    kind, reg, name = req.parts[2].lower(), req.params["reg"], req.params["name"]
    versions = _versions_of(app, req)
    asc = "asc" in req.query.get("$orderBy", req.query.get("$orderby", "")).lower()
    items = sorted(versions, key=lambda v: (_created(app, kind, versions[v]), _version_key(v)), reverse=not asc)
    top = req.query.get("$top")
    if top:
        if not top.isdigit():
            raise bad("$top must be an integer.")
        items = items[: int(top)]
    return Response(200, {"value": [_version(app, reg, kind, name, v, versions[v]) for v in items]})


def get_version(app: AppState, req: Request) -> Response:
    kind, reg, name, version = req.parts[2].lower(), req.params["reg"], req.params["name"], req.params["version"]
    versions = _versions_of(app, req)
    if version not in versions:
        raise not_found(f"registry {kind[:-1]} version", f"{name}:{version}")
    return Response(200, _version(app, reg, kind, name, version, versions[version]))


def _unknown_route(app: AppState, req: Request) -> Response:
    raise ApiError(404, "NotFound", f"Unknown registry route {'/'.join(req.parts[4:])}.")


def _unknown_kind(app: AppState, req: Request) -> Response:
    raise ApiError(404, "NotFound", f"The emulated registry does not serve '{req.parts[2]}'.")


# ---------------------------------------------------------------------------------------------------- writes
_SAME = ("modelType", "modelUri", "flavors", "originAssetId")


def _start(app: AppState, req: Request, reg: str, name: str, version: str, rec: dict, *, imported: bool) -> Response:
    """Answer 202 + Location on an assetstore operation that commits ``rec`` (or fails) when it is done."""
    store = _store(app, reg)
    existing = store["models"].get(name, {}).get(version)
    pending = [p for p in store["pending"].values() if p["name"] == name and p["version"] == version
               and p["error"] is None]
    other = existing or (pending[0]["record"] if pending else None)
    if other is not None and any(other.get(k) != rec.get(k) for k in _SAME):
        raise ApiError(409, "Conflict",
                       f"Model {name}:{version} already exists in registry {reg} with a different content; "
                       f"registry assets are immutable, use a new version.")
    now = time.time()
    ready = now + max(0.02, float(app.latencies.get("model") or 0.0))
    op = str(uuid.uuid4())
    store["pending"][op] = {"name": name, "version": version, "record": rec, "ready_at": ready,
                            "error": fault_error(req.rule), "imported": imported,
                            "asset_id": _asset_id(reg, "models", name, version)}
    app.state["operations"][op] = {"kind": "assetstore", "registry": reg.lower(), "created": now,
                                   "ready_at": ready, "final": "Succeeded", "error": None}
    location = f"{app.base_url}assetstore/v1.0/operations/{op}"
    return Response(202, None, {"Location": location, "x-ms-async-operation-timeout": "PT1H",
                                "retry-after-ms": poll_ms(ready)})


def settle(app: AppState, reg: str) -> None:
    """Commit the model versions whose operation has ended well (failed ones leave nothing behind)."""
    store = _store(app, reg)
    now = time.time()
    for op, p in list(store["pending"].items()):
        if p["ready_at"] > now:
            continue
        del store["pending"][op]
        if p["error"] is None:
            store["models"].setdefault(p["name"], {}).setdefault(p["version"], p["record"])
        if op in app.state["operations"]:
            app.state["operations"][op]["error"] = p["error"]
            app.state["operations"][op]["imported"] = p["imported"]
            app.state["operations"][op]["asset_id"] = p["asset_id"]


def put_model_version(app: AppState, req: Request) -> Response:
    reg, name, version = req.params["reg"], req.params["name"], req.params["version"]
    props = (req.data or {}).get("properties") if isinstance(req.data, dict) else None
    if not isinstance(props, dict):
        raise bad("The model version body must have 'properties'.", "InvalidRequestContent")
    mtype = props.get("modelType") or "custom_model"
    if mtype not in ("custom_model", "mlflow_model", "triton_model"):
        raise bad(f"modelType '{mtype}' is not one of custom_model, mlflow_model, triton_model.")
    if not isinstance(props.get("modelUri"), str) or not props["modelUri"]:
        raise bad("modelUri is required.", "ValidationError")
    settle(app, reg)
    rec = {"description": props.get("description"), "tags": props.get("tags") or {},
           "properties": props.get("properties") or {}, "isArchived": bool(props.get("isArchived", False)),
           "modelType": mtype, "flavors": props.get("flavors") or {}, "modelUri": props["modelUri"],
           "jobName": props.get("jobName"), "originAssetId": None, "created": time.time()}
    if isinstance(props.get("system_metadata"), dict):
        rec["system_metadata"] = props["system_metadata"]
    return _start(app, req, reg, name, version, rec, imported=False)


def import_asset(app: AppState, req: Request) -> Response:
    """``POST registries/<r>/import`` (``models.share``): copy a workspace model version into the registry."""
    reg = req.params["reg"]
    props = (req.data or {}).get("properties") if isinstance(req.data, dict) else None
    if not isinstance(props, dict) or props.get("referenceType") != "Id":
        raise bad("The import body must be {'properties': {'referenceType': 'Id', 'sourceAssetId': ...}}.",
                  "InvalidRequestContent")
    source = str(props.get("sourceAssetId") or "")
    m = WS_ASSET_ID.match(source)
    if not m:
        raise bad(f"sourceAssetId '{source}' is not a workspace model asset id "
                  f"(azureml://locations/<region>/workspaces/<id>/models/<name>/versions/<version>).")
    with app.lock:
        ws = next((w for w in app.state["workspaces"].values() if w["workspace_id"].lower() == m["guid"].lower()),
                  None)
        ws_location = (ws.get("location") or app.location).lower() if ws else None
        if ws is None or ws_location != m["loc"].lower():
            raise bad(f"Source asset '{source}' was not found: no workspace {m['guid']} in {m['loc']}.", "UserError")
        cont = ws["models"].get(m["name"].lower())
        src = cont["versions"].get(m["ver"]) if cont else None
        if src is None:
            raise bad(f"Source asset '{source}' was not found: model {m['name']}:{m['ver']} does not exist in "
                      f"workspace '{ws['name']}'.", "UserError")
        name, version = props.get("destinationName") or m["name"], props.get("destinationVersion") or m["ver"]
        sp = src["properties"]
        settle(app, reg)
        rec = {"description": sp.get("description"), "tags": copy.deepcopy(sp.get("tags") or {}),
               "properties": copy.deepcopy(sp.get("properties") or {}), "isArchived": False,
               "modelType": sp.get("modelType"), "flavors": copy.deepcopy(sp.get("flavors") or {}),
               "modelUri": f"https://amlgenregistry.blob.core.windows.net/{reg.lower()}-"
                           f"{uuid.uuid5(uuid.NAMESPACE_URL, source)}/{m['name']}/{m['ver']}",
               "jobName": sp.get("jobName"), "originAssetId": source, "created": time.time()}
        return _start(app, req, reg, name, version, rec, imported=True)


def temp_data_ref(app: AppState, req: Request) -> Response:
    """``PUT tempdatarefs``: where a local model would be uploaded (uploads into registries are not emulated)."""
    reg, name, version = req.params["reg"], req.params["name"], req.params["version"]
    container = f"{reg.lower()}-{uuid.uuid5(uuid.NAMESPACE_URL, f'{reg}/{name}/{version}')}"
    uri = f"{app.base_url}amlgenregistrystore/{container}"
    return Response(200, {"blobReferenceForConsumption": {
        "blobUri": uri, "storageAccountArmId": None,
        "credential": {"credentialType": "SAS", "sasUri": uri + "?sv=2021-08-06&sr=c&sp=rcwl&sig=emulated"}},
        "imageReferenceForConsumption": None, "temporaryDataReferenceId": str(uuid.uuid4()),
        "temporaryDataReferenceType": None})


def assetstore_operation(app: AppState, req: Request) -> Response:
    """An assetstore operation (fact 37): 202 until done, then 200 (``{"assetId"}`` for a create), or an error."""
    with app.lock:
        op = app.state["operations"].get(req.params["op"])
        if op is None or op.get("kind") != "assetstore":
            raise not_found("operation", req.params["op"])
        if time.time() < op["ready_at"]:
            return Response(202, None, {"retry-after-ms": poll_ms(op["ready_at"])})
        settle(app, op["registry"])
        if op.get("error"):
            raise ApiError(400, op["error"]["code"], op["error"]["message"])
        # an import answers no body (the SDK then reads the version); a create answers the asset id (fact 37)
        return Response(200, None if op.get("imported") else {"assetId": op.get("asset_id")})


# ----------------------------------------------------------------------------------------------- control API
def control_list(app: AppState, req: Request) -> Response:
    return Response(200, {"registries": list_registries(app)})


def control_add(app: AppState, req: Request) -> Response:
    data = req.data if isinstance(req.data, dict) else {}
    try:
        rec = add_registry(app, data.get("name"), data.get("regions"))
    except EmulatorError as exc:
        raise bad(exc.message, "InvalidRegistry") from None
    return Response(201, rec)


def _rows(base: str, writable: bool) -> list[tuple]:
    rows = [
        (base, "GET", list_containers),
        (base + "/{name}", "GET", get_container),
        (base + "/{name}/versions", "GET", list_versions),
        (base + "/{name}/versions/{version}", "GET", get_version),
        (base + "/{name}/versions/{version}", "*", refuse(405, "MethodNotAllowed", "{method} not supported.")),
        (base + "/{name}/*", "*", _unknown_route),
    ]
    if writable:
        rows.append((base + "/{name}/versions/{version}", "PUT", put_model_version))
    return rows


add_routes(
    ("registrymanagement/v1.0/registries/{reg}/discovery", "GET", discovery),
    ("registrymanagement/v1.0/registries/*", "*", _no_discovery_route),
    (REGISTRY, "GET", get_registry),
    (REGISTRY + "/*", "*", _unknown_kind),
    (REGISTRY + "/import", "POST", import_asset),
    (REGISTRY + "/tempdatarefs/{name}/versions/{version}", "PUT", temp_data_ref),
    *_rows(f"{REGISTRY}/models", True),
    *_rows(f"{REGISTRY}/components", False),
    ("assetstore/v1.0/operations/{op}", "*", assetstore_operation),
    ("_emulator/registries", "GET", control_list),
    ("_emulator/registries", "POST", control_add),
)
