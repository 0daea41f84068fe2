"""Resolving the lock: read the foundation models and components the environments name from their registries.

Every call goes through the workspace module's wrapper (``Workspace.connect_registry`` + ``call``). What the
registry says about a model comes from two answers to the same GET: the SDK's ``Model`` entity (its tags,
verbatim, and its properties: allow-lists and minimum SKU specs of the older layout) and the raw body of that
GET, read with the SDK's own registry request (``get_registry_versioned_asset``), because azure-ai-ml 1.35.2
drops ``system_metadata`` and ``isArchived`` when it builds the entity (supported computes, minimum SKU specs,
deprecation and retirement dates, archived state of the newer layout). Lifecycle is the model's: a version
published before the registry carried it (Phi-3-mini-4k-instruct 14) reports it through the model's newest
version, which the lock records as its ``source``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..catalog import interface_path
from ..config import Environment
from ..errors import AzureError, ConfigError
from ..lock import DATES, NOTEBOOK_TAGS, Lifecycle, Lock, LockedComponent, LockedModel, interface_digest, requested
from ..workspace import Workspace
from ..yamlutil import read_text


def _meta(entity: Any) -> dict[str, Any]:
    """System metadata: on the entity when the SDK keeps it, else in the raw body attached by ``_get_model``."""
    raw = getattr(entity, "_amlgen_raw", None) or {}
    props = raw.get("properties") or {}
    meta = (getattr(entity, "system_metadata", None) or getattr(entity, "_system_metadata", None)
            or props.get("system_metadata") or props.get("systemMetadata") or {})
    return meta if isinstance(meta, dict) else {}


def _date(value: Any) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def _archived(entity: Any) -> bool:
    props = getattr(entity, "properties", None) or {}
    raw = (getattr(entity, "_amlgen_raw", None) or {}).get("properties") or {}
    meta = _meta(entity)
    for value in (raw.get("isArchived"), props.get("isArchived"), meta.get("isArchived"),
                  getattr(entity, "stage", None) == "Archived"):
        if value in (True, "true", "True"):
            return True
    return False


def lifecycle_of(entity: Any, source: str) -> Lifecycle | None:
    """The lifecycle a registry answer reports, or None when it reports none."""
    dep = _meta(entity).get("deprecation") or {}
    dates = {
        "finetune_deprecation": _date(dep.get("finetuneDeprecationDate")),
        "finetune_retirement": _date(dep.get("finetuneRetirementDate")),
        "inference_deprecation": _date(dep.get("inferenceDeprecationDate")),
        "inference_retirement": _date(dep.get("inferenceRetirementDate")),
    }
    archived = _archived(entity)
    if not archived and not any(dates.values()):
        return None
    return Lifecycle(archived, *(dates[k] for k in DATES), source)


def _tags(entity: Any) -> dict[str, str]:
    """The tags the notebook reads, verbatim."""
    return {k: str(v) for k, v in (getattr(entity, "tags", None) or {}).items() if k in NOTEBOOK_TAGS}


def _computes(entity: Any) -> dict[str, list[str]]:
    """The newer layout's allow-lists: system metadata ``supportedComputes`` (finetune/inference)."""
    computes = _meta(entity).get("supportedComputes") or {}
    return {use: [str(c) for c in computes[key]] for use, key in (("finetune", "finetuneComputes"),
                                                                  ("inference", "inferenceComputes"))
            if isinstance(computes.get(key), list)}


def _min_sku(entity: Any) -> dict[str, str]:
    props = getattr(entity, "properties", None) or {}
    sku = _meta(entity).get("SKU") or {}
    out = {}
    for use in ("finetune", "inference"):
        value = props.get(f"{use}-min-sku-spec") or sku.get(f"{use}MinSkuSpec")
        if value:
            out[use] = str(value)
    return out


def _task(entity: Any) -> str:
    tags = getattr(entity, "tags", None) or {}
    tasks = (_meta(entity).get("tasks") or {}).get("fineTuningTasks") or []
    return str(tags.get("task") or (tasks[0] if tasks else ""))


def _missing_is_none(fn: Callable[[], Any]) -> Callable[[], Any]:
    def wrapped() -> Any:
        try:
            return fn()
        except Exception as exc:  # a missing asset answers 404 through several exception types
            if getattr(exc, "status_code", None) == 404 or type(exc).__name__ == "ResourceNotFoundError":
                return None
            # the SDK resolves a label itself and reports a missing one as a ValidationException
            if type(exc).__name__ == "ValidationException" and "does not exist" in str(getattr(exc, "message", exc)):
                return None
            raise

    return wrapped


def _get_model(reg: Workspace, name: str, version: str | None = None, label: str | None = None) -> Any:
    """The SDK's model entity, with the raw body of its version attached (``_amlgen_raw``)."""
    def fetch() -> Any:
        entity = reg.client.models.get(name, version=version, label=label)
        from azure.ai.ml._utils._registry_utils import get_registry_versioned_asset

        ops = reg.client.models
        entity._amlgen_raw = get_registry_versioned_asset(ops._registry_service_client, "models", name,
                                                          str(entity.version), ops._resource_group_name,
                                                          ops._registry_name)
        return entity

    return reg.call("model", f"{name}:{version or label}", "read", _missing_is_none(fetch))


def resolve_model(reg: Workspace, registry: str, name: str, how: str, where: str) -> LockedModel:
    label = how.removeprefix("label:") if how.startswith("label:") else None
    entity = _get_model(reg, name, None if label else how, label)
    if entity is None:
        what = f"label '{label}'" if label else f"version {how}"
        raise ConfigError(f"registry '{registry}' has no model {name} with {what}", where=where)
    version = str(entity.version)
    lifecycle = lifecycle_of(entity, f"{name} {version}")
    if lifecycle is None:  # an older version: the model's lifecycle travels with its newest version
        latest = _get_model(reg, name, label="latest")
        if latest is not None and str(latest.version) != version:
            lifecycle = lifecycle_of(latest, f"{name} {latest.version} (the model's newest version)")
    return LockedModel(registry, name, how, version, f"azureml://registries/{registry}/models/{name}/versions/{version}",
                       _task(entity), _tags(entity), _min_sku(entity), _computes(entity), lifecycle or Lifecycle())


def resolve_component(reg: Workspace, registry: str, name: str, how: str, root: Path, where: str) -> LockedComponent:
    import yaml

    label = how.removeprefix("label:") if how.startswith("label:") else None
    fetch = _missing_is_none(lambda: reg.client.components.get(name, version=None if label else how, label=label))
    entity = reg.call("component", f"{name}:{how}", "read", fetch)
    if entity is None:
        raise ConfigError(f"registry '{registry}' has no component {name} {how}", where=where)
    version = str(entity.version)
    path = interface_path(name, version, root)
    if not path.is_file():
        raise ConfigError(f"component {name} {version} has no interface in the catalog; derive it with "
                          f"`amlgen catalog import-component SPEC` from its published spec", where=where)
    interface = yaml.safe_load(read_text(path, str(path)))
    published = set((getattr(entity, "inputs", None) or {}).keys())
    catalogued = set(interface.get("inputs", {}))
    if published and published != catalogued:
        diff = sorted(published ^ catalogued)[:5]
        raise ConfigError(f"the catalog's interface of {name} {version} differs from the registry's (inputs "
                          f"{', '.join(diff)}); re-import it from the published spec", where=where)
    return LockedComponent(registry, name, how, version,
                           f"azureml://registries/{registry}/components/{name}/versions/{version}",
                           interface_digest(interface))


def resolve(root: Path, envs: list[Environment], connect: Callable[[str], Workspace], *, upgrade: bool = False,
            existing: Lock | None = None, candidates: dict[str, list[str]] | None = None) -> Lock:
    """A fresh lock for ``envs``. Labels keep their locked version unless ``upgrade``."""
    lock = Lock()
    clients: dict[str, Workspace] = {}

    def client(registry: str) -> Workspace:
        if registry not in clients:
            clients[registry] = connect(registry)
        return clients[registry]

    try:
        for env in envs:
            fm, comp = env.config.foundation_model, env.config.component
            how = requested(fm)
            if lock.model(fm.registry, fm.name, how) is None:
                kept = existing.model(fm.registry, fm.name, how) if existing and not upgrade else None
                resolve_as = kept.version if kept is not None and how.startswith("label:") else how
                model = resolve_model(client(fm.registry), fm.registry, fm.name, resolve_as, env.where("foundation_model"))
                lock.models.append(_relabel(model, how))
            how = requested(comp)
            if lock.component(comp.registry, comp.name, how) is None:
                kept_c = existing.component(comp.registry, comp.name, how) if existing and not upgrade else None
                resolve_as = kept_c.version if kept_c is not None and how.startswith("label:") else how
                component = resolve_component(client(comp.registry), comp.registry, comp.name, resolve_as, root,
                                              env.where("component"))
                lock.components.append(LockedComponent(*(component.to_dict()[k] for k in (
                    "registry", "name")), how, component.version, component.asset_id, component.interface_sha256))
        for registry, names in (candidates or {}).items():
            for name in names:
                if any(m.name == name for m in lock.alternatives):
                    continue
                try:
                    lock.alternatives.append(resolve_model(client(registry), registry, name, "label:latest",
                                                           "foundation_model.alternatives"))
                except ConfigError:
                    continue  # a candidate the registry does not have is simply not suggested
    finally:
        for reg in clients.values():
            reg.close()
    return lock


def _relabel(model: LockedModel, how: str) -> LockedModel:
    from dataclasses import replace

    return replace(model, requested=how)


def connector(target: Any, **connect: Any) -> Callable[[str], Workspace]:
    def connect_to(registry: str) -> Workspace:
        try:
            return Workspace.connect_registry(registry, target=target, **connect)
        except AzureError:
            raise
    return connect_to


@dataclass
class LockOutcome:
    lock: Any
    moves: list[str]
    written: bool


def lock_project(root: Path, *, target: Any, upgrade: bool = False, check: bool = False, **connect: Any) -> LockOutcome:
    """Resolve every environment's foundation model and component through their registries; write infra/lock.yml.

    With ``check``: resolve, compare with the committed lock, write nothing (CheckFailed when they differ).
    """
    from .. import lock as lockmod
    from ..config import raw_environments
    from ..errors import CheckFailed
    from ..locks import hold

    envs = raw_environments(root)
    existing = lockmod.load(root)
    candidates: dict[str, list[str]] = {}
    for env in envs:
        fm = env.config.foundation_model
        candidates.setdefault(fm.registry, [])
        candidates[fm.registry] += [n for n in fm.alternatives if n not in candidates[fm.registry]]
    new = resolve(root, envs, connector(target, **connect), upgrade=upgrade, existing=existing, candidates=candidates)
    changes = lockmod.moves(existing, new)
    if check:
        if existing is None or lockmod.dump(existing) != lockmod.dump(new):
            raise CheckFailed(f"{lockmod.LOCK_FILE} is not what the registry resolves now"
                              + (f" ({'; '.join(changes)})" if changes else "") + "; run `amlgen lock`")
        return LockOutcome(new, changes, False)
    with hold(root, "lock", "lock"):
        written = lockmod.write(root, new)
    return LockOutcome(new, changes, written)
