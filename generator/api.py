"""amlgen's public library API. The CLI is a thin layer over these functions.

    from generator import api
    root = api.project_root()
    results = api.render(root, ["dev"])           # write specs/dev/ (atomically; unchanged files untouched)
    api.render(root, None, check=True)            # raise CheckFailed (with .diff) if committed files are stale
    report = api.validate(root, envs=["dev"])     # SDK load_* + offline checks

Rendering and --check never import azure.ai.ml.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import Environment, environment_names, find_project_root, load_environment
from .errors import ConfigError
from .render import SPECS_DIR, TEMPLATE_DIR, RenderResult, render_environment
from .writer import WriteReport, check_files, write_files


def project_root(path: str | Path | None = None) -> Path:
    return find_project_root(Path(path) if path else None)


def select_envs(root: Path, envs: list[str] | None) -> list[str]:
    """``None`` or an empty list means every environment."""
    known = environment_names(root)
    if not known:
        raise ConfigError("no environments: add infra/environments/<env>.yml")
    if not envs:
        return known
    for name in envs:
        if name not in known:
            raise ConfigError(f"unknown environment '{name}' (known: {', '.join(known)})")
    return list(dict.fromkeys(envs))


def load_templates(root: Path) -> dict[str, str]:
    tdir = root / TEMPLATE_DIR
    if not tdir.is_dir():
        raise ConfigError(f"no {TEMPLATE_DIR}/ directory in {root}")
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(tdir.glob("*.j2"))}


def load_data_manifest(env: Environment, root: Path) -> dict[str, Any] | None:
    if env.config.data.assets.mode != "asset":
        return None
    from .data.assets import load_manifest

    return load_manifest(env, root)


@dataclass
class RenderOutcome:
    results: list[RenderResult]
    files: dict[str, str]
    owned_dirs: list[str]
    report: WriteReport | None = None
    warnings: list[str] = field(default_factory=list)


def render_files(root: Path, envs: list[str] | None, *, with_infra: bool = True, with_specs: bool = True) -> RenderOutcome:
    """Render (in memory) everything amlgen generates for the given environments. Raises before any write."""
    names = select_envs(root, envs)
    templates = load_templates(root) if with_specs else {}
    results: list[RenderResult] = []
    files: dict[str, str] = {}
    owned: list[str] = []
    warnings: list[str] = []
    loaded = [load_environment(root, name) for name in names]
    if with_infra and not envs:
        _check_infra_across(loaded)
    for env in loaded:
        if with_specs:
            result = render_environment(env, templates, load_data_manifest(env, root))
            results.append(result)
            files.update(result.files)
            owned.append(f"{SPECS_DIR}/{env.name}")
            warnings.extend(result.warnings)
        if with_infra:
            infra_files, infra_dir = _infra_files(env)
            if infra_dir:
                files.update(infra_files)
                owned.append(infra_dir)
    return RenderOutcome(results, files, owned, warnings=warnings)


def _check_infra_across(envs: list[Environment]) -> None:
    try:
        from .iac import check_environments
    except ImportError:  # the workspace IaC module is optional
        return
    check_environments(envs)


def _infra_files(env: Environment) -> tuple[dict[str, str], str | None]:
    try:
        from .iac import render_infra
    except ImportError:  # the workspace IaC module is optional
        return {}, None
    files = render_infra(env)
    dirs = {path.rsplit("/", 1)[0] for path in files}
    if len(dirs) != 1:
        raise ConfigError(f"internal: infra files for {env.name} span several directories: {sorted(dirs)}")
    return files, dirs.pop()


def render(root: Path, envs: list[str] | None, *, check: bool = False, with_infra: bool = True,
           with_specs: bool = True) -> RenderOutcome:
    """Render and write (or, with ``check``, compare and raise CheckFailed with a unified diff)."""
    outcome = render_files(root, envs, with_infra=with_infra, with_specs=with_specs)
    if check:
        check_files(root, outcome.files, outcome.owned_dirs)
    else:
        outcome.report = write_files(root, outcome.files, outcome.owned_dirs)
    return outcome


def spec_paths(root: Path, env: str) -> list[Path]:
    directory = root / SPECS_DIR / env
    if not directory.is_dir():
        raise ConfigError(f"no specs for environment '{env}' in {SPECS_DIR}/{env}/: run `amlgen render --env {env}`")
    return sorted(directory.glob("*.yml"))


def validate(root: Path, envs: list[str] | None = None, files: list[str] | None = None):
    """Validate the committed specs of ``envs`` (None = all) or the given files."""
    from .validate import validate_paths

    loaded: dict[str, Environment] = {}
    paths: list[Path] = []
    if files:
        paths = [Path(f) for f in files]
        for path in paths:
            if not path.is_file():
                raise ConfigError("no such spec file", where=str(path))
        for path in paths:
            resolved = path.resolve()
            if resolved.parent.parent == (root / SPECS_DIR).resolve() and resolved.parent.name in environment_names(root):
                loaded.setdefault(resolved.parent.name, load_environment(root, resolved.parent.name))
    else:
        for name in select_envs(root, envs):
            loaded[name] = load_environment(root, name)
            paths.extend(spec_paths(root, name))
    return validate_paths(paths, root, loaded)
