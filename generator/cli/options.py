"""The command line's shared options, declared once: every command means the same by ``--env``, ``-C/--project``,
``--target`` and the rest.

- ``-C/--project DIR``: the project (must hold ``infra/environments/``); default: found from the current folder up.
- ``-e/--env NAME``: an environment (``infra/environments/NAME.yml``). Commands that act on one environment take
  exactly one; ``render``/``validate``/``infra render`` take several or ``--all``.
- ``--target azure|local``: Azure (``DefaultAzureCredential``) or the project's running ``amlgen emulator``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import UsageProblem

ProjectOpt = Annotated[
    Optional[Path], typer.Option("--project", "-C", help="Project folder (default: found from the current folder up).")
]
EnvsOpt = Annotated[Optional[list[str]], typer.Option("--env", "-e", help="Environment name (repeatable).")]
AllOpt = Annotated[bool, typer.Option("--all", help="Every environment in infra/environments/.")]
EnvOpt = Annotated[Optional[str], typer.Option("--env", "-e", help="Environment name (infra/environments/NAME.yml).")]
TargetOpt = Annotated[str, typer.Option("--target", help="azure (DefaultAzureCredential) or local (the project's `amlgen emulator`).")]
WsConfigOpt = Annotated[
    Optional[Path], typer.Option("--workspace-config", help="A config.json (as MLClient.from_config reads it); it must name the environment's workspace.")
]
SpecsOpt = Annotated[Optional[Path], typer.Option("--specs", help="Specs folder (default: specs/<env>/).")]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
RetryOpt = Annotated[Optional[int], typer.Option("--retry-total", help="Retries per request (azure-core RetryPolicy, 0-100).")]
BackoffOpt = Annotated[Optional[float], typer.Option("--retry-backoff-factor", help="Backoff factor between retries (0-60).")]
FormatOpt = Annotated[str, typer.Option("--format", help="text, json or markdown (for a pull-request comment).")]


def root(project: Path | None) -> Path:
    from ..api import project_root

    return project_root(project)


def envs(env: list[str] | None, all_: bool) -> list[str] | None:
    """``--env`` (repeatable) or ``--all`` (None)."""
    if env and all_:
        raise UsageProblem("give --env or --all, not both")
    if not env and not all_:
        raise UsageProblem("give --env NAME or --all")
    return None if all_ else env


def one_env(env: str | None) -> str:
    if not env:
        raise UsageProblem("give --env NAME")
    return env


def number(value: float | int | None, option: str, low: float, high: float) -> None:
    """Numeric options are finite and in range (a NaN or 29-digit count is a typo, not a request)."""
    if value is None:
        return
    if isinstance(value, float) and not math.isfinite(value):
        raise UsageProblem(f"{option} must be a finite number, got {value}")
    if not low <= value <= high:
        raise UsageProblem(f"{option} must be between {low:g} and {high:g}, got {value:g}")


MIN_AZURE_POLL = 1.0  # seconds: polling Azure faster only spends its request quota (the emulator may go lower)


def check_poll(value: float | None, target: object) -> None:
    """``--poll-interval``: above 0; against Azure (a target that is not local) at least ``MIN_AZURE_POLL``."""
    if value is None:
        return
    if value <= 0:
        raise UsageProblem(f"--poll-interval must be above 0 seconds, got {value:g}")
    if not getattr(target, "is_local", False) and value < MIN_AZURE_POLL:
        raise UsageProblem(f"--poll-interval must be at least {MIN_AZURE_POLL:g} s against Azure, got {value:g} "
                           "(lower intervals are for --target local)")


def fmt(value: str) -> str:
    if value not in ("text", "json", "markdown"):
        raise UsageProblem(f"--format must be text, json or markdown, got {value!r}")
    return value


def connect_options(retry_total: int | None, retry_backoff_factor: float | None) -> dict:
    number(retry_total, "--retry-total", 0, 100)
    number(retry_backoff_factor, "--retry-backoff-factor", 0, 60)
    return {"retry_total": retry_total, "retry_backoff_factor": retry_backoff_factor}
