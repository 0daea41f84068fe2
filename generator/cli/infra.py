"""`infra` commands: render the Bicep parameters of infra/params/<env>/ (also done by `amlgen render`).

    infra_app = typer.Typer()       # mounted by generator/cli.py as `amlgen infra` (owned by the CLI)
    amlgen infra render --env dev   # write infra/params/dev/ (atomic; unchanged files untouched)
    amlgen infra render --all --check

``--all`` also runs the cross-environment checks (no shared derived names; the shared registry deployed
identically by every environment that deploys it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .config import find_project_root
from .errors import UsageProblem

infra_app = typer.Typer(help="Workspace infrastructure (infra/bicep/) parameters.", no_args_is_help=True)


def render_params(root: Path, envs: list[str] | None, *, check: bool = False):
    """Render infra/params/<env>/ for ``envs`` (None: all, plus the cross-environment checks); write or check."""
    from .api import render

    return render(root, envs, check=check, with_specs=False).report


@infra_app.command("render")
def render(
    env: Annotated[Optional[list[str]], typer.Option("--env", "-e", help="Environment name (repeatable).")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Every environment in infra/environments/.")] = False,
    check: Annotated[bool, typer.Option("--check", help="Fail if the committed files differ from a fresh render.")] = False,
    project: Annotated[Optional[Path], typer.Option("--project", "-C", help="Project directory.")] = None,
) -> None:
    """Render infra/params/<env>/ (Bicep parameters + az deployment command) from infra/."""
    if bool(env) == all_:
        raise UsageProblem("give --env NAME or --all")
    root = find_project_root(project)
    report = render_params(root, None if all_ else env, check=check)
    if check:
        typer.echo("infra parameters are up to date")
    elif report is not None:
        for path in report.written:
            typer.echo(f"wrote {path}")
        for path in report.removed:
            typer.echo(f"removed {path}")
        if not report.changed:
            typer.echo("infra parameters unchanged")
