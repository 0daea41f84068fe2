"""``amlgen logs`` and ``amlgen metrics``: watch the environment's pipeline job like the notebook does.

The job is the one of ``specs/<env>/pipeline-job.yml``; its steps, logs and metrics are read through the workspace
(``generator.engine.runs``).
"""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from .options import (
    BackoffOpt,
    EnvOpt,
    FormatOpt,
    ProjectOpt,
    RetryOpt,
    SpecsOpt,
    TargetOpt,
    WsConfigOpt,
    check_poll,
    connect_options,
    fmt,
    number,
    one_env,
    root,
)
from .root import app


@app.command()
def logs(
    env: EnvOpt = None,
    project: ProjectOpt = None,
    target: TargetOpt = "azure",
    workspace_config: WsConfigOpt = None,
    specs: SpecsOpt = None,
    step: Annotated[Optional[str], typer.Option("--step", help="A step of the job (its name, or a part only it has, e.g. finetune); default: the job's execution log.")] = None,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new lines until the job (or the step) ends.")] = False,
    poll_interval: Annotated[Optional[float], typer.Option("--poll-interval", help="Seconds between polls with --follow.")] = None,
    retry_total: RetryOpt = None,
    retry_backoff_factor: BackoffOpt = None,
) -> None:
    """Print the pipeline job's execution log, or one step's log (--step); --follow until it ends."""
    from .. import api

    number(poll_interval, "--poll-interval", 0, 3600)
    where = root(project)
    tgt = api.target(where, target, workspace_config)
    check_poll(poll_interval, tgt)
    printed = []

    def emit(line: str) -> None:
        printed.append(1)
        typer.echo(line)

    status = api.logs(where, one_env(env), target=tgt, step=step, follow=follow, emit=emit, specs=specs,
                      poll_interval=poll_interval, **connect_options(retry_total, retry_backoff_factor))
    if not printed:
        typer.echo(f"no log lines yet ({'the step' if step else 'the job'} is {status})", err=True)


@app.command()
def metrics(
    env: EnvOpt = None,
    project: ProjectOpt = None,
    target: TargetOpt = "azure",
    workspace_config: WsConfigOpt = None,
    specs: SpecsOpt = None,
    format_: FormatOpt = "text",
    retry_total: RetryOpt = None,
    retry_backoff_factor: BackoffOpt = None,
) -> None:
    """Show the metrics the pipeline job's steps logged (latest values; json adds each metric's history)."""
    from .. import api
    from ..engine.runs import format_metrics

    style = fmt(format_)
    where = root(project)
    tgt = api.target(where, target, workspace_config)
    result = api.metrics(where, one_env(env), target=tgt, specs=specs, history=style == "json",
                         **connect_options(retry_total, retry_backoff_factor))
    typer.echo(format_metrics(result, style), nl=False)
