"""``amlgen infra render``: the Bicep parameters of infra/params/<env>/ (also written by ``amlgen render``).

``--all`` also runs the cross-environment checks (no shared derived names; the shared registry deployed
identically by every environment that deploys it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .options import AllOpt, EnvsOpt, ProjectOpt, envs, root

app = typer.Typer(help="Workspace infrastructure (infra/bicep/) parameters.", no_args_is_help=True)


def render_params(where: Path, names: list[str] | None, *, check: bool = False):
    """Render infra/params/<env>/ for ``names`` (None: all, plus the cross-environment checks); write or check."""
    from .. import api

    return api.render(where, names, check=check, with_specs=False).report


@app.command("render")
def render(
    env: EnvsOpt = None,
    all_: AllOpt = False,
    check: Annotated[bool, typer.Option("--check", help="Fail if the committed files differ from a fresh render.")] = False,
    project: ProjectOpt = None,
) -> None:
    """Render infra/params/<env>/ (Bicep parameters + az deployment command) from infra/."""
    report = render_params(root(project), envs(env, all_), check=check)
    if check:
        typer.echo("infra parameters are up to date")
    elif report is not None:
        for path in report.written:
            typer.echo(f"wrote {path}")
        for path in report.removed:
            typer.echo(f"removed {path}")
        if not report.changed:
            typer.echo("infra parameters unchanged")
