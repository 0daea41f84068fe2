"""Commands for running amlgen from CI (see docs/gitops.md): ``changed``, ``reap``, ``catalog prices`` and
``github comment|issue`` (the pull-request comment and the drift issue the workflows keep up to date)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import UsageProblem
from .options import BackoffOpt, EnvOpt, ProjectOpt, RetryOpt, TargetOpt, WsConfigOpt, connect_options, one_env, root
from .project import catalog_app
from .root import app

github_app = typer.Typer(help="The pull-request comment and the drift issue the workflows keep (GitHub REST API).",
                         no_args_is_help=True)


@app.command()
def changed(
    base: Annotated[Optional[str], typer.Option("--base", help="Git revision to compare with (its merge base with "
                                                "HEAD), e.g. origin/main.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Every environment (whatever changed).")] = False,
    format_: Annotated[str, typer.Option("--format", help="lines (one environment a line) or json (a list).")] = "lines",
    project: ProjectOpt = None,
) -> None:
    """Print the environments a change touches (what a pull request plans and a merge applies)."""
    from .. import api

    if format_ not in ("lines", "json"):
        raise UsageProblem(f"--format must be lines or json, got {format_!r}")
    if base and all_:
        raise UsageProblem("give --base or --all, not both")
    result = api.changed(root(project), base, every=all_)
    for env, files in result.reasons.items():
        typer.echo(f"{env}: {', '.join(files[:5])}{' ...' if len(files) > 5 else ''}", err=True)
    if not result.envs:
        typer.echo("no environment is touched by this change", err=True)
    if format_ == "json":
        typer.echo(json.dumps(result.envs))
    else:
        for env in result.envs:
            typer.echo(env)


@app.command()
def reap(
    env: EnvOpt = None,
    project: ProjectOpt = None,
    target: TargetOpt = "azure",
    workspace_config: WsConfigOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only report what has expired.")] = False,
    retry_total: RetryOpt = None,
    retry_backoff_factor: BackoffOpt = None,
) -> None:
    """Delete the endpoints whose time-to-live (endpoint.ttl_hours) has passed; unprotected environments only."""
    from .. import api
    from ..engine.apply import Reporter
    from ..engine.expiry import refuse_protected

    where = root(project)
    name = one_env(env)
    refuse_protected(api.environment(where, name))  # a protected environment is refused before any sign-in
    tgt = api.target(where, target, workspace_config)
    result = api.reap(where, name, target=tgt, dry_run=dry_run, reporter=Reporter(),
                      **connect_options(retry_total, retry_backoff_factor))
    if dry_run:
        typer.echo(f"Reap (dry run) of {name}: " + (f"would delete {', '.join(result.expired)}" if result.expired
                                                     else "nothing has expired"))
    else:
        typer.echo(f"Reap of {name}: " + (f"deleted {', '.join(result.deleted)}" if result.deleted
                                          else "nothing has expired"))


@catalog_app.command("prices")
def prices(
    refresh: Annotated[bool, typer.Option("--refresh", help="Fetch current prices from the Azure Retail Prices API "
                                          "into infra/prices.yaml (the project's table; the package's is never "
                                          "written).")] = False,
    region: Annotated[Optional[list[str]], typer.Option("--region", help="Region to refresh (repeatable; default: "
                                                        "the environments' workspace locations).")] = None,
    api_url: Annotated[Optional[str], typer.Option("--api-url", help="Retail Prices API URL (default: "
                                                   "https://prices.azure.com/api/retail/prices).")] = None,
    project: ProjectOpt = None,
) -> None:
    """Show the VM price table plan uses (hourly USD, Linux pay-as-you-go), or refresh the project's copy."""
    from .. import api
    from ..pricing import load_table, staleness_warning

    where = root(project)
    if refresh:
        result = api.refresh_prices(where, regions=region, base_url=api_url)
        typer.echo(f"wrote infra/prices.yaml: {len(result.table)} prices in {len(result.table.prices)} region(s), "
                   f"as of {result.table.as_of.isoformat()}")
        for reg, size in result.missing:
            typer.echo(f"warning: no price for {size} in {reg} (left out: unknown, not free)", err=True)
        return
    if region or api_url:
        raise UsageProblem("--region and --api-url apply to --refresh only")
    table = load_table(where)
    for p in table.entries():
        typer.echo(f"{p.region:16} {p.size:28} ${p.hourly:>9.3f}/h  ${p.monthly:>11,.2f}/month  "
                   f"as of {p.as_of.isoformat()}  ({p.file})")
    stale = staleness_warning(table)
    if stale:
        typer.echo(f"warning: {stale}", err=True)


@github_app.command("comment")
def comment(
    pr: Annotated[int, typer.Option("--pr", min=1, help="Pull request number.")],
    body_file: Annotated[Path, typer.Option("--body-file", help="Markdown file with the comment.")],
    marker: Annotated[str, typer.Option("--marker", help="Names this comment: the same marker edits the same "
                                        "comment.")] = "plan",
) -> None:
    """Create the pull request's amlgen comment, or edit it in place on later runs (one comment, never more)."""
    from ..github import GitHub, upsert_comment

    action, url = upsert_comment(GitHub.from_env(), pr, marker, _read(body_file))
    typer.echo(f"comment {action}: {url}")


@github_app.command("issue")
def issue(
    title: Annotated[str, typer.Option("--title", help="Issue title.")],
    body_file: Annotated[Path, typer.Option("--body-file", help="Markdown file with the issue text (or, with "
                                            "--resolved, the closing comment).")],
    marker: Annotated[str, typer.Option("--marker", help="Names this issue: one open issue per marker.")] = "drift",
    label: Annotated[Optional[list[str]], typer.Option("--label", help="Label for a new issue (repeatable).")] = None,
    resolved: Annotated[bool, typer.Option("--resolved", help="Close the open issue (if any) with the body as a "
                                           "comment.")] = False,
) -> None:
    """Open the marker's issue, or update the open one; --resolved closes it."""
    from ..github import GitHub, upsert_issue

    action, url = upsert_issue(GitHub.from_env(), marker, title, _read(body_file), labels=label, resolved=resolved)
    typer.echo(f"issue {action}" + (f": {url}" if url else ""))


def _read(path: Path) -> str:
    from ..errors import AmlgenError
    from ..yamlutil import read_text

    if not os.path.lexists(path):
        raise AmlgenError("no such file", where=str(path))
    return read_text(path, str(path), error=AmlgenError)
