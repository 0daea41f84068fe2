"""amlgen's public library API: the one facade. The CLI is a thin layer over these functions.

    from generator import api
    root = api.project_root()
    api.render(root, ["dev"])                       # write specs/dev/ (checked, atomic; unchanged files untouched)
    api.render(root, None, check=True)              # raise CheckFailed (with .diff) if committed files are stale
    report = api.validate(root, ["dev"])            # the gate for committed specs: SDK load_* + offline checks
    target = api.target(root, "local")              # or "azure" (DefaultAzureCredential)
    plan = api.plan(root, "dev", target=target)     # read-only
    result = api.apply(root, "dev", target=target, yes=True)
    api.invoke(root, "dev", target=target); api.destroy(root, "dev", target=target, yes=True)
    api.up(root, "dev")                             # the whole workflow on an in-process emulator

Data flows one way: ``infra/`` -> typed config with every offline rule (``config``/``checks``) -> render (pure)
-> output checked (YAML, SDK schema) -> written (``writer``, the only writer of specs) -> validate -> plan ->
apply (``engine``, through ``workspace``: the only module that talks to Azure). Rendering and ``--check``
never import azure.ai.ml.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import Environment, environment_names, load_all, load_environment
from .errors import ConfigError, SpecError
from .paths import SPECS_DIR, TEMPLATE_DIR, find_project_root, shown
from .render import DataInfo, RenderResult, render_environment
from .writer import WriteReport, check_files, write_files


# --------------------------------------------------------------------------- the project
def project_root(path: str | Path | None = None) -> Path:
    """The project at ``path`` (given by the user: must be one) or found from the current directory upwards."""
    return find_project_root(Path(path) if path else None, explicit=path is not None)


def environment(root: Path, name: str) -> Environment:
    return load_environment(root, name)


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
    from .yamlutil import read_text

    tdir = root / TEMPLATE_DIR
    if not tdir.is_dir():
        raise ConfigError(f"no {TEMPLATE_DIR}/ folder in {root}")
    return {p.name: read_text(p, f"{TEMPLATE_DIR}/{p.name}") for p in sorted(tdir.glob("*.j2"))}


def data_info(env: Environment, root: Path) -> DataInfo:
    """What the dataset step tells render about ``env``'s data (nothing for a deploying environment)."""
    if not env.trains:
        return DataInfo()
    from .data.assets import load_manifest
    from .data.inputs import data_info as info

    return info(env, root, load_manifest(env, root))


# --------------------------------------------------------------------------- render
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
    loaded = {e.name: e for e in load_all(root)}
    templates = load_templates(root) if with_specs else {}
    outcome = RenderOutcome([], {}, [])
    if with_infra and not envs:
        from .iac import check_environments

        check_environments(list(loaded.values()))
    for name in names:
        env = loaded[name]
        if with_specs:
            result = render_environment(env, templates, data_info(env, root), root)
            outcome.results.append(result)
            outcome.files.update(result.files)
            outcome.owned_dirs.append(f"{SPECS_DIR}/{name}")
            outcome.warnings.extend(result.warnings)
            outcome.warnings.extend(f"{c.where}: the model's model_specific_defaults set {c.name}: "
                                    f"{c.before!r} -> {c.after!r}" for c in result.changes)
        if with_infra:
            from .iac import params_dir, render_infra

            outcome.files.update(render_infra(env))
            outcome.owned_dirs.append(params_dir(name))
    return outcome


def verify_with_sdk(root: Path, outcome: RenderOutcome, only: set[str] | None = None) -> None:
    """Every rendered spec (or those in ``only``) loads with azure-ai-ml and sets no key its schema drops."""
    from .kinds import for_file
    from .specset import SpecFile
    from .validate import sdk_problems
    from .yamlutil import loads_with_origins

    for path, text in sorted(outcome.files.items()):
        if not path.startswith(f"{SPECS_DIR}/") or (only is not None and path not in only):
            continue
        kind = for_file(path.rsplit("/", 1)[-1])
        if kind is None:
            raise SpecError(f"render produced {path}, which no kind in the kinds table names")
        data, origins = loads_with_origins(text, path)
        spec = SpecFile(root / path, path, kind, data, origins)
        problems = sdk_problems(spec, text=text, origin=(root / path).parent)
        if problems:
            raise SpecError(f"render produced a spec azure-ai-ml refuses ({problems[0]}); fix templates/"
                            f"{kind.template}")


def render(root: Path, envs: list[str] | None, *, check: bool = False, with_infra: bool = True,
           with_specs: bool = True, verify: bool = True) -> RenderOutcome:
    """Render and write (or, with ``check``, compare and raise CheckFailed with a unified diff).

    Everything is produced and checked before the first byte is written: the YAML of every spec (in render),
    and, for the specs that will change, the SDK's schema (``verify_with_sdk``).
    """
    outcome = render_files(root, envs, with_infra=with_infra, with_specs=with_specs)
    if check:
        check_files(root, outcome.files, outcome.owned_dirs)
        return outcome
    from .locks import hold
    from .writer import changed_files

    with hold(root, "render", "render"):
        changed = changed_files(root, outcome.files, outcome.owned_dirs)
        if verify and any(p.startswith(f"{SPECS_DIR}/") for p in changed):
            verify_with_sdk(root, outcome, set(changed))
        outcome.report = write_files(root, outcome.files, outcome.owned_dirs)
    return outcome


def expected_specs(root: Path, env: Environment) -> set[str]:
    """The file names render generates for ``env`` (a managed specs folder may hold only these)."""
    result = render_environment(env, load_templates(root), data_info(env, root), root)
    return {path.rsplit("/", 1)[-1] for path in result.files}


# --------------------------------------------------------------------------- validate
def spec_folder(root: Path, env: str) -> Path:
    return root / SPECS_DIR / env


def validate(root: Path, envs: list[str] | None = None, files: list[str] | None = None):
    """Validate the committed specs of ``envs`` (None = all) or the given files. Returns a ``validate.Report``."""
    from .validate import Report, validate_files, validate_folder

    if files:
        paths = [Path(f) for f in files]
        for path in paths:
            if not path.is_file():
                raise ConfigError("no such spec file", where=str(path))
        return validate_files(paths, root)
    report = Report()
    loaded = {e.name: e for e in load_all(root)}
    for name in select_envs(root, envs):
        folder = spec_folder(root, name)
        if not folder.is_dir():
            raise ConfigError(f"no specs for environment '{name}' in {SPECS_DIR}/{name}/: run `amlgen render --env {name}`")
        validate_folder(folder, expected_specs(root, loaded[name]), shown(folder, root), root, loaded[name], report)
    report.problems.sort(key=lambda p: (p.file, p.line, p.field))
    return report


# --------------------------------------------------------------------------- the workspace
def target(root: Path, name: str = "azure", workspace_config: str | Path | None = None) -> Any:
    """Where plan/apply/invoke/destroy point: ``azure`` or ``local`` (the project's running ``amlgen emulator``)."""
    from .errors import UsageProblem

    if name == "local":
        if workspace_config:
            raise UsageProblem("--workspace-config applies to --target azure only")
        from .emulator.target import running_target

        return running_target(root)
    if name == "azure":
        from .workspace import AzureTarget

        return AzureTarget(str(workspace_config) if workspace_config else None)
    raise UsageProblem(f"--target must be azure or local, got {name!r}")


@dataclass
class Session:
    """One command's view of an environment: config, specs and an open workspace (``with`` closes it)."""

    root: Path
    env: Environment
    resources: list[Any]
    ws: Any

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.ws.close()


def session(root: Path, env_name: str, *, target: Any, specs: Path | None = None, retry_total: int | None = None,
            retry_backoff_factor: float | None = None) -> Session:
    from .engine.specs import load_resources
    from .workspace import Workspace

    env = load_environment(root, env_name)
    folder = Path(specs) if specs is not None else spec_folder(root, env_name)
    if not folder.is_dir():
        raise SpecError(f"no specs in {shown(folder, root)}: run `amlgen render --env {env_name}`")
    resources = load_resources(folder, expected_specs(root, env), shown(folder, root), root)
    ws = Workspace.connect(env, target=target, retry_total=retry_total, retry_backoff_factor=retry_backoff_factor)
    return Session(root, env, resources, ws)


LOCAL_POLL = 0.05  # seconds between job polls against the emulator
AZURE_POLL = 15.0


def plan(root: Path, env: str, *, target: Any, specs: Path | None = None, **connect: Any):
    from .engine.plan import make_plan

    with session(root, env, target=target, specs=specs, **connect) as s:
        return make_plan(s.ws, env, s.resources)


def apply(root: Path, env: str, *, target: Any, specs: Path | None = None, yes: bool = False,
          ask: Callable[[str], bool] | None = None, reporter: Any = None, poll_interval: float | None = None,
          job_timeout: float | None = None, allow_replace: bool = False, sequential: bool = False, **connect: Any):
    from .engine.apply import apply as run
    from .engine.safety import guard
    from .locks import hold

    with session(root, env, target=target, specs=specs, **connect) as s:
        guard(root, s.env, s.ws, action=f"Apply {env}'s specs to it", yes=yes, ask=ask)
        poll = poll_interval if poll_interval is not None else (LOCAL_POLL if s.ws.target.is_local else AZURE_POLL)
        with hold(root, f"apply-{env}", "apply"):
            if reporter is not None:
                reporter.line(f"Applying {shown(s.resources[0].path.parent, root)} to {s.ws.label}")
            return run(s.ws, s.resources, env, reporter=reporter, poll_interval=poll, sequential=sequential,
                       job_timeout=job_timeout, allow_replace=allow_replace)


def default_request(env: Environment, root: Path) -> Path | None:
    """The dataset step's sample request for the environment, if it was written."""
    if not env.trains:
        return None
    from .data import sample_request_path

    path = sample_request_path(env, root)
    return path if path.is_file() else None


def invoke(root: Path, env: str, *, target: Any, request: Path | None = None, specs: Path | None = None,
           deployment: str | None = None, **connect: Any) -> str:
    from .engine.ops import invoke as run

    with session(root, env, target=target, specs=specs, **connect) as s:
        return run(s.ws, s.env, s.resources, request or default_request(s.env, root), deployment)


def destroy(root: Path, env: str, *, target: Any, specs: Path | None = None, only: str | None = None,
            include_compute: bool = False, yes: bool = False, ask: Callable[[str], bool] | None = None,
            reporter: Any = None, **connect: Any) -> list[str]:
    from .engine.ops import destroy as run
    from .engine.safety import guard

    with session(root, env, target=target, specs=specs, **connect) as s:
        def confirm(action: str) -> None:
            guard(root, s.env, s.ws, action=action, yes=yes, ask=ask, always_ask=True)

        return run(s.ws, s.env, s.resources, only=only, include_compute=include_compute, reporter=reporter,
                   confirm=confirm)


def up(root: Path, env: str = "dev", **kwargs: Any):
    from .engine.up import up as run

    return run(root, env, **kwargs)


# --------------------------------------------------------------------------- a new project (amlgen init)
def init(path: str | Path, answers: Any = None, *, existing: bool = False):
    """Start a project at ``path`` from the installed amlgen's scaffold, whole or not at all. ``answers`` is a
    ``scaffold.Answers`` (``scaffold.answers(envs, subscription=..., workspace=...)``); None: dev and prod with
    marked placeholders. Returns a ``scaffold.create.InitReport``."""
    from .scaffold import Answers
    from .scaffold.create import create

    return create(Path(path), answers if answers is not None else Answers(), existing=existing)


def init_diff(root: Path):
    """How the installed amlgen's scaffold differs from the project's files, file by file (writes nothing).
    Returns a ``scaffold.upgrade.ScaffoldDiff``."""
    from .scaffold.upgrade import diff

    return diff(root)


def init_update(root: Path):
    """Take the installed amlgen's version of every scaffold file the project has not edited (and new ones);
    never touches an edited file. Returns the ``ScaffoldDiff`` it acted on."""
    from .scaffold.upgrade import update

    return update(root)
