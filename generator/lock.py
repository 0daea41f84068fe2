"""The lock: the registry's truth about the foundation model and the pipeline component, pinned and reviewable.

``amlgen lock`` resolves, through the SDK's registry client, every foundation model and component the
environments name (by version, or by label such as ``latest``) and writes ``infra/lock.yml``: the model's asset
id and version, the tags the notebook reads (``finetune_compute_allow_list``, ``inference_compute_allow_list``,
``model_specific_defaults``) verbatim as the registry returns them, its minimum SKU specs, its lifecycle as the
registry reports it (archived; fine-tuning and inference deprecation and retirement dates), and, for the
component, its version and the digest of its interface (the interface itself stays in the catalog). Without
``--upgrade`` a label keeps the version already locked; with it, labels move and the moves are printed.

Everything offline (render, validate, checks) reads only the lock. Registry facts are never typed into
``infra/``: allow-lists, model defaults and dates come from here.
"""

from __future__ import annotations

import ast
import datetime as dt
import hashlib
import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .names import RULES
from .paths import INFRA_DIR
from .yamlutil import Origins, load_with_origins

LOCK_FILE = f"{INFRA_DIR}/lock.yml"
LOCK_VERSION = 1
NOTEBOOK_TAGS = ("finetune_compute_allow_list", "inference_compute_allow_list", "model_specific_defaults")
DATES = ("finetune_deprecation", "finetune_retirement", "inference_deprecation", "inference_retirement")


# --------------------------------------------------------------------------- what the lock holds
@dataclass(frozen=True)
class Lifecycle:
    archived: bool = False
    finetune_deprecation: dt.date | None = None
    finetune_retirement: dt.date | None = None
    inference_deprecation: dt.date | None = None
    inference_retirement: dt.date | None = None
    source: str = ""  # which registry answer the lifecycle came from

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"archived": self.archived}
        out.update({k: getattr(self, k).isoformat() for k in DATES if getattr(self, k) is not None})
        if self.source:
            out["source"] = self.source
        return out

    def status(self, use: str, today: dt.date) -> tuple[str, dt.date | None]:
        """(``retired`` | ``deprecated`` | ``current``, date) of ``use`` (``finetune`` or ``inference``) on ``today``."""
        retired, deprecated = getattr(self, f"{use}_retirement"), getattr(self, f"{use}_deprecation")
        if retired is not None and retired <= today:
            return "retired", retired
        if deprecated is not None and deprecated <= today:
            return "deprecated", deprecated
        return "current", None


@dataclass(frozen=True)
class LockedModel:
    registry: str
    name: str
    requested: str  # "14" or "label:latest"
    version: str
    asset_id: str
    task: str = ""
    tags: dict[str, str] = field(default_factory=dict)  # verbatim, as the registry returns them
    min_sku: dict[str, str] = field(default_factory=dict)  # finetune/inference: "cores|gpus|memory GB|disk GB"
    computes: dict[str, list[str]] = field(default_factory=dict)  # newer layout: system metadata supportedComputes
    lifecycle: Lifecycle = field(default_factory=Lifecycle)
    where: str = LOCK_FILE  # file:line of the entry (for errors)

    def key(self) -> tuple[str, str, str]:
        return (self.registry, self.name, self.requested)

    def parsed(self, tag: str) -> Any:
        """A tag's value parsed the way the notebook parses it (``ast.literal_eval``); None when absent."""
        text = self.tags.get(tag)
        if text is None:
            return None
        try:
            return ast.literal_eval(text) if isinstance(text, str) else text
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            raise ConfigError(f"the registry's tag {tag} of {self.name} {self.version} cannot be parsed "
                              f"({str(text)[:60]!r}); run `amlgen lock` again or report it", where=self.where) from None

    def allow_list(self, use: str) -> list[str] | None:
        """The ``<use>_compute_allow_list`` tag (as the notebook reads it), else the published supported computes."""
        value = self.parsed(f"{use}_compute_allow_list")
        if value is None:
            return list(self.computes[use]) if use in self.computes else None
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"the registry's {use}_compute_allow_list of {self.name} {self.version} is not a list "
                              "of VM sizes", where=self.where)
        return list(value)

    def model_defaults(self) -> dict[str, Any]:
        value = self.parsed("model_specific_defaults")
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise ConfigError(f"the registry's model_specific_defaults of {self.name} {self.version} is not a mapping",
                              where=self.where)
        return value

    def to_dict(self) -> dict[str, Any]:
        return {"registry": self.registry, "name": self.name, "requested": self.requested, "version": self.version,
                "asset_id": self.asset_id, "task": self.task, "tags": dict(sorted(self.tags.items())),
                "min_sku": dict(sorted(self.min_sku.items())),
                **({"computes": dict(sorted(self.computes.items()))} if self.computes else {}),
                "lifecycle": self.lifecycle.to_dict()}


@dataclass(frozen=True)
class LockedComponent:
    registry: str
    name: str
    requested: str
    version: str
    asset_id: str
    interface_sha256: str
    where: str = LOCK_FILE

    def key(self) -> tuple[str, str, str]:
        return (self.registry, self.name, self.requested)

    def to_dict(self) -> dict[str, Any]:
        return {"registry": self.registry, "name": self.name, "requested": self.requested, "version": self.version,
                "asset_id": self.asset_id, "interface_sha256": self.interface_sha256}


@dataclass
class Lock:
    models: list[LockedModel] = field(default_factory=list)
    components: list[LockedComponent] = field(default_factory=list)
    alternatives: list[LockedModel] = field(default_factory=list)  # current models of the same task, for suggestions

    def model(self, registry: str, name: str, requested: str) -> LockedModel | None:
        return next((m for m in self.models if m.key() == (registry, name, requested)), None)

    def component(self, registry: str, name: str, requested: str) -> LockedComponent | None:
        return next((c for c in self.components if c.key() == (registry, name, requested)), None)

    def to_dict(self) -> dict[str, Any]:
        return {"lock_version": LOCK_VERSION,
                "models": [m.to_dict() for m in sorted(self.models, key=LockedModel.key)],
                "components": [c.to_dict() for c in sorted(self.components, key=LockedComponent.key)],
                "alternatives": [m.to_dict() for m in sorted(self.alternatives, key=LockedModel.key)]}


# --------------------------------------------------------------------------- requests from infra/
def requested(spec: Any) -> str:
    """How an environment asks for a model or component: ``14`` (a version) or ``label:latest``."""
    label = getattr(spec, "label", None)
    return f"label:{label}" if label else str(spec.version)


def interface_digest(interface: dict[str, Any]) -> str:
    """sha256 of a component interface's inputs and outputs (canonical JSON), as derived into the catalog."""
    body = {"inputs": interface.get("inputs", {}), "outputs": interface.get("outputs", {})}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


# --------------------------------------------------------------------------- reading
def _date(value: Any, where: str) -> dt.date | None:
    if value is None:
        return None
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        raise ConfigError(f"not a date: {value!r}", where=where) from None


# What a lock may hold: anything else was not written by `amlgen lock` (a typo, a hand edit, a newer amlgen).
TOP_KEYS = ("lock_version", "models", "components", "alternatives")
MODEL_KEYS = ("registry", "name", "requested", "version", "asset_id", "task", "tags", "min_sku", "computes", "lifecycle")
COMPONENT_KEYS = ("registry", "name", "requested", "version", "asset_id", "interface_sha256")
LIFECYCLE_KEYS = ("archived", *DATES, "source")
USES = ("finetune", "inference")
MIN_SKU = re.compile(r"\d+\|\d+\|\d+(\.\d+)?\|\d+(\.\d+)?")  # cores|GPUs|memory GB|disk GB, as the registry publishes it


def _at(origins: Origins, path: tuple) -> str:
    """``infra/lock.yml:<line>: <field>`` for ``path`` (the nearest known line)."""
    probe = path
    while probe and probe not in origins:
        probe = probe[:-1]
    line = origins.get(probe, (LOCK_FILE, 0))[1]
    field_ = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")
    return f"{LOCK_FILE}:{line or 1}" + (f": {field_}" if field_ else "")


def _known(mapping: Any, keys: tuple[str, ...], origins: Origins, path: tuple) -> None:
    if not isinstance(mapping, dict):
        raise ConfigError("must be a mapping; run `amlgen lock`", where=_at(origins, path))
    for key in mapping:
        if key not in keys:
            raise ConfigError(f"unknown key (a lock holds {', '.join(keys)}); run `amlgen lock`",
                              where=_at(origins, (*path, key)))


def _check_entry(entry: dict, kind: str, origins: Origins, path: tuple) -> None:
    """The identity of a lock entry: valid names, ``requested`` a label or the version, the asset id they make."""
    for key, rule in (("registry", "registry"), ("name", "registry_asset"), ("version", "asset_version")):
        if key in entry:
            problem = RULES[rule].problem(str(entry[key]))
            if problem:
                raise ConfigError(f"{str(entry[key])!r} {problem}", where=_at(origins, (*path, key)))
    if not all(k in entry for k in ("registry", "name", "requested", "version", "asset_id")):
        return  # the missing key is named by the reader
    version, how = str(entry["version"]), str(entry["requested"])
    if how != version and not re.fullmatch(r"label:[A-Za-z0-9][A-Za-z0-9._-]*", how):
        raise ConfigError(f"requested {how!r} is neither the locked version {version!r} nor a label (label:<name>); "
                          "run `amlgen lock`", where=_at(origins, (*path, "requested")))
    expected = f"azureml://registries/{entry['registry']}/{kind}/{entry['name']}/versions/{version}"
    if str(entry["asset_id"]) != expected:
        raise ConfigError(f"{str(entry['asset_id'])[:120]!r} is not the asset of this entry ({expected}); run `amlgen lock`",
                          where=_at(origins, (*path, "asset_id")))


def _check_model(entry: dict, origins: Origins, path: tuple) -> None:
    _known(entry, MODEL_KEYS, origins, path)
    _check_entry(entry, "models", origins, path)
    if entry.get("tags") is not None:
        _known(entry["tags"], NOTEBOOK_TAGS, origins, (*path, "tags"))
    if entry.get("min_sku") is not None:
        _known(entry["min_sku"], USES, origins, (*path, "min_sku"))
        for use, spec in entry["min_sku"].items():
            if not isinstance(spec, str) or not MIN_SKU.fullmatch(spec):
                raise ConfigError(f"{spec!r} is not a minimum SKU spec (cores|GPUs|memory GB|disk GB, such as "
                                  "24|1|220|64); run `amlgen lock`", where=_at(origins, (*path, "min_sku", use)))
    if entry.get("computes") is not None:
        _known(entry["computes"], USES, origins, (*path, "computes"))
        for use, sizes in entry["computes"].items():
            bad = next((x for x in sizes if RULES["vm_size"].problem(str(x))), None) if isinstance(sizes, list) else sizes
            if bad is not None or not isinstance(sizes, list):
                raise ConfigError(f"not a list of VM sizes ({bad!r}); run `amlgen lock`",
                                  where=_at(origins, (*path, "computes", use)))
    if entry.get("lifecycle") is not None:
        _known(entry["lifecycle"], LIFECYCLE_KEYS, origins, (*path, "lifecycle"))


def _model(entry: Any, origins: Origins, path: tuple, shown: str) -> LockedModel:
    line = origins.get(path, (shown, 0))[1]
    where = f"{shown}:{line}"
    if not isinstance(entry, dict):
        raise ConfigError("a lock entry must be a mapping", where=where)
    _check_model(entry, origins, path)
    try:
        life = entry.get("lifecycle") or {}
        lifecycle = Lifecycle(bool(life.get("archived", False)),
                              *(_date(life.get(k), where) for k in DATES), str(life.get("source", "")))
        return LockedModel(str(entry["registry"]), str(entry["name"]), str(entry["requested"]), str(entry["version"]),
                           str(entry["asset_id"]), str(entry.get("task", "")),
                           {str(k): str(v) for k, v in (entry.get("tags") or {}).items()},
                           {str(k): str(v) for k, v in (entry.get("min_sku") or {}).items()},
                           {str(k): [str(x) for x in v] for k, v in (entry.get("computes") or {}).items()},
                           lifecycle, where)
    except KeyError as exc:
        raise ConfigError(f"the lock entry has no {exc.args[0]}; run `amlgen lock`", where=where) from None


def load(root: Path) -> Lock | None:
    """The committed lock, or None when the project has none yet."""
    path = Path(root) / LOCK_FILE
    if not path.is_file():
        return None
    stat = path.stat()
    key = (str(path), stat.st_mtime_ns, stat.st_size)
    if key in _CACHE:
        return _CACHE[key]
    data, origins = load_with_origins(path, display=LOCK_FILE, root=Path(root))
    if not isinstance(data, dict) or data.get("lock_version") != LOCK_VERSION:
        raise ConfigError(f"not an amlgen lock (lock_version {LOCK_VERSION}); run `amlgen lock`", where=f"{LOCK_FILE}:1")
    _known(data, TOP_KEYS, origins, ())
    for key in ("models", "components", "alternatives"):
        if not isinstance(data.get(key) or [], list):
            raise ConfigError("must be a list; run `amlgen lock`", where=_at(origins, (key,)))
    lock = Lock()
    for i, entry in enumerate(data.get("models") or []):
        lock.models.append(_model(entry, origins, ("models", i), LOCK_FILE))
    for i, entry in enumerate(data.get("alternatives") or []):
        lock.alternatives.append(_model(entry, origins, ("alternatives", i), LOCK_FILE))
    for i, entry in enumerate(data.get("components") or []):
        where = f"{LOCK_FILE}:{origins.get(('components', i), (LOCK_FILE, 0))[1]}"
        if not isinstance(entry, dict):
            raise ConfigError("a lock entry must be a mapping", where=where)
        _known(entry, COMPONENT_KEYS, origins, ("components", i))
        _check_entry(entry, "components", origins, ("components", i))
        if "interface_sha256" in entry and not re.fullmatch(r"[0-9a-f]{64}", str(entry["interface_sha256"])):
            raise ConfigError("not a sha256 (64 lowercase hex digits); run `amlgen lock`",
                              where=_at(origins, ("components", i, "interface_sha256")))
        try:
            lock.components.append(LockedComponent(str(entry["registry"]), str(entry["name"]), str(entry["requested"]),
                                                   str(entry["version"]), str(entry["asset_id"]),
                                                   str(entry["interface_sha256"]), where))
        except (KeyError, TypeError) as exc:
            raise ConfigError(f"malformed component entry ({exc}); run `amlgen lock`", where=where) from None
    _CACHE.clear()
    _CACHE[key] = lock
    return lock


_CACHE: dict[tuple, Lock] = {}


# --------------------------------------------------------------------------- writing
HEADER = (
    "# Generated by `amlgen lock` from the Azure ML registries; do not edit. Change the model or component in\n"
    "# infra/ and run `amlgen lock`; `amlgen lock --upgrade` moves labels (such as latest) to their newest versions.\n"
    "# Tags are verbatim as the registry returns them; render, validate and every offline command read only this.\n"
)


def dump(lock: Lock) -> str:
    import yaml

    return HEADER + yaml.safe_dump(lock.to_dict(), sort_keys=False, width=120, allow_unicode=True)


def write(root: Path, lock: Lock) -> bool:
    """Write the lock atomically (a temporary file renamed over it); False when the content is unchanged."""
    from . import interrupts

    path = Path(root) / LOCK_FILE
    text = dump(lock)
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return False
    fd, tmp = tempfile.mkstemp(prefix=".lock.yml.", dir=path.parent)
    os.fchmod(fd, 0o644)  # a committed file: readable like the rest of the checkout (mkstemp makes it 0600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        with interrupts.critical():
            os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return True


def moves(old: Lock | None, new: Lock) -> list[str]:
    """What a lock run changed, one line each (for the terminal; the reviewer sees the file's diff)."""
    lines: list[str] = []
    before = {m.key(): m for m in (old.models if old else [])}
    for m in new.models:
        prev = before.get(m.key())
        if prev is None:
            lines.append(f"+ model {m.registry}/{m.name} ({m.requested}): {m.version}")
        elif prev.version != m.version:
            lines.append(f"~ model {m.registry}/{m.name} ({m.requested}): {prev.version} -> {m.version}")
        elif prev.to_dict() != m.to_dict():
            lines.append(f"~ model {m.registry}/{m.name} {m.version}: the registry's facts changed")
    cbefore = {c.key(): c for c in (old.components if old else [])}
    for c in new.components:
        prev_c = cbefore.get(c.key())
        if prev_c is None:
            lines.append(f"+ component {c.registry}/{c.name} ({c.requested}): {c.version}")
        elif prev_c.version != c.version or prev_c.interface_sha256 != c.interface_sha256:
            lines.append(f"~ component {c.registry}/{c.name} ({c.requested}): {prev_c.version} -> {c.version}")
    return lines
