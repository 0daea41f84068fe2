"""The read-only ``azureml`` system registry: its discovery document, model and component versions.

The content is the seed in ``registry_seed`` (Phi-3-mini-4k-instruct, chat_completion_pipeline).
"""

from __future__ import annotations

import copy
import uuid
from typing import TYPE_CHECKING

from .core import PROVIDER, TENANT_ID, ApiError, Request, Response, add_routes, not_found, system_data
from .registry_seed import REGISTRY_NAME, REGISTRY_RESOURCE_GROUP, REGISTRY_SUBSCRIPTION

if TYPE_CHECKING:
    from .app import App

REGISTRY = "registries/{reg}"
KINDS = ("models", "components")


def check_access(reg: str, method: str) -> None:
    """Every registry ARM route: 404 for another registry, 403 for anything but GET."""
    if reg.lower() != REGISTRY_NAME:
        raise ApiError(404, "RegistryNotFound", f"Registry '{reg}' was not found.")
    if method != "GET":
        raise ApiError(403, "AuthorizationFailed",
                       "The azureml system registry is read-only: you do not have write access.")


def discovery(app: App, req: Request) -> Response:
    if req.params["reg"].lower() != REGISTRY_NAME:
        raise ApiError(404, "RegistryNotFound", f"Registry '{req.params['reg']}' was not found.")
    return Response(200, {
        "registryName": REGISTRY_NAME, "primaryRegion": app.location, "regions": [app.location],
        "primaryRegionResourceProviderUri": app.base_url, "subscriptionId": REGISTRY_SUBSCRIPTION,
        "resourceGroup": REGISTRY_RESOURCE_GROUP, "registryId": str(uuid.uuid5(uuid.NAMESPACE_URL, "azureml")),
        "workspaceName": None, "tenantId": TENANT_ID,
    })


def _no_discovery_route(app: App, req: Request) -> Response:
    raise ApiError(404, "NotFound", f"No route for {req.method} {req.path}.")


def get_registry(app: App, req: Request) -> Response:
    return Response(200, {"name": REGISTRY_NAME, "location": app.location, "properties": {}})


def _version_key(version: str) -> list:
    return [int(x) if x.isdigit() else x for x in version.split(".")]


def _reg_id(kind: str, name: str, version: str = None) -> str:
    base = f"azureml://registries/{REGISTRY_NAME}/{kind}/{name}"
    return f"{base}/versions/{version}" if version else base


def _source(app: App, req: Request) -> dict:
    return {"models": app.registry_models, "components": app.registry_components}[req.parts[2].lower()]


def _versions(app: App, req: Request) -> dict:
    """``{version: spec}`` of the named model/component (404 when the registry has no such name)."""
    versions = _source(app, req).get(req.params["name"])
    if versions is None:
        raise not_found(f"registry {req.parts[2].lower()[:-1]}", req.params["name"])
    return versions


def _container(app: App, kind: str, name: str, versions: dict) -> dict:
    latest = sorted(versions, key=_version_key)[-1]
    return {"id": _reg_id(kind, name), "name": name, "type": f"{PROVIDER}/registries/{kind}",
            "systemData": system_data(app.registry_created),
            "properties": {"description": None, "tags": {}, "properties": {}, "isArchived": False,
                           "latestVersion": latest}}


def _version(app: App, kind: str, name: str, version: str, spec: dict) -> dict:
    if kind == "models":
        props = {
            "description": spec["description"], "tags": dict(spec["tags"]),
            "properties": dict(spec["properties"]), "isArchived": False, "isAnonymous": False,
            "modelType": spec["modelType"], "flavors": copy.deepcopy(spec["flavors"]),
            "modelUri": f"azureml://registries/{REGISTRY_NAME}/models/{name}/versions/{version}",
            "jobName": None, "stage": None, "provisioningState": "Succeeded",
        }
    else:
        props = {
            "description": spec.get("description"), "tags": {}, "properties": {}, "isArchived": False,
            "isAnonymous": False, "componentSpec": copy.deepcopy(spec), "provisioningState": "Succeeded",
        }
    return {"id": _reg_id(kind, name, version), "name": version,
            "type": f"{PROVIDER}/registries/{kind}/versions", "systemData": system_data(app.registry_created),
            "properties": props}


def list_containers(app: App, req: Request) -> Response:
    kind = req.parts[2].lower()
    return Response(200, {"value": [_container(app, kind, n, v) for n, v in _source(app, req).items()]})


def get_container(app: App, req: Request) -> Response:
    return Response(200, _container(app, req.parts[2].lower(), req.params["name"], _versions(app, req)))


def list_versions(app: App, req: Request) -> Response:
    versions = _versions(app, req)
    items = sorted(versions, key=_version_key, reverse=True)
    top = req.query.get("$top")
    if top and top.isdigit():
        items = items[: int(top)]
    kind, name = req.parts[2].lower(), req.params["name"]
    return Response(200, {"value": [_version(app, kind, name, v, versions[v]) for v in items]})


def get_version(app: App, req: Request) -> Response:
    versions = _versions(app, req)
    kind, name, version = req.parts[2].lower(), req.params["name"], req.params["version"]
    if version not in versions:
        raise not_found(f"registry {kind[:-1]} version", f"{name}:{version}")
    return Response(200, _version(app, kind, name, version, versions[version]))


def _unknown_route(app: App, req: Request) -> Response:
    _versions(app, req)
    raise ApiError(404, "NotFound", f"Unknown registry route {req.parts[4]}.")


def _unknown_kind(app: App, req: Request) -> Response:
    raise ApiError(404, "NotFound", f"The emulated registry does not serve '{req.parts[2]}'.")


def _rows(base: str) -> list[tuple]:
    return [
        (base, "GET", list_containers),
        (base + "/{name}", "GET", get_container),
        (base + "/{name}/versions", "GET", list_versions),
        (base + "/{name}/versions/{version}", "GET", get_version),
        (base + "/{name}/*", "*", _unknown_route),
    ]


add_routes(  # only GET reaches these: check_access refuses the other methods first
    ("registrymanagement/v1.0/registries/{reg}/discovery", "GET", discovery),
    ("registrymanagement/v1.0/registries/*", "*", _no_discovery_route),
    (REGISTRY, "GET", get_registry),
    (REGISTRY + "/*", "*", _unknown_kind),
    *[row for kind in KINDS for row in _rows(f"{REGISTRY}/{kind}")],
)
