"""Operations on one project — render, validate, plan, apply, invoke, destroy, lock, rollback, reap, runs — that
``generator.api`` offers. The workflows built from them (``flows.up``, ``flows.promote``, ``scaffold``) import
this module, not the facade, so the facade stays on top and nothing imports back up into it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import Environment, environment_names, load_all, load_environment
from .errors import AmlgenError, ConfigError, SpecError
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
    return {p.name: read_text(p, f"{TEMPLATE_DIR}/{p.name}", root=root) for p in sorted(tdir.glob("*.j2"))}


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
            if result.changes:
                model = env.model
                listed = ", ".join(f"{c.name} {c.before!r} -> {c.after!r}" + (f" (set at {c.where.split(': ')[0]})"
                                                                               if c.where else "")
                                   for c in result.changes)
                outcome.warnings.append(
                    f"{model.where}: {name}: {model.name} {model.version}'s model_specific_defaults override "
                    f"{len(result.changes)} fine-tuning parameter(s), as the notebook does: {listed}; keep a value "
                    "of yours with finetune_keep")
        if with_infra:
            from .iac import params_dir, render_infra

            outcome.files.update(render_infra(env))
            outcome.owned_dirs.append(params_dir(name))
    return outcome


def render(root: Path, envs: list[str] | None, *, check: bool = False, with_infra: bool = True,
           with_specs: bool = True, verify: bool = True) -> RenderOutcome:
    """Render and write (or, with ``check``, compare and raise CheckFailed with a unified diff).

    Everything is produced and checked before the first byte is written: the YAML of every spec (in render),
    and, for the specs that will change, the SDK's schema (``validate.verify_rendered``).
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
            from .validate import verify_rendered

            verify_rendered(root, outcome.files, set(changed))
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
    from .validate import Problem

    report = Report()
    loaded = {e.name: e for e in load_all(root)}
    for name in select_envs(root, envs):
        for warning in loaded[name].warnings:  # the offline rules' findings about infra/ (lifecycle, exceptions)
            where, _, message = warning.partition(": ")
            report.problems.append(Problem(where, 0, "", message, "warning"))
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
    resources = load_resources(folder, expected_specs(root, env), shown(folder, root), root, env_name)
    ws = Workspace.connect(env, target=target, retry_total=retry_total, retry_backoff_factor=retry_backoff_factor)
    return Session(root, env, resources, ws)


LOCAL_POLL = 0.05  # seconds between job polls against the emulator
AZURE_POLL = 15.0


def plan(root: Path, env: str, *, target: Any, specs: Path | None = None, **connect: Any):
    from .engine import costs, expiry
    from .engine.plan import make_plan
    from .pricing import load_table

    table = load_table(root)  # a malformed infra/prices.yaml fails before anything is read from Azure
    with session(root, env, target=target, specs=specs, **connect) as s:
        result = make_plan(s.ws, env, s.resources, s.env.config.rollout)
    costs.annotate(result, s.env, s.resources, table)
    expiry.annotate(result, s.env)
    return result


def apply(root: Path, env: str, *, target: Any, specs: Path | None = None, yes: bool = False,
          ask: Callable[[str], bool] | None = None, reporter: Any = None, poll_interval: float | None = None,
          job_timeout: float | None = None, allow_replace: bool = False, allow_retired: bool = False,
          sequential: bool = False, **connect: Any):
    from .engine.apply import apply as run
    from .engine.safety import guard, retired_finetune
    from .locks import hold_env

    with session(root, env, target=target, specs=specs, **connect) as s:
        guard(root, s.env, s.ws, action=f"Apply {env}'s specs to it", yes=yes, ask=ask)
        retired_finetune(s.env, s.ws, s.resources, allow=allow_retired, reporter=reporter)
        from .data.inputs import check_job_data

        check_job_data(root, s.env, s.resources, s.ws)
        poll = poll_interval if poll_interval is not None else (LOCAL_POLL if s.ws.target.is_local else AZURE_POLL)
        with hold_env(root, env, "apply", s.ws):
            if reporter is not None:
                reporter.line(f"Applying {shown(s.resources[0].path.parent, root)} to {s.ws.label}")
            return run(s.ws, s.resources, env, reporter=reporter, poll_interval=poll, sequential=sequential,
                       job_timeout=job_timeout, allow_replace=allow_replace, rollout=s.env.config.rollout,
                       request=sample_request(s.env, root), endpoint_ttl=s.env.config.endpoint.ttl_hours)


def sample_request(env: Environment, root: Path) -> dict[str, Any]:
    """The request the smoke test scores: the environment's prepared sample request, else a built-in one."""
    from .engine.ops import default_request as builtin
    from .yamlutil import MAX_REQUEST_BYTES, read_json

    path = default_request(env, root)
    if path is not None:
        try:
            return read_json(path, str(path), limit=MAX_REQUEST_BYTES, error=AmlgenError)
        except AmlgenError:
            pass
    return builtin(env)


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
    from contextlib import ExitStack

    from .engine.ops import destroy as run
    from .engine.safety import guard
    from .locks import hold_env

    with session(root, env, target=target, specs=specs, **connect) as s:
        def confirm(action: str) -> None:
            guard(root, s.env, s.ws, action=action, yes=yes, ask=ask, always_ask=True)
            stack.enter_context(hold_env(root, env, "destroy", s.ws))  # once confirmed, before the first delete

        with ExitStack() as stack:
            return run(s.ws, s.env, s.resources, only=only, include_compute=include_compute, reporter=reporter,
                       confirm=confirm)


# --------------------------------------------------------------------------- the lock
def lock(root: Path, *, target: Any, upgrade: bool = False, check: bool = False, **connect: Any):
    """Resolve every environment's foundation model and component through their registries; write infra/lock.yml
    (with ``check``: compare with the committed lock and write nothing)."""
    from .engine.registry import lock_project

    return lock_project(root, target=target, upgrade=upgrade, check=check, **connect)


def rollback(root: Path, env: str, *, target: Any, specs: Path | None = None, yes: bool = False,
             ask: Callable[[str], bool] | None = None, reporter: Any = None, **connect: Any) -> tuple[str, str]:
    """Move the endpoint's traffic back to the previous deployment (kept by ``rollout.keep``)."""
    from .engine.rollout import rollback_session

    with session(root, env, target=target, specs=specs, **connect) as s:
        return rollback_session(root, s, sample_request(s.env, root), yes=yes, ask=ask, reporter=reporter)


# --------------------------------------------------------------------------- GitOps helpers
def reap(root: Path, env: str, *, target: Any, dry_run: bool = False, now: Any = None, reporter: Any = None,
         **connect: Any):
    """Delete the expired endpoints of an unprotected environment with ``endpoint.ttl_hours`` (see engine.expiry)."""
    from contextlib import ExitStack

    from .engine.expiry import reap as run
    from .engine.expiry import refuse_protected
    from .locks import hold
    from .workspace import Workspace

    environment = load_environment(root, env)
    refuse_protected(environment)  # before anything is read from Azure
    with Workspace.connect(environment, target=target, **connect) as ws, hold(root, f"apply-{env}", "reap"), \
            ExitStack() as stack:
        # the workspace lease only once an endpoint is to be deleted: a reap with nothing to do writes nothing
        return run(root, environment, ws, dry_run=dry_run, now=now, reporter=reporter,
                   before_delete=lambda: stack.enter_context(ws.lease(env, "reap")))


def changed(root: Path, base: str | None, *, every: bool = False):
    """The environments a change since ``base`` touches (``changes.Touched``)."""
    from .changes import touched

    return touched(root, base, every=every)


def refresh_prices(root: Path, *, regions: list[str] | None = None, base_url: str | None = None):
    """Fetch current prices from the Azure Retail Prices API into the project's infra/prices.yaml (never the
    installed package's table). Regions default to the environments' workspace locations."""
    from .pricing import OVERRIDE_TABLE, RETAIL_PRICES_URL, refresh

    wanted = regions or sorted({e.config.workspace.location for e in load_all(root)})
    return refresh(root / OVERRIDE_TABLE, regions=wanted, base_url=base_url or RETAIL_PRICES_URL)


# --------------------------------------------------------------------------- watching the pipeline job
def pipeline_job_name(s: Session) -> str:
    """The name of the environment's pipeline job (``specs/<env>/pipeline-job.yml``)."""
    jobs = [r for r in s.resources if r.kind.name == "job"]
    if not jobs:
        raise ConfigError(f"environment '{s.env.name}' runs no pipeline job (its specs have no pipeline-job.yml)")
    return jobs[0].name


def logs(root: Path, env: str, *, target: Any, step: str | None = None, follow: bool = False,
         emit: Callable[[str], None] = print, specs: Path | None = None, poll_interval: float | None = None,
         **connect: Any) -> str:
    """Print the pipeline job's execution log (or one step's log); with ``follow``, until it ends. Returns the
    status of the job (or of the step)."""
    from .engine.runs import follow_log, read_log

    with session(root, env, target=target, specs=specs, **connect) as s:
        name = pipeline_job_name(s)
        if follow:
            poll = poll_interval if poll_interval is not None else (LOCAL_POLL if s.ws.target.is_local else 5.0)
            return follow_log(s.ws, name, step, emit, poll_interval=poll)
        _, text, status = read_log(s.ws, name, step)
        for line in text.splitlines():
            emit(line)
        return status


def metrics(root: Path, env: str, *, target: Any, specs: Path | None = None, history: bool = True,
            **connect: Any):
    """The metrics the pipeline job's runs logged (``engine.runs.JobMetrics``)."""
    from .engine.runs import job_metrics

    with session(root, env, target=target, specs=specs, **connect) as s:
        return job_metrics(s.ws, pipeline_job_name(s), history=history)
