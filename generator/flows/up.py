"""``amlgen up``: the whole workflow against an in-process emulator, without an Azure account.

Bundled data sample -> render into ``.amlgen/local/`` -> validate -> plan -> apply -> invoke -> plan again, then
the emulator stops. Never touches ``specs/`` or ``data/``: the scratch folder is a project of its own.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..engine.apply import ApplyResult, Reporter
from ..engine.plan import Plan
from ..errors import AzureError, SpecError

UP_LATENCIES = {"compute": 0.2, "endpoint": 0.2, "deployment": 0.3, "model": 0.05, "data": 0.0, "delete": 0.1,
                "cancel": 0.05}
UP_JOB_DURATION = 2.0
SCRATCH = ".amlgen/local"


@dataclass
class UpResult:
    scratch: Path
    plan_before: Plan
    apply: ApplyResult
    plan_after: Plan
    response: str
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)


def provision(emu: Any, envs: list) -> None:
    """What infra/bicep provisions, in an emulator: each environment's workspace in its region, and the promotion
    registry replicated to its locations (so the region rules apply as they would in Azure)."""
    for env in envs:
        w = env.config.workspace
        emu.add_workspace(w.subscription_id, w.resource_group, w.name, w.location)
        registry = env.config.promotion_registry
        if registry is not None and registry.name not in {r["name"] for r in emu.registries}:
            emu.add_registry(registry.name, list(registry.locations))


def prepare_project(root: Path, env_name: str, rep: Reporter) -> Path:
    """Prepare the bundled data sample in ``root`` and render the environment's specs there (no infra params)."""
    import io

    from .. import project as api
    from ..data import prepare, sample_request
    from ..data.progress import Reporter as DataReporter

    env = api.environment(root, env_name)
    result = prepare(env.config.data, root, source="sample", reporter=DataReporter(io.StringIO()))
    rep.line(f"data: bundled sample -> {result.output_dir.relative_to(root)} "
             f"({'up to date' if result.up_to_date else 'prepared'})")
    sample_request(env, root)
    outcome = api.render(root, [env_name], with_infra=False)
    report = outcome.report
    assert report is not None
    rep.line(f"render: {len(outcome.files)} specs -> specs/{env_name}/ "
             f"({len(report.written)} written, {len(report.unchanged)} unchanged)")
    return root / "specs" / env_name


def render_scratch(root: Path, env_name: str, rep: Reporter) -> Path:
    """A scratch project under ``.amlgen/local/``: the project's infra/ and templates/, the bundled sample, specs."""
    import shutil

    scratch = root / SCRATCH
    scratch.mkdir(parents=True, exist_ok=True)
    for name in ("infra", "templates"):
        target = scratch / name
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(root / name, target, ignore=shutil.ignore_patterns("params", "__pycache__"))
    prepare_project(scratch, env_name, rep)
    return scratch


def up(root: Path, env_name: str = "dev", *, reporter: Reporter | None = None, latencies: dict | None = None,
       job_duration: float | None = None) -> UpResult:
    """Emulator in-process, sample data, render to .amlgen/local/, validate, plan, apply, invoke, summary, stop."""
    from .. import project as api
    from ..emulator import Emulator
    from ..emulator.target import LocalTarget
    from ..engine.planview import format_text

    rep = reporter or Reporter()
    t0 = time.monotonic()
    env = api.environment(root, env_name)
    timings: dict[str, float] = {}
    t = time.monotonic()
    scratch = render_scratch(root, env_name, rep)
    report = api.validate(scratch, [env_name])
    for problem in report.warnings:
        rep.line(f"warning: {problem}")
    if report.errors:
        raise SpecError(f"{len(report.errors)} problem(s); first: {report.errors[0]}")
    rep.line(f"validate: {len(report.files)} specs valid")
    timings["render+validate"] = time.monotonic() - t
    w = env.config.workspace
    emu = Emulator(latencies={**UP_LATENCIES, **(latencies or {})},
                   job_duration=UP_JOB_DURATION if job_duration is None else job_duration,
                   subscription_id=w.subscription_id, resource_group=w.resource_group, workspace_name=w.name,
                   location=w.location)
    emu.start()
    try:
        provision(emu, api.load_all(root))
        rep.line(f"emulator: {emu.base_url} (in-process)")
        target = LocalTarget(emu.base_url, emu.ca_path)
        t = time.monotonic()
        before = api.plan(scratch, env_name, target=target)
        rep.line(format_text(before).rstrip())
        timings["plan"] = time.monotonic() - t
        t = time.monotonic()
        result = api.apply(scratch, env_name, target=target, yes=True, reporter=rep)
        timings["apply"] = time.monotonic() - t
        if not result.ok:
            raise AzureError(f"apply failed: {result.errors[0]}")
        after = api.plan(scratch, env_name, target=target)
        t = time.monotonic()
        response = api.invoke(scratch, env_name, target=target)
        timings["invoke"] = time.monotonic() - t
    finally:
        emu.stop()
    return UpResult(scratch, before, result, after, response, time.monotonic() - t0, timings)
