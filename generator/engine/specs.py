"""The resources of one specs folder, in the kinds table's order, read strictly (``generator.specset``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import SpecError
from ..kinds import Kind, Ref
from ..specset import load_entity, outside_message, outside_paths, read_specs
from ..yamlutil import dotted


@dataclass
class Resource:
    kind: Kind
    ref: Ref
    path: Path
    shown_path: str
    data: dict[str, Any] = field(repr=False)  # the spec as YAML (the fields it sets)
    loaded: Any = field(default=None, repr=False, compare=False)  # the gate's entity, handed out by the first load()

    @property
    def key(self) -> str:
        """A unique id within a specs folder (also the node id of apply's graph)."""
        return f"{self.kind.name}:{self.ref.shown}"

    @property
    def name(self) -> str:
        return self.ref.name

    @property
    def shown(self) -> str:
        return self.ref.shown

    def load(self) -> Any:
        """A fresh SDK entity for the spec (each call builds a new one: entities are mutable; the first call gets the
        one ``load_resources``' gate built and nobody else has seen)."""
        if self.loaded is not None:
            entity, self.loaded = self.loaded, None
            return entity
        try:
            return load_entity(self.kind, path=self.path)
        except Exception as exc:
            raise SpecError(f"azure-ai-ml cannot load it: {' '.join(str(exc).split())[:300]}",
                            where=self.shown_path) from None


def load_resources(folder: Path, expected: set[str], shown: str, root: Path | None = None,
                   env: str | None = None) -> list[Resource]:
    """Every spec of ``folder`` as a Resource, in apply order. ``expected``: the file names render generates;
    ``env``: the environment the specs must be rendered for. A spec the SDK cannot load, or whose keys its schema
    drops silently, is refused here as ``validate`` refuses it (``validate.sdk_check``)."""
    from ..validate import sdk_check

    out: list[Resource] = []
    for spec in read_specs(folder, expected, shown, env):
        ref = spec.kind.ref(spec.data)
        if not ref.name:
            raise SpecError("the spec has no name", where=spec.shown)
        if root is not None:
            _local_paths_inside(spec.data, spec.path, spec.shown, root)
        entity, problems = sdk_check(spec)
        if problems:
            raise SpecError(str(problems[0]))
        out.append(Resource(spec.kind, ref, spec.path, spec.shown, spec.data, loaded=entity))
    if not out:
        raise SpecError(f"no specs in {shown}: run `amlgen render`")
    keys = [r.key for r in out]
    dup = sorted({k for k in keys if keys.count(k) > 1})
    if dup:
        raise SpecError(f"more than one spec for {', '.join(dup)} in {shown}")
    return out


def _local_paths_inside(data: dict[str, Any], path: Path, shown: str, root: Path) -> None:
    """A spec may upload local files only from inside the project (``specset.outside_paths``)."""
    for keys, what in outside_paths(data, path, root)[:1]:
        raise SpecError(f"{dotted(keys)}: {outside_message(what)}", where=shown)
