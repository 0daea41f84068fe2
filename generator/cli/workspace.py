"""Commands on a workspace: ``plan``, ``apply``, ``invoke``, ``destroy``, ``up`` and ``emulator``.

Exit codes from ``generator.errors`` (``plan --detailed-exitcode``: 0 no changes, 2 changes, 1 error).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import EXIT_CHANGES, EXIT_INVALID, EXIT_OK, AzureError, UsageProblem
from .options import (
    BackoffOpt,
    EnvOpt,
    FormatOpt,
    ProjectOpt,
    RetryOpt,
    SpecsOpt,
    TargetOpt,
    WsConfigOpt,
    YesOpt,
    check_poll,
    connect_options,
    fmt,
    number,
    one_env,
    root,
)
from .root import app


def _where(project: Path | None, target: str, workspace_config: Path | None):
    from .. import api

    where = root(project)
    return where, api.target(where, target, workspace_config)


@app.command()
def plan(
    env: EnvOpt = None,
    project: ProjectOpt = None,
    target: TargetOpt = "azure",
    workspace_config: WsConfigOpt = None,
    specs: SpecsOpt = None,
    format_: FormatOpt = "text",
    detailed_exitcode: Annotated[bool, typer.Option("--detailed-exitcode", help="Exit 0: no changes, 2: changes, 1: error.")] = False,
    retry_total: RetryOpt = None,
    retry_backoff_factor: BackoffOpt = None,
) -> None:
    """Show what apply would change: create / update / replace (field diff) / no change / job already ran. Read-only."""
    from .. import api
    from ..engine.planview import format_plan

    style = fmt(format_)
    where, tgt = _where(project, target, workspace_config)
    result = api.plan(where, one_env(env), target=tgt, specs=specs, **connect_options(retry_total, retry_backoff_factor))
    typer.echo(format_plan(result, style), nl=False)
    if detailed_exitcode and result.drift:  # an expired endpoint's re-creation is not drift (engine.expiry)
        raise typer.Exit(EXIT_CHANGES)


@app.command()
def apply(
    env: EnvOpt = None,
    project: ProjectOpt = None,
    target: TargetOpt = "azure",
    workspace_config: WsConfigOpt = None,
    specs: SpecsOpt = None,
    yes: YesOpt = False,
    replace: Annotated[bool, typer.Option("--replace", help="Allow replacing resources that cannot change in place (an idle cluster's size).")] = False,
    allow_retired: Annotated[bool, typer.Option("--allow-retired", help="Start a fine-tune of a model the registry reports retired for fine-tuning.")] = False,
    job_timeout: Annotated[Optional[float], typer.Option("--job-timeout", help="Seconds to wait for the pipeline job (default: no limit).")] = None,
    poll_interval: Annotated[Optional[float], typer.Option("--poll-interval", help="Seconds between job status polls.")] = None,
    retry_total: RetryOpt = None,
    retry_backoff_factor: BackoffOpt = None,
) -> None:
    """Create or update everything in dependency order (concurrently where independent); idempotent, resumable."""
    from .. import api
    from ..engine.apply import Reporter

    number(job_timeout, "--job-timeout", 1, 366 * 24 * 3600)
    number(poll_interval, "--poll-interval", 0, 3600)
    where, tgt = _where(project, target, workspace_config)
    check_poll(poll_interval, tgt)
    result = api.apply(where, one_env(env), target=tgt, specs=specs, yes=yes, reporter=Reporter(),
                       poll_interval=poll_interval, job_timeout=job_timeout, allow_replace=replace,
                       allow_retired=allow_retired,
                       **connect_options(retry_total, retry_backoff_factor))
    if not result.ok:
        for message in result.errors[1:]:
            typer.echo(f"error: {message}", err=True)
        raise AzureError(result.errors[0])
    changed = [s for s in result.steps if s.action in ("created", "updated", "replaced", "submitted")]
    typer.echo(f"Apply complete in {result.seconds:.1f}s: "
               + (f"{len(changed)} change(s) ({', '.join(f'{s.kind} {s.action}' for s in changed)})" if changed else "no changes"))


@app.command()
def invoke(
    env: EnvOpt = None,
    project: ProjectOpt = None,
    target: TargetOpt = "azure",
    workspace_config: WsConfigOpt = None,
    specs: SpecsOpt = None,
    request: Annotated[Optional[Path], typer.Option("--request", help="Request JSON (default: the env's sample request, else a built-in one).")] = None,
    retry_total: RetryOpt = None,
    retry_backoff_factor: BackoffOpt = None,
) -> None:
    """Score a request on the endpoint through the SDK and print the response."""
    from .. import api

    where, tgt = _where(project, target, workspace_config)
    typer.echo(api.invoke(where, one_env(env), target=tgt, request=request, specs=specs,
                          **connect_options(retry_total, retry_backoff_factor)))


@app.command()
def destroy(
    env: EnvOpt = None,
    project: ProjectOpt = None,
    target: TargetOpt = "azure",
    workspace_config: WsConfigOpt = None,
    specs: SpecsOpt = None,
    only: Annotated[Optional[str], typer.Option("--only", help="endpoint or compute: remove only that.")] = None,
    include_compute: Annotated[bool, typer.Option("--include-compute", help="Also delete the compute cluster.")] = False,
    yes: YesOpt = False,
    retry_total: RetryOpt = None,
    retry_backoff_factor: BackoffOpt = None,
) -> None:
    """Remove what the notebook's cleanup removes: the endpoint (and its deployments); the compute optionally."""
    from .. import api
    from ..engine.apply import Reporter

    where, tgt = _where(project, target, workspace_config)
    removed = api.destroy(where, one_env(env), target=tgt, specs=specs, only=only, include_compute=include_compute,
                          yes=yes, reporter=Reporter(), **connect_options(retry_total, retry_backoff_factor))
    typer.echo(f"Destroy complete: {', '.join(removed) if removed else 'nothing to remove'}")


@app.command()
def rollback(
    env: EnvOpt = None,
    project: ProjectOpt = None,
    target: TargetOpt = "azure",
    workspace_config: WsConfigOpt = None,
    specs: SpecsOpt = None,
    yes: YesOpt = False,
    retry_total: RetryOpt = None,
    retry_backoff_factor: BackoffOpt = None,
) -> None:
    """Move the endpoint's traffic back to the previous deployment (after a smoke test of it)."""
    from .. import api
    from ..engine.apply import Reporter

    where, tgt = _where(project, target, workspace_config)
    current, previous = api.rollback(where, one_env(env), target=tgt, specs=specs, yes=yes, reporter=Reporter(),
                                     **connect_options(retry_total, retry_backoff_factor))
    typer.echo(f"Rolled back: {previous} serves 100% (was {current}); run `amlgen plan` to see the drift from the specs")


@app.command()
def up(
    env: EnvOpt = None,
    project: ProjectOpt = None,
    target: TargetOpt = "local",
    job_duration: Annotated[Optional[float], typer.Option("--job-duration", help="Emulated fine-tuning time (s).")] = None,
) -> None:
    """The whole workflow against an in-process emulator: sample data, render (into .amlgen/local/), validate,
    plan, apply, invoke, summary. Never touches specs/ or data/."""
    from .. import api
    from ..engine.apply import Reporter
    from ..engine.planview import summary_line
    from ..flows.up import SCRATCH

    if target != "local":
        raise UsageProblem("`amlgen up` runs against the local emulator only (--target local); for Azure use "
                           "`amlgen render`, `amlgen plan` and `amlgen apply`")
    number(job_duration, "--job-duration", 0, 3600)
    name = one_env(env)
    rep = Reporter()
    result = api.up(root(project), name, reporter=rep, job_duration=job_duration)
    rep.line("")
    rep.line(f"Response: {result.response}")
    rep.line(f"Summary ({name}, local emulator): {len(result.apply.steps)} resources applied, "
             f"then plan: {summary_line(result.plan_after)}; "
             f"{result.seconds:.1f}s total ({', '.join(f'{k} {v:.1f}s' for k, v in result.timings.items())}). "
             f"Specs and data are under {SCRATCH}/.")
    if result.plan_after.has_changes:
        raise typer.Exit(EXIT_INVALID)


@app.command()
def emulator(
    project: ProjectOpt = None,
    port: Annotated[int, typer.Option("--port", help="Port on 127.0.0.1 (0 = any free port).")] = 0,
    state_dir: Annotated[Optional[Path], typer.Option("--state-dir", help="Keep the emulator's resources here (default .amlgen/emulator/).")] = None,
    job_duration: Annotated[float, typer.Option("--job-duration", help="Seconds a pipeline job runs.")] = 2.0,
    latency: Annotated[Optional[list[str]], typer.Option("--latency", help="KIND=SECONDS (compute, endpoint, deployment, model, data, delete, cancel); repeatable.")] = None,
) -> None:
    """Run a local Azure ML emulator in the foreground; `--target local` commands find it via .amlgen/emulator.json."""
    from ..emulator import run_emulator
    from ..emulator.target import pid_alive, read_state, state_file, write_state

    where = root(project)
    number(port, "--port", 0, 65535)
    number(job_duration, "--job-duration", 0, 24 * 3600)
    lat: dict[str, float] = {}
    for item in latency or []:
        kind, sep, value = item.partition("=")
        try:
            lat[kind.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep:
            raise UsageProblem(f"--latency must be KIND=SECONDS, got {item!r}")
        number(lat[kind.strip()], f"--latency {kind.strip()}", 0, 3600)
    running = read_state(where)
    if running is not None and pid_alive(running.get("pid")):
        raise UsageProblem(f"an emulator is already running for this project (pid {running.get('pid')}, "
                           f"{running.get('base_url')}); stop it first")
    from ..config import load_all
    from ..flows.up import provision

    envs = load_all(where)  # a broken infra/ is its one-line error before anything starts

    def started(emu) -> None:
        provision(emu, envs)  # what infra/bicep provisions: each workspace in its region, the promotion registry
        typer.echo(f"state={write_state(where, emu.base_url, emu.ca_path)}")
        typer.echo("serving; Ctrl-C to stop", err=True)
        sys.stdout.flush()

    def stopped(emu) -> None:
        try:
            if state_file(where).is_file() and f'"{emu.base_url}"' in state_file(where).read_text():
                state_file(where).unlink()
        except OSError:
            pass

    run_emulator(port=port, state_dir=state_dir or where / ".amlgen" / "emulator", latencies=lat,
                 job_duration=job_duration, on_start=started, on_stop=stopped)
    raise typer.Exit(EXIT_OK)


@app.command()
def promote(
    from_: Annotated[Optional[str], typer.Option("--from", help="The environment that trained the model.")] = None,
    to: Annotated[Optional[str], typer.Option("--to", help="The environment that deploys it (role: deploy).")] = None,
    project: ProjectOpt = None,
    target: TargetOpt = "azure",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check and evaluate the gates; share and write nothing.")] = False,
    retry_total: RetryOpt = None,
    retry_backoff_factor: BackoffOpt = None,
) -> None:
    """Promote the source's trained model through the registry: checks, gates, share, record in infra/ (no apply)."""
    from .. import api
    from ..engine.apply import Reporter

    if not from_ or not to:
        raise UsageProblem("give --from ENV and --to ENV")
    where = root(project)
    outcome = api.promote(where, from_, to, target=api.target(where, target), dry_run=dry_run, reporter=Reporter(),
                          **connect_options(retry_total, retry_backoff_factor))
    if not dry_run:
        typer.echo(f"Promoted {outcome.model}:{outcome.version} to {to} (registry {outcome.registry}); review and "
                   f"commit infra/environments/{to}.yml and specs/{to}/ -- promote never applies {to}")
