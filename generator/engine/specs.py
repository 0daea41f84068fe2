"""The resources of one specs directory, in apply order, loaded with azure-ai-ml ``load_*``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import SpecError

# spec kind (validate.SCHEMA_KINDS) -> engine kind
ENGINE_KIND = {
    "compute": "compute",
    "data": "data",
    "pipeline_job": "job",
    "model": "model",
    "online_endpoint": "endpoint",
    "online_deployment": "deployment",
}
SPEC_KIND = {engine: spec for spec, engine in ENGINE_KIND.items()}
ORDER = ("compute", "data", "job", "model", "endpoint", "deployment", "traffic")


@dataclass
class Resource:
    kind: str  # compute | data | job | model | endpoint | deployment | traffic
    name: str
    path: Path
    data: dict[str, Any] = field(repr=False)  # the spec as YAML (the fields it sets)
    version: str | None = None
    endpoint: str | None = None  # deployments

    @property
    def key(self) -> str:
        """A unique id within a specs directory (also the DAG node id)."""
        if self.kind == "data":
            return f"data:{self.name}"
        return self.kind

    @property
    def shown(self) -> str:
        if self.version:
            return f"{self.name}:{self.version}"
        if self.endpoint:
            return f"{self.endpoint}/{self.name}"
        return self.name

    def load(self) -> Any:
        """A fresh SDK entity for the spec (each call builds a new one: entities are mutable)."""
        from ..validate import sdk_loaders

        spec_kind = "online_endpoint" if self.kind == "traffic" else SPEC_KIND[self.kind]
        try:
            return sdk_loaders()[spec_kind](source=str(self.path))
        except Exception as exc:
            raise SpecError(f"azure-ai-ml cannot load it: {' '.join(str(exc).split())[:300]}", where=str(self.path)) from None


def load_resources(spec_dir: Path) -> list[Resource]:
    """Every spec of ``spec_dir`` as a Resource, in apply order."""
    from ..validate import kind_of

    if not spec_dir.is_dir():
        raise SpecError(f"no specs directory {spec_dir}: run `amlgen render`")
    out: list[Resource] = []
    for path in sorted(spec_dir.glob("*.yml")):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise SpecError(f"not valid YAML: {exc}", where=str(path)) from None
        if not isinstance(data, dict):
            raise SpecError("a spec must be a YAML mapping", where=str(path))
        kind = ENGINE_KIND.get(kind_of(data) or "")
        if kind is None:
            raise SpecError("unknown spec kind: no recognised $schema or type", where=str(path))
        if kind == "endpoint" and path.name == "endpoint-traffic.yml":
            kind = "traffic"
        name = str(data.get("name") or "")
        if not name:
            raise SpecError("the spec has no name", where=str(path))
        version = str(data["version"]) if kind in ("data", "model") and data.get("version") is not None else None
        out.append(Resource(kind, name, path, data, version, str(data.get("endpoint_name") or "") or None))
    if not out:
        raise SpecError(f"no specs in {spec_dir}: run `amlgen render`")
    keys = [r.key for r in out]
    dup = sorted({k for k in keys if keys.count(k) > 1})
    if dup:
        raise SpecError(f"more than one spec for {', '.join(dup)} in {spec_dir}")
    out.sort(key=lambda r: (ORDER.index(r.kind), r.name))
    return out
