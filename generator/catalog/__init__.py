"""Data shipped with amlgen: pinned component interfaces and the VM SKU catalog.

Component interfaces are *derived* from a component's published spec (``amlgen catalog import-component``)
and kept in the repository, so that pipeline inputs can be checked offline: the SDK accepts an unknown input
such as ``num_train_epochz`` silently and the job fails (or silently ignores it) in the cloud.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError

CATALOG_DIR = Path(__file__).parent
COMPONENTS_DIR = CATALOG_DIR / "components"
SKUS_FILE = CATALOG_DIR / "skus.yaml"

_INPUT_KEYS = ("type", "optional", "default", "enum", "min", "max")


# --------------------------------------------------------------------------- components
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


@dataclass(frozen=True)
class ComponentInput:
    name: str
    type: str
    optional: bool = True
    default: Any = None
    enum: tuple[str, ...] | None = None
    min: float | None = None
    max: float | None = None

    def check(self, value: Any) -> str | None:
        """Return a problem description, or None when ``value`` is acceptable for this input."""
        if isinstance(value, str) and value.startswith("${{"):
            return None  # a binding, resolved by the service
        kind = self.type
        if kind == "string":
            if not isinstance(value, str):
                hint = f' (write "{str(value).lower()}" in quotes)' if isinstance(value, (bool, int, float)) else ""
                return f"expects a string, got {type(value).__name__} {value!r}{hint}"
            if self.enum is not None and value not in self.enum:
                return f"must be one of {', '.join(repr(e) for e in self.enum)}, got {value!r}"
        elif kind == "integer":
            if isinstance(value, bool) or not isinstance(value, int):
                return f"expects an integer, got {type(value).__name__} {value!r}"
            if not INT32_MIN <= value <= INT32_MAX:  # the service's integer inputs are 32-bit
                return f"must be an integer from {INT32_MIN} to {INT32_MAX} (32 bits), got {_short_int(value)}"
        elif kind == "number":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                hint = ""
                if isinstance(value, str):
                    try:
                        float(value)
                        hint = " (YAML 1.1 reads 5e-6 as a string: write 5.0e-06)"
                    except ValueError:
                        pass
                return f"expects a number, got {type(value).__name__} {value!r}{hint}"
        elif kind == "boolean":
            if not isinstance(value, bool):
                return f"expects a boolean, got {type(value).__name__} {value!r}"
        else:  # asset inputs: uri_file, mlflow_model, custom_model, mltable, uri_folder
            if not isinstance(value, (str, dict)):
                return f"expects a {kind} asset (path or mapping), got {type(value).__name__}"
            return None
        if kind in ("integer", "number"):
            if self.min is not None and value < self.min:
                return f"must be >= {_num(self.min)}, got {value!r}"
            if self.max is not None and value > self.max:
                return f"must be <= {_num(self.max)}, got {value!r}"
        return None


def _short_int(value: int) -> str:
    try:
        text = str(value)
    except ValueError:  # beyond Python's digit limit for int -> str
        return "an integer of thousands of digits"
    return text if len(text) <= 24 else f"{text[:10]}...({len(text.lstrip('-'))} digits)"


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


@dataclass(frozen=True)
class ComponentInterface:
    name: str
    version: str
    source: str
    inputs: dict[str, ComponentInput] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)

    def unknown_input_message(self, name: str) -> str:
        close = difflib.get_close_matches(name, list(self.inputs), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        return f"'{name}' is not an input of {self.name} {self.version}{hint}"


def derive_interface(spec: dict[str, Any], source: str) -> dict[str, Any]:
    """Reduce a component spec to the interface amlgen checks against (deterministic order as published)."""
    if not isinstance(spec, dict) or "name" not in spec or "version" not in spec:
        raise ConfigError("not a component spec (needs name and version)", where=source)
    inputs: dict[str, Any] = {}
    for name, definition in (spec.get("inputs") or {}).items():
        entry = {k: definition[k] for k in _INPUT_KEYS if k in definition}
        if "enum" in entry:
            entry["enum"] = [str(e) for e in entry["enum"]]
        if entry.get("type") == "number" and isinstance(entry.get("default"), str):
            entry["default"] = float(entry["default"])  # published specs write 1e-8, which YAML 1.1 reads as text
        inputs[name] = entry
    outputs = {name: (d or {}).get("type", "uri_folder") for name, d in (spec.get("outputs") or {}).items()}
    return {
        "name": spec["name"],
        "version": str(spec["version"]),
        "type": spec.get("type", "pipeline"),
        "source": source,
        "inputs": inputs,
        "outputs": outputs,
    }


PROJECT_COMPONENTS_DIR = "infra/catalog/components"  # a project's own interfaces (amlgen catalog import-component)


def interface_path(name: str, version: str, root: Path | None = None) -> Path:
    """Where an interface lives: the project's ``infra/catalog/components/`` first, then amlgen's own catalog."""
    if root is not None:
        local = Path(root) / PROJECT_COMPONENTS_DIR / name / f"{version}.yaml"
        if local.is_file():
            return local
    return COMPONENTS_DIR / name / f"{version}.yaml"


def project_interface_path(root: Path, name: str, version: str) -> Path:
    return Path(root) / PROJECT_COMPONENTS_DIR / name / f"{version}.yaml"


def known_versions(name: str, root: Path | None = None) -> list[str]:
    dirs = [COMPONENTS_DIR / name] + ([Path(root) / PROJECT_COMPONENTS_DIR / name] if root is not None else [])
    return sorted({p.stem for d in dirs if d.is_dir() for p in d.glob("*.yaml")})


def load_interface(name: str, version: str, root: Path | None = None) -> ComponentInterface:
    return _load_interface(interface_path(name, version, root), name, version, str(root) if root else None)


@cache
def _load_interface(path: Path, name: str, version: str, root: str | None) -> ComponentInterface:
    if not path.is_file():
        known = known_versions(name, Path(root) if root else None)
        raise ConfigError(
            f"no interface for component {name} {version} in the catalog"
            + (f" (known versions: {', '.join(known)})" if known else "")
            + "; add it with 'amlgen catalog import-component SPEC'"
        )
    data = read_interface(path)
    inputs = {
        n: ComponentInput(
            name=n,
            type=d["type"],
            optional=bool(d.get("optional", False)),
            default=d.get("default"),
            enum=tuple(d["enum"]) if "enum" in d else None,
            min=d.get("min"),
            max=d.get("max"),
        )
        for n, d in data["inputs"].items()
    }
    return ComponentInterface(data["name"], str(data["version"]), data.get("source", ""), inputs, dict(data["outputs"]))


def read_interface(path: Path) -> Any:
    """An interface file's YAML (parsed once per run: the lock's digest and the inputs read the same text). The
    interfaces amlgen ships are read as shipped data (``yamlutil.load_shipped``), a project's own as user files."""
    from ..yamlutil import load_shipped, read_text, safe_load

    text = read_text(path, str(path))
    if path.resolve().is_relative_to(COMPONENTS_DIR.resolve()):
        return load_shipped(text, str(path))
    return safe_load(text, str(path))


def interface_diff(name: str, old: str, new: str, root: Path | None = None) -> list[str]:
    """Human-readable differences between two pinned versions of a component's interface."""
    a, b = load_interface(name, old, root), load_interface(name, new, root)
    lines = [f"+ input {n}: {b.inputs[n].type}" for n in b.inputs if n not in a.inputs]
    lines += [f"- input {n}: {a.inputs[n].type}" for n in a.inputs if n not in b.inputs]
    for n in a.inputs:
        if n in b.inputs and a.inputs[n] != b.inputs[n]:
            for attr in ("type", "optional", "default", "enum", "min", "max"):
                va, vb = getattr(a.inputs[n], attr), getattr(b.inputs[n], attr)
                if va != vb:
                    lines.append(f"~ input {n}.{attr}: {va!r} -> {vb!r}")
    lines += [f"+ output {n}: {t}" for n, t in b.outputs.items() if n not in a.outputs]
    lines += [f"- output {n}: {t}" for n, t in a.outputs.items() if n not in b.outputs]
    return lines


# --------------------------------------------------------------------------- SKUs
@dataclass(frozen=True)
class Sku:
    name: str
    vcpus: int
    memory_gb: float
    gpus: int
    gpu: str | None
    status: str  # current | retiring | retired
    note: str = ""

    @property
    def retired(self) -> bool:
        return self.status == "retired"


@cache
def sku_catalog() -> dict[str, Sku]:
    from ..yamlutil import load_shipped

    data = load_shipped(SKUS_FILE.read_text(encoding="utf-8"), str(SKUS_FILE))
    out: dict[str, Sku] = {}
    for name, d in data["skus"].items():
        out[name.lower()] = Sku(
            name=name,
            vcpus=d["vcpus"],
            memory_gb=d["memory_gb"],
            gpus=d.get("gpus", 0),
            gpu=d.get("gpu"),
            status=d.get("status", "current"),
            note=d.get("note", ""),
        )
    return out


def find_sku(name: str) -> Sku | None:
    return sku_catalog().get(name.lower())


def sku_problem(name: str, *, need_gpu: bool) -> str | None:
    """Why ``name`` cannot be used (unknown, retired, no GPU), or None."""
    sku = find_sku(name)
    if sku is None:
        close = difflib.get_close_matches(name.lower(), list(sku_catalog()), n=1)
        hint = f" (did you mean '{sku_catalog()[close[0]].name}'?)" if close else ""
        return f"unknown VM size '{name}'{hint}; add it to the SKU catalog if it is real"
    if sku.retired:
        return f"VM size '{sku.name}' is retired" + (f": {sku.note}" if sku.note else "")
    if need_gpu and sku.gpus < 1:
        return f"VM size '{sku.name}' has no GPU"
    return None


def in_allow_list(name: str, allow: list[str] | None) -> bool:
    return allow is None or name.lower() in {a.lower() for a in allow}


def import_component(root: Path, spec: Path, source: str | None = None) -> Path:
    """Derive an interface from a published component spec into the project's ``infra/catalog/components/``.

    Writes into the project, never into the installed package; atomically (temporary file, then rename).
    """
    import os
    import tempfile

    from ..yamlutil import load_with_origins

    data, _ = load_with_origins(Path(spec))
    interface = derive_interface(data, source or Path(spec).name)
    path = project_interface_path(root, interface["name"], interface["version"])
    text = "# Derived by 'amlgen catalog import-component' from the published component spec; do not edit.\n"
    text += yaml.safe_dump(interface, sort_keys=False, width=120)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        os.fchmod(fd, 0o644)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror}") from None
    return path
