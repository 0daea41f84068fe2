"""``amlgen plan|apply|invoke|destroy|up|emulator``: call ``register(app)`` on the main Typer app.

Conventions of ``generator.cli``: AmlgenError -> ``error: <one line>`` (raised to ``generator.cli.main``);
exit codes from ``generator.errors`` (``plan --detailed-exitcode``: 0 no changes, 2 changes, 1 error).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import EXIT_CHANGES, EXIT_INVALID, EXIT_OK, AzureError, UsageProblem

ProjectOpt = Annotated[
    Optional[Path], typer.Option("--project", "-C", help="Project directory (default: found from the current directory).")
]
EnvOpt = Annotated[Optional[str], typer.Option("--env", "-e", help="Environment name (one).")]
TargetOpt = Annotated[str, typer.Option("--target", help="azure (DefaultAzureCredential) or local (the `amlgen emulator`).")]
WsConfigOpt = Annotated[
    Optional[Path], typer.Option("--workspace-config", help="A config.json (as MLClient.from_config reads it) instead of the env's workspace.")
]
SpecsOpt = Annotated[Optional[Path], typer.Option("--specs", help="Specs directory (default: specs/<env>/).")]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
RetryOpt = Annotated[Optional[int], typer.Option("--retry-total", help="Retries per request (azure-core RetryPolicy).")]
BackoffOpt = Annotated[Optional[float], typer.Option("--retry-backoff-factor", help="Backoff factor between retries.")]


def _context(project: Path | None, env: str | None, target: str, workspace_config: Path | None,
             specs: Path | None, retry_total: int | None, retry_backoff: float | None):
    from ..api import project_root
    from ..config import load_environment
    from . import core

    if not env:
        raise UsageProblem("give --env NAME")
    root = project_root(project)
    environment = load_environment(root, env)
    spec_dir = specs if specs is not None else core.spec_dir(root, env)
    if not spec_dir.is_dir():
        raise UsageProblem(f"no specs in {spec_dir}: run `amlgen render --env {env}`")
    tgt = core.resolve_target(root, target, workspace_config)
    ws = core.open_workspace(environment, tgt, retry_total=retry_total, retry_backoff_factor=retry_backoff)
    return root, environment, spec_dir, ws


def register(app: typer.Typer) -> None:
    """Add plan, apply, invoke, destroy, up and emulator to the main ``amlgen`` app."""

    @app.command()
    def plan(
        env: EnvOpt = None,
        project: ProjectOpt = None,
        target: TargetOpt = "azure",
        workspace_config: WsConfigOpt = None,
        specs: SpecsOpt = None,
        fmt: Annotated[str, typer.Option("--format", help="text, json or markdown (for a PR comment).")] = "text",
        detailed_exitcode: Annotated[bool, typer.Option("--detailed-exitcode", help="Exit 0: no changes, 2: changes, 1: error.")] = False,
        retry_total: RetryOpt = None,
        retry_backoff_factor: BackoffOpt = None,
    ) -> None:
        """Show what apply would change: create / update (field diff) / no change / job already ran. Read-only."""
        from . import core
        from .plan import format_plan

        if fmt not in ("text", "json", "markdown"):
            raise UsageProblem(f"--format must be text, json or markdown, got {fmt!r}")
        root, environment, spec_dir, ws = _context(project, env, target, workspace_config, specs, retry_total, retry_backoff_factor)
        with ws:
            result = core.plan(ws, environment, spec_dir, root)
        typer.echo(format_plan(result, fmt), nl=False)
        if detailed_exitcode and result.has_changes:
            raise typer.Exit(EXIT_CHANGES)

    @app.command()
    def apply(
        env: EnvOpt = None,
        project: ProjectOpt = None,
        target: TargetOpt = "azure",
        workspace_config: WsConfigOpt = None,
        specs: SpecsOpt = None,
        yes: YesOpt = False,
        retry_total: RetryOpt = None,
        retry_backoff_factor: BackoffOpt = None,
        poll_interval: Annotated[Optional[float], typer.Option("--poll-interval", help="Seconds between job status polls.")] = None,
    ) -> None:
        """Create or update everything in dependency order (concurrently where independent); idempotent, resumable."""
        from . import core
        from .apply import Reporter

        root, environment, spec_dir, ws = _context(project, env, target, workspace_config, specs, retry_total, retry_backoff_factor)
        rep = Reporter()
        with ws:
            rep.line(f"Applying {spec_dir} to {ws.label}")
            result = core.apply(ws, environment, spec_dir, yes=yes, reporter=rep, poll_interval=poll_interval)
        if not result.ok:
            for message in result.errors[1:]:
                typer.echo(f"error: {message}", err=True)
            raise AzureError(result.errors[0])
        changed = [s for s in result.steps if s.action in ("created", "updated", "submitted")]
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
        from . import core

        root, environment, spec_dir, ws = _context(project, env, target, workspace_config, specs, retry_total, retry_backoff_factor)
        with ws:
            typer.echo(core.invoke(ws, environment, spec_dir, root, request))

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
        from . import core

        root, environment, spec_dir, ws = _context(project, env, target, workspace_config, specs, retry_total, retry_backoff_factor)
        with ws:
            removed = core.destroy(ws, environment, spec_dir, only=only, include_compute=include_compute, yes=yes)
        typer.echo(f"Destroy complete: {', '.join(removed) if removed else 'nothing to remove'}")

    @app.command()
    def up(
        env: Annotated[str, typer.Option("--env", "-e", help="Environment name.")] = "dev",
        project: ProjectOpt = None,
        target: Annotated[str, typer.Option("--target", help="local only: an in-process emulator.")] = "local",
        job_duration: Annotated[Optional[float], typer.Option("--job-duration", help="Emulated fine-tuning time (s).")] = None,
    ) -> None:
        """The whole workflow against an in-process emulator: sample data, render (into .amlgen/local/), validate,
        plan, apply, invoke, summary. Never touches specs/ or data/."""
        from ..api import project_root
        from . import core
        from .apply import Reporter
        from .plan import summary_line

        if target != "local":
            raise UsageProblem("`amlgen up` runs against the local emulator only (--target local); for Azure use "
                               "`amlgen render`, `amlgen plan` and `amlgen apply`")
        root = project_root(project)
        rep = Reporter()
        result = core.up(root, env, reporter=rep, job_duration=job_duration)
        rep.line("")
        rep.line(f"Response: {result.response}")
        rep.line(f"Summary ({env}, local emulator): {len(result.apply.steps)} resources applied, "
                 f"then plan: {summary_line(result.plan_after)}; "
                 f"{result.seconds:.1f}s total ({', '.join(f'{k} {v:.1f}s' for k, v in result.timings.items())}). "
                 f"Specs and data are under {core.SCRATCH}/.")
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
        from ..api import project_root
        from ..emulator import run_emulator
        from ..workspace import state_file, write_emulator_state

        root = project_root(project)
        lat: dict[str, float] = {}
        for item in latency or []:
            kind, sep, value = item.partition("=")
            try:
                lat[kind.strip()] = float(value)
            except ValueError:
                sep = ""
            if not sep:
                raise UsageProblem(f"--latency must be KIND=SECONDS, got {item!r}")
        def started(emu) -> None:
            typer.echo(f"state={write_emulator_state(root, emu.base_url, emu.ca_path)}")
            typer.echo("serving; Ctrl-C to stop", err=True)
            sys.stdout.flush()

        def stopped(emu) -> None:
            try:
                if state_file(root).is_file() and f'"{emu.base_url}"' in state_file(root).read_text():
                    state_file(root).unlink()
            except OSError:
                pass

        run_emulator(port=port, state_dir=state_dir or root / ".amlgen" / "emulator", latencies=lat,
                     job_duration=job_duration, on_start=started, on_stop=stopped)
        raise typer.Exit(EXIT_OK)
