"""The engine's library API (the CLI in ``generator.engine.cli`` is a thin layer over it)."""

from __future__ import annotations

import json
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import Environment, load_environment
from ..errors import AmlgenError, AzureError, UsageProblem
from ..render import SPECS_DIR
from ..workspace import Target, Workspace, read_emulator_state
from .apply import ApplyResult, Reporter, apply as apply_resources
from .plan import Plan, make_plan
from .specs import Resource, load_resources

LOCAL_POLL = 0.05  # seconds between job polls against the emulator
AZURE_POLL = 15.0


def resolve_target(root: Path, target: str, workspace_config: str | Path | None = None) -> Target:
    if target == "local":
        if workspace_config:
            raise UsageProblem("--workspace-config applies to --target azure only")
        return read_emulator_state(root)
    if target == "azure":
        return Target.azure(workspace_config)
    raise UsageProblem(f"--target must be azure or local, got {target!r}")


def open_workspace(env: Environment | None, target: Target, *, retry_total: int | None = None,
                   retry_backoff_factor: float | None = None) -> Workspace:
    return Workspace.connect(env, target=target, retry_total=retry_total, retry_backoff_factor=retry_backoff_factor)


def spec_dir(root: Path, env: str) -> Path:
    return root / SPECS_DIR / env


def confirm(question: str, *, yes: bool, what: str, ask: Callable[[str], bool] | None = None) -> None:
    """Go on with --yes, or after an interactive 'yes'; refuse without a terminal."""
    if yes:
        return
    if ask is None:
        if not (sys.stdin and sys.stdin.isatty()):
            raise UsageProblem(f"{what}: pass --yes to confirm (no terminal to ask on)")
        import typer

        ask = lambda q: typer.confirm(q, default=False)  # noqa: E731
    if not ask(question):
        raise AmlgenError(f"{what}: not confirmed; nothing was changed")


# --------------------------------------------------------------------------- plan / apply
def plan(ws: Workspace, env: Environment, specs: Path, root: Path | None = None) -> Plan:
    return make_plan(ws, env.name, load_resources(specs), root)


def apply(ws: Workspace, env: Environment, specs: Path, *, yes: bool = False, reporter: Reporter | None = None,
          poll_interval: float | None = None, sequential: bool = False, ask: Callable[[str], bool] | None = None,
          job_timeout: float | None = None) -> ApplyResult:
    resources = load_resources(specs)
    if env.config.environment.protected:
        confirm(f"Environment '{env.name}' is protected. Apply {specs} to {ws.label}?", yes=yes,
                what=f"environment '{env.name}' is protected", ask=ask)
    poll = poll_interval if poll_interval is not None else (LOCAL_POLL if ws.target.is_local else AZURE_POLL)
    return apply_resources(ws, resources, env.name, reporter=reporter, poll_interval=poll, sequential=sequential,
                           job_timeout=job_timeout)


# --------------------------------------------------------------------------- invoke / destroy
def default_request(env: Environment, root: Path) -> Path:
    """The dataset step's sample request for the env if it exists, else a tiny built-in chat request."""
    try:
        from ..data import sample_request_path

        path = sample_request_path(env, root)
        if path.is_file():
            return path
    except Exception:  # the dataset step is optional here
        pass
    inf = env.config.inference
    body = {"input_data": {"input_string": [{"role": "user", "content": "What is the capital of France?"}],
                           "parameters": {"temperature": inf.temperature, "top_p": inf.top_p,
                                          "do_sample": inf.do_sample, "max_new_tokens": inf.max_new_tokens}}}
    tmp = Path(tempfile.mkdtemp(prefix="amlgen-request-")) / "request.json"
    tmp.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
    return tmp


def endpoint_of(specs: Path) -> tuple[str, str | None]:
    """(endpoint name, deployment name) from the specs."""
    endpoint = deployment = None
    for r in load_resources(specs):
        if r.kind in ("endpoint", "traffic"):
            endpoint = r.name
        elif r.kind == "deployment":
            deployment = r.name
            endpoint = endpoint or r.endpoint
    if endpoint is None:
        raise AmlgenError(f"no endpoint spec in {specs}")
    return endpoint, deployment


def invoke(ws: Workspace, env: Environment, specs: Path, root: Path, request: Path | None = None) -> str:
    endpoint, _ = endpoint_of(specs)
    req = Path(request) if request else default_request(env, root)
    if not req.is_file():
        raise AmlgenError("no such request file", where=str(req))
    if ws.get("endpoint", endpoint) is None:
        raise AzureError(f"endpoint '{endpoint}': does not exist: run `amlgen apply --env {env.name}` first")
    return ws.invoke(endpoint, req)


def destroy(ws: Workspace, env: Environment, specs: Path, *, only: str | None = None, include_compute: bool = False,
            yes: bool = False, reporter: Reporter | None = None, ask: Callable[[str], bool] | None = None) -> list[str]:
    """Remove what the notebook's cleanup removes: the endpoint (with its deployments); the compute optionally."""
    rep = reporter or Reporter()
    resources = load_resources(specs)
    endpoint, _ = endpoint_of(specs)
    compute = next((r.name for r in resources if r.kind == "compute"), None)
    targets: list[tuple[str, str]] = []
    if only not in (None, "endpoint", "compute"):
        raise UsageProblem(f"--only must be endpoint or compute, got {only!r}")
    if only in (None, "endpoint"):
        targets.append(("endpoint", endpoint))
    if (only == "compute" or (only is None and include_compute)) and compute:
        targets.append(("compute", compute))
    shown = ", ".join(f"{k} '{n}'" for k, n in targets)
    what = f"destroy {shown} in {ws.label}"
    if env.config.environment.protected:
        what = f"environment '{env.name}' is protected: {what}"
    confirm(f"Delete {shown} from {ws.label}?", yes=yes, what=what, ask=ask)
    ws.check()
    removed = []
    for kind, name in targets:
        rep.line(f"- {kind} {name}: deleting")
        if ws.delete(kind, name):
            rep.line(f"  {kind} {name}: deleted")
            removed.append(f"{kind} {name}")
        else:
            rep.line(f"  {kind} {name}: does not exist")
    return removed


# --------------------------------------------------------------------------- up
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


def render_scratch(root: Path, env: Environment, scratch: Path, rep: Reporter) -> Path:
    """Prepare the bundled sample and render the env under ``scratch`` (specs byte-identical to committed ones)."""
    from ..api import load_data_manifest, load_templates
    from ..render import render_environment
    from ..writer import write_files

    try:
        from ..data import prepare, sample_request
    except ImportError as exc:  # pragma: no cover - the dataset step is part of amlgen
        raise AmlgenError(f"the dataset step is unavailable: {exc}") from exc
    from ..data.progress import Reporter as DataReporter

    result = prepare(env.config.data, scratch, source="sample", reporter=_quiet_data_reporter(DataReporter))
    rep.line(f"data: bundled sample -> {result.output_dir.relative_to(root) if result.output_dir.is_relative_to(root) else result.output_dir}"
             f" ({'up to date' if result.up_to_date else 'prepared'})")
    sample_request(env, scratch)
    manifest = load_data_manifest(env, scratch)
    rendered = render_environment(env, load_templates(root), manifest)
    report = write_files(scratch, rendered.files, [f"{SPECS_DIR}/{env.name}"])
    rep.line(f"render: {len(rendered.files)} specs -> {SCRATCH}/{SPECS_DIR}/{env.name}/ "
             f"({len(report.written)} written, {len(report.unchanged)} unchanged)")
    return scratch / SPECS_DIR / env.name


def _quiet_data_reporter(cls: Any) -> Any:
    import io

    return cls(io.StringIO())  # the step's own lines are summarised by one line of ours


def up(root: Path, env_name: str = "dev", *, reporter: Reporter | None = None, latencies: dict | None = None,
       job_duration: float | None = None) -> UpResult:
    """Emulator in-process, sample data, render to .amlgen/local/, validate, plan, apply, invoke, summary, stop."""
    from ..emulator import Emulator
    from ..validate import validate_paths
    from .plan import format_text

    rep = reporter or Reporter()
    t0 = time.monotonic()
    env = load_environment(root, env_name)
    scratch = root / SCRATCH
    timings: dict[str, float] = {}
    t = time.monotonic()
    specs = render_scratch(root, env, scratch, rep)
    report = validate_paths(sorted(specs.glob("*.yml")), scratch, {env.name: env})
    for problem in report.warnings:
        rep.line(f"warning: {problem}")
    if report.errors:
        from ..errors import SpecError

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
        rep.line(f"emulator: {emu.base_url} (in-process)")
        with Workspace.connect(env, target=Target.local(emu.base_url, emu.ca_path)) as ws:
            t = time.monotonic()
            before = make_plan(ws, env.name, load_resources(specs), scratch)
            rep.line(format_text(before).rstrip())
            timings["plan"] = time.monotonic() - t
            t = time.monotonic()
            result = apply(ws, env, specs, yes=True, reporter=rep)
            timings["apply"] = time.monotonic() - t
            if not result.ok:
                raise AzureError(f"apply failed: {result.errors[0]}")
            after = make_plan(ws, env.name, load_resources(specs), scratch)
            t = time.monotonic()
            response = invoke(ws, env, specs, scratch)
            timings["invoke"] = time.monotonic() - t
    finally:
        emu.stop()
    return UpResult(scratch, before, result, after, response, time.monotonic() - t0, timings)
