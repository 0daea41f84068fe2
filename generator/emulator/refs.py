"""References between resources: what a job, a model or a deployment names must exist.

Asset ARM ids, ``azureml://registries/...`` URIs, datastore paths and compute names, checked against the state
(400 when missing). Shared by ``assets``, ``jobs`` and ``endpoints``.

A registry asset may be consumed only from a workspace in one of the registry's regions (the ``azureml``
registry serves every region): otherwise 400 ``BadRequest`` "Invalid region <ws region> for operation consume
in registry <r> ..." as the service answers (fact 33).
"""

from __future__ import annotations

import re
from typing import Optional

from .blob import blob_exists
from .core import ApiError, bad
from .registry import component_versions, model_versions, registry_regions
from .state import AppState
from .workspace import datastore

DATASTORE_URI = re.compile(
    r"^azureml://subscriptions/(?P<sub>[^/]+)/resource[gG]roups/(?P<rg>[^/]+)/workspaces/(?P<ws>[^/]+)/"
    r"datastores/(?P<ds>[^/]+)/paths/(?P<path>.+)$"
)
SHORT_DATASTORE_URI = re.compile(r"^azureml://datastores/(?P<ds>[^/]+)/paths/(?P<path>.+)$")
REGISTRY_ASSET_URI = re.compile(
    r"^azureml://registries/(?P<reg>[^/]+)/(?P<kind>models|components|data|environments)/(?P<name>[^/]+)/"
    r"(?P<sel>versions|labels)/(?P<ver>[^/]+)$",
    re.I,
)
WS_ASSET_ID = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/Microsoft\.MachineLearningServices/"
    r"workspaces/(?P<ws>[^/]+)/(?P<kind>models|components|data|environments)/(?P<name>[^/]+)/versions/(?P<ver>[^/]+)$",
    re.I,
)
COMPUTE_ID = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/Microsoft\.MachineLearningServices/"
    r"workspaces/(?P<ws>[^/]+)/computes/(?P<name>[^/]+)$",
    re.I,
)


def check_datastore_uri(ws: dict, uri: str) -> None:
    """A data/model URI: a built-in datastore path, a registry asset or a remote URL (not a local path)."""
    m = DATASTORE_URI.match(uri) or SHORT_DATASTORE_URI.match(uri)
    if m:
        datastore(ws, m["ds"])
        return
    if uri.startswith("azureml://"):
        if REGISTRY_ASSET_URI.match(uri):
            return
        raise bad(f"Unsupported azureml URI '{uri}'.", "ValidationError")
    if not re.match(r"^(https?|wasbs?|abfss?|adl)://", uri):
        raise bad(f"'{uri}' is not a valid remote URI; local paths must be uploaded first.", "ValidationError")


def compute_ref_ok(ws: dict, ref: Optional[str], where: str) -> None:
    """A job's compute: ``serverless``/``local``, or an existing compute of this workspace."""
    if ref is None or ref == "":
        return
    low = str(ref).lower()
    if low in ("serverless", "azureml:serverless", "local"):
        return
    m = COMPUTE_ID.match(ref)
    name = m["name"] if m else str(ref).split(":", 1)[-1] if low.startswith("azureml:") else str(ref)
    if m and (m["ws"].lower() != ws["name"].lower()):
        raise bad(f"{where}: compute '{ref}' belongs to another workspace.")
    rec = ws["computes"].get(name.lower())
    if rec is None or "deleted_at" in rec["_emu"]:
        raise bad(f"{where}: compute '{name}' was not found in workspace '{ws['name']}'.", "UserError")


def component_ref_ok(app: AppState, ws: dict, ref: Optional[str], where: str) -> None:
    """A pipeline child's component: a registry component version/label or a workspace component version."""
    if not ref:
        return
    m = REGISTRY_ASSET_URI.match(ref)
    if m:
        registry_region_ok(app, ws, m["reg"], ref, where)
        versions = component_versions(app, m["reg"], m["name"])
        if not versions or (m["sel"].lower() == "versions" and m["ver"] not in versions) or (
            m["sel"].lower() == "labels" and m["ver"] not in ("latest", "default")
        ):
            raise bad(f"{where}: component '{m['name']}' {m['sel'][:-1]} '{m['ver']}' was not found in "
                      f"registry '{m['reg']}'.", "UserError")
        return
    m = WS_ASSET_ID.match(ref)
    if m:
        cont = ws["components"].get(m["name"].lower())
        if cont is None or m["ver"] not in cont["versions"]:
            raise bad(f"{where}: component '{m['name']}:{m['ver']}' was not found.", "UserError")
        return
    raise bad(f"{where}: componentId '{ref}' is not a valid component reference.", "UserError")


def asset_ref_ok(app: AppState, ws: dict, uri: Optional[str], where: str) -> Optional[str]:
    """Check a job input URI: missing assets/datastores -> 400; returns a runtime failure message or None."""
    if not uri or not isinstance(uri, str):
        return None
    m = WS_ASSET_ID.match(uri)
    if m:
        cont = ws[m["kind"].lower()].get(m["name"].lower())
        if cont is None or m["ver"] not in cont["versions"]:
            raise bad(f"{where}: asset '{m['name']}:{m['ver']}' was not found.", "UserError")
        return None
    m = REGISTRY_ASSET_URI.match(uri)
    if m and m["kind"].lower() == "models":
        registry_region_ok(app, ws, m["reg"], uri, where)
        versions = model_versions(app, m["reg"], m["name"])
        if not versions or (m["sel"].lower() == "versions" and m["ver"] not in versions):
            raise bad(f"{where}: model '{m['name']}' version '{m['ver']}' was not found in registry "
                      f"'{m['reg']}'.", "UserError")
        return None
    m = DATASTORE_URI.match(uri) or SHORT_DATASTORE_URI.match(uri)
    if m:
        datastore(ws, m["ds"])
        if not blob_exists(app, ws, m["path"]):
            return f"{where}: the input path '{m['path']}' does not exist on datastore '{m['ds']}'."
    return None


def model_ref_ok(app: AppState, ws: dict, model: str) -> None:
    """A deployment's model: a model version of this workspace or of the ``azureml`` registry."""
    m = WS_ASSET_ID.match(model)
    if m and m["kind"].lower() == "models":
        if m["ws"].lower() != ws["name"].lower():
            raise bad(f"Model '{model}' belongs to another workspace.")
        cont = ws["models"].get(m["name"].lower())
        if cont is None or m["ver"] not in cont["versions"]:
            raise bad(f"Model '{m['name']}' version '{m['ver']}' was not found in workspace "
                      f"'{ws['name']}'.", "UserError")
        return
    m = REGISTRY_ASSET_URI.match(model)
    if m and m["kind"].lower() == "models":
        registry_region_ok(app, ws, m["reg"], model, "model")
        versions = model_versions(app, m["reg"], m["name"])
        if not versions or (m["sel"].lower() == "versions" and m["ver"] not in versions):
            raise bad(f"Registry model '{model}' was not found.", "UserError")
        return
    raise bad(f"Model reference '{model}' is not a model version ARM id.", "UserError")


def workspace_location(app: AppState, ws: dict) -> str:
    """The workspace's region (its record's ``location``, else the emulator's)."""
    return str(ws.get("location") or app.location).lower()


def registry_region_ok(app: AppState, ws: dict, reg: str, uri: str, where: str) -> None:
    """A registry asset is consumed from a workspace in one of the registry's regions (fact 33); 400 otherwise."""
    try:
        regions = registry_regions(app, reg)
    except ApiError:
        raise bad(f"{where}: registry '{reg}' was not found.", "UserError") from None
    if regions is None:
        return
    loc = workspace_location(app, ws)
    if loc not in regions:
        raise ApiError(400, "BadRequest",
                       f"key: {uri}, Message: Invalid region {loc} for operation consume in registry {reg}. "
                       f"Region {loc} is not a supported region for registry {reg}. Supported regions are "
                       f"{', '.join(regions)}. Please make sure to have run an updated ARM deployment with the new "
                       f"region, before trying to consume in it")
