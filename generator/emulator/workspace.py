"""The workspace itself (read-only), the discovery document and the two built-in blob datastores."""

from __future__ import annotations

import uuid

from .blob import make_sas
from .core import (
    BLOB_ACCOUNT,
    PROVIDER,
    TENANT_ID,
    ApiError,
    Request,
    Response,
    add_routes,
    bad,
    blob_container,
    iso,
    not_found,
    refuse,
    system_data,
    ws_id,
)
from .state import AppState

WS = "workspaces/{ws}"
DATASTORES = WS + "/datastores"
DATASTORE = DATASTORES + "/{name}"
_BUILT_IN = {"workspaceblobstore": True, "workspaceartifactstore": False}  # name -> isDefault


def get_workspace(app: AppState, req: Request) -> Response:
    """The workspace, with the keys the service answers (fact 41, recording ``online-deployment-create-2025`` #1)."""
    ws = req.ws
    loc = ws["location"]
    arm = f"/subscriptions/{ws['sub']}/resourceGroups/{ws['rg']}/providers"
    return Response(200, {
        "id": ws_id(ws), "name": ws["name"], "type": f"{PROVIDER}/workspaces", "location": loc, "tags": {},
        "etag": None,
        "properties": {
            "friendlyName": ws["name"], "description": "Azure ML workspace emulated by amlgen",
            "storageAccount": f"{arm}/Microsoft.Storage/storageAccounts/{BLOB_ACCOUNT}",
            "keyVault": f"{arm}/Microsoft.KeyVault/vaults/kv-{ws['name'][:16]}",
            "applicationInsights": f"{arm}/Microsoft.insights/components/ai-{ws['name'][:16]}",
            "hbiWorkspace": False, "tenantId": TENANT_ID, "imageBuildCompute": None, "provisioningState": "Succeeded",
            "managedNetwork": {"changeableIsolationModes": ["AllowInternetOutbound", "AllowOnlyApprovedOutbound"],
                               "isolationMode": "Disabled"},
            "allowRoleAssignmentOnRG": True, "v1LegacyMode": False, "softDeleteEnabled": False,
            "containerRegistry": f"{arm}/Microsoft.ContainerRegistry/registries/cr{ws['workspace_id'][:8]}",
            "creationTime": iso(ws["created"]),
            "notebookInfo": {"resourceId": ws["workspace_id"].replace("-", ""),
                             "fqdn": f"ml-{ws['name']}-{loc}-{ws['workspace_id']}.{loc}.notebooks.azure.net",
                             "isPrivateLinkEnabled": False, "notebookPreparationError": None},
            "storageHnsEnabled": False, "workspaceId": ws["workspace_id"], "linkedModelInventoryArmId": None,
            "privateLinkCount": 0, "publicNetworkAccess": "Enabled", "ipAllowlist": [],
            "discoveryUrl": f"{app.base_url}discovery",
            "mlFlowTrackingUri": f"azureml://{loc}.api.azureml.ms/mlflow/v1.0{ws_id(ws)}",
            "serverlessComputeSettings": None, "EnableSoftwareBillOfMaterials": False,
            "sdkTelemetryAppInsightsKey": "", "sasGetterUri": "", "enableDataIsolation": False,
            "systemDatastoresAuthMode": "identity" if ws.get("storage_auth") == "identity" else "accessKey",
            "enableServiceSideCMKEncryption": False,
        },
        "identity": {"type": "SystemAssigned", "principalId": str(uuid.uuid5(uuid.NAMESPACE_URL, ws["name"])),
                     "tenantId": TENANT_ID},
        "kind": "Default", "sku": {"name": "Basic", "tier": "Basic"},
        "systemData": system_data(ws["created"]),
    })


def discovery(app: AppState, req: Request) -> Response:
    """``GET /discovery`` (the workspace's ``discoveryUrl``, fact 35): every service is this emulator."""
    base = app.base_url.rstrip("/")
    return Response(200, {"api": base, "catalog": base, "experimentation": base, "history": base,
                          "hyperdrive": base, "labeling": base, "modelmanagement": base, "pipelines": base,
                          "studio": base})


# ----------------------------------------------------------------------------------------------- datastores
def datastore(ws: dict, name: str) -> dict:
    """The body of a built-in datastore (404 for any other name); facts 26 (M26 #2, J #9)."""
    if name.lower() not in _BUILT_IN:
        raise not_found("datastore", name)
    blobstore = name.lower() == "workspaceblobstore"
    return {
        "id": f"{ws_id(ws)}/datastores/{name.lower()}", "name": name.lower(),
        "type": f"{PROVIDER}/workspaces/datastores",
        "properties": {
            "description": None, "tags": None, "properties": None, "isDefault": _BUILT_IN[name.lower()],
            "credentials": {"credentialsType": "None" if ws.get("storage_auth") == "identity" else "AccountKey"},
            "subscriptionId": ws["sub"] if blobstore else None, "resourceGroup": ws["rg"] if blobstore else None,
            "datastoreType": "AzureBlob", "accountName": BLOB_ACCOUNT,
            "containerName": blob_container(ws) if blobstore else "azureml", "endpoint": "core.windows.net",
            "protocol": "https",
            "serviceDataAccessAuthIdentity": "WorkspaceSystemAssignedIdentity" if blobstore else "None",
        },
        "systemData": {"createdAt": iso(ws["created"]), "lastModifiedAt": iso(ws["created"]),
                       "lastModifiedBy": "emulator@amlgen.local", "lastModifiedByType": "Application"},
    }


def list_datastores(app: AppState, req: Request) -> Response:
    items = [datastore(req.ws, n) for n in _BUILT_IN]
    if req.query.get("isDefault", "").lower() == "true":
        items = [i for i in items if i["properties"]["isDefault"]]
    return Response(200, {"value": items})


def get_datastore(app: AppState, req: Request) -> Response:
    return Response(200, datastore(req.ws, req.params["name"]))


def list_secrets(app: AppState, req: Request) -> Response:
    """The two forms of fact 27: an empty body (azure-ai-ml <= 1.15) gets the account key; ``{"expirableSecret":
    true, "expireAfterHours": n}`` (newer SDKs) gets an account SAS valid for n hours; a datastore without
    credentials answers 400."""
    store = datastore(req.ws, req.params["name"])
    kind = store["properties"]["credentials"]["credentialsType"]
    if kind == "None":  # an identity-based datastore has no secret (D #13); clients use their own token
        raise bad(f"No secrets for credentials of type {kind}.")
    body = req.data if isinstance(req.data, dict) else {}
    if body.get("expirableSecret"):
        try:
            hours = float(body.get("expireAfterHours") or 1)
        except (TypeError, ValueError):
            raise bad("expireAfterHours must be a number of hours.") from None
        return Response(200, {"secretsType": "Sas", "sasToken": make_sas(app, hours)})
    return Response(200, {"secretsType": "AccountKey", "key": app.account_key})


def _unknown_kind(app: AppState, req: Request) -> Response:
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
