"""The workspace itself (read-only), the discovery document and the two built-in blob datastores."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from .core import (
    BLOB_ACCOUNT, PROVIDER, TENANT_ID, ApiError, Request, Response, add_routes, not_found, refuse, system_data,
    ws_id,
)

if TYPE_CHECKING:
    from .app import App

WS = "workspaces/{ws}"
DATASTORES = WS + "/datastores"
DATASTORE = DATASTORES + "/{name}"
_BUILT_IN = {"workspaceblobstore": True, "workspaceartifactstore": False}  # name -> isDefault


def get_workspace(app: App, req: Request) -> Response:
    ws = req.ws
    return Response(200, {
        "id": ws_id(ws), "name": ws["name"], "type": f"{PROVIDER}/workspaces", "location": app.location,
        "kind": "Default", "tags": {},
        "identity": {"type": "SystemAssigned", "principalId": str(uuid.uuid5(uuid.NAMESPACE_URL, ws["name"])),
                     "tenantId": TENANT_ID},
        "sku": {"name": "Basic", "tier": "Basic"},
        "systemData": system_data(ws["created"]),
        "properties": {
            "friendlyName": ws["name"], "description": "Azure ML workspace emulated by amlgen",
            "workspaceId": ws["workspace_id"], "provisioningState": "Succeeded",
            "discoveryUrl": f"{app.base_url}discovery", "mlFlowTrackingUri": f"azureml://{app.location}"
            f".api.azureml.ms/mlflow/v1.0{ws_id(ws)}",
            "storageAccount": f"/subscriptions/{ws['sub']}/resourceGroups/{ws['rg']}/providers/"
            f"Microsoft.Storage/storageAccounts/{BLOB_ACCOUNT}",
            "keyVault": f"/subscriptions/{ws['sub']}/resourceGroups/{ws['rg']}/providers/Microsoft.KeyVault/"
            f"vaults/kv-{ws['name'][:16]}",
            "applicationInsights": None, "containerRegistry": None, "hbiWorkspace": False,
            "publicNetworkAccess": "Enabled", "v1LegacyMode": False, "systemDatastoresAuthMode": "accessKey",
        },
    })


def discovery(app: App, req: Request) -> Response:
    """``GET /discovery`` (the workspace's ``discoveryUrl``): every service is this emulator."""
    base = app.base_url.rstrip("/")
    return Response(200, {"api": base, "catalog": base, "experimentation": base, "history": base,
                          "modelmanagement": base, "pipelines": base, "studio": base})


# ----------------------------------------------------------------------------------------------- datastores
def blob_container(ws: dict) -> str:
    """The blob container of ``workspaceblobstore``."""
    return f"azureml-blobstore-{ws['workspace_id']}"


def datastore(ws: dict, name: str) -> dict:
    """The body of a built-in datastore (404 for any other name)."""
    if name.lower() not in _BUILT_IN:
        raise not_found("datastore", name)
    container = blob_container(ws) if name.lower() == "workspaceblobstore" else f"azureml-{ws['workspace_id']}"
    return {
        "id": f"{ws_id(ws)}/datastores/{name.lower()}", "name": name.lower(),
        "type": f"{PROVIDER}/workspaces/datastores", "systemData": system_data(ws["created"]),
        "properties": {
            "datastoreType": "AzureBlob", "accountName": BLOB_ACCOUNT, "containerName": container,
            "endpoint": "core.windows.net", "protocol": "https", "isDefault": _BUILT_IN[name.lower()],
            "credentials": {"credentialsType": "AccountKey"}, "serviceDataAccessAuthIdentity": "None",
            "description": None, "tags": {}, "properties": {},
        },
    }


def list_datastores(app: App, req: Request) -> Response:
    items = [datastore(req.ws, n) for n in _BUILT_IN]
    if req.query.get("isDefault", "").lower() == "true":
        items = [i for i in items if i["properties"]["isDefault"]]
    return Response(200, {"value": items})


def get_datastore(app: App, req: Request) -> Response:
    return Response(200, datastore(req.ws, req.params["name"]))


def list_secrets(app: App, req: Request) -> Response:
    datastore(req.ws, req.params["name"])
    return Response(200, {"secretsType": "AccountKey", "key": app.account_key})


def _unknown_kind(app: App, req: Request) -> Response:
    raise ApiError(404, "NoRegisteredProviderFound", f"The emulator does not serve '{req.parts[2]}'.")


add_routes(
    ("discovery", "*", discovery),
    (WS, "GET", get_workspace),
    (WS, "*", refuse(405, "MethodNotAllowed", "The emulator does not create or change workspaces.")),
    (WS + "/*", "*", _unknown_kind),  # any resource kind no family registered
    (DATASTORES, "GET", list_datastores),
    (DATASTORE, "GET", get_datastore),
    (DATASTORE, "PUT", refuse(400, "UserError", "The emulator only serves the built-in workspace datastores.")),
    (DATASTORE, "DELETE", refuse(400, "UserError", "The emulator only serves the built-in workspace datastores.")),
    (DATASTORE + "/listSecrets", "POST", list_secrets),
    (DATASTORES + "/*", "*", refuse(405, "MethodNotAllowed", "{method} is not supported on datastores here.")),
)
