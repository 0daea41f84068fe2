"""One loaded environment (``Environment``): its typed config, the files and lines its keys came from, and what
the offline rules found. ``config`` builds it; ``checks`` and everything after read it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .names import unique_endpoint_name
from .settings import EnvConfig
from .yamlutil import KeyPath, Origins, dotted


@dataclass
class Environment:
    """One loaded environment: its name, typed config and where each key came from."""

    name: str
    config: EnvConfig
    files: list[str]
    origins: Origins = field(default_factory=dict, repr=False)
    raw: dict[str, Any] = field(default_factory=dict, repr=False)
    warnings: list[str] = field(default_factory=list)  # from the offline rules (generator.checks)
    model: Any = None  # the foundation model's locked facts (generator.lock.LockedModel), set by checks
    lock: Any = None  # the project's lock (generator.lock.Lock), set by checks
    component_version: str = ""  # the component version the lock resolved, set by checks
    raw_own: dict[str, Any] = field(default_factory=dict, repr=False)  # the environment file's own mapping

    @property
    def trains(self) -> bool:
        return self.config.environment.role == "train"

    def where(self, *path: str | int) -> str:
        """``file:line: key.path`` for the most specific known prefix of ``path``."""
        return where(self.origins, tuple(path), self.files[-1])

    @property
    def file(self) -> str:
        """The environment's own file (``infra/environments/<env>.yml``)."""
        return self.files[-1]

    @property
    def workspace_id(self) -> tuple[str, str, str]:
        """(subscription, resource group, workspace), lower-cased: how Azure compares them."""
        w = self.config.workspace
        return (w.subscription_id.lower(), w.resource_group.lower(), w.name.lower())

    @property
    def endpoint_name(self) -> str:
        """The online endpoint's name: explicit, or derived unique-by-construction (``names.unique_endpoint_name``)."""
        ep, w = self.config.endpoint, self.config.workspace
        if ep.name:
            return ep.name
        return unique_endpoint_name(ep.name_prefix, self.name, w.subscription_id, w.resource_group, w.name)


def where(origins: Origins, path: KeyPath, fallback: str) -> str:
    probe = path
    while probe and probe not in origins:
        probe = probe[:-1]
    file, line = origins.get(probe, (fallback, 0))
    loc = f"{file}:{line}" if line else file
    return f"{loc}: {dotted(path)}" if path else loc
