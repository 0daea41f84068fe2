"""``amlgen data ...``: prepare, preview, stats, sample-request.

Errors (``AmlgenError``) are raised to ``generator.cli.main``, which prints them as one line with their exit code,
as for every other command."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from .options import EnvOpt, ProjectOpt, one_env, root

app = typer.Typer(
    help="The dataset step: prepare the ultrachat_200k splits as JSON lines, preview them, show statistics and "
    "build the sample scoring request.",
    no_args_is_help=True,
)


def _load(env: str | None, project: Optional[Path]) -> tuple[Any, Path]:
    from .. import api

    where = root(project)
    return api.environment(where, one_env(env)), where


@app.command()
def prepare(
    env: EnvOpt = None,
    project: ProjectOpt = None,
    source: Annotated[Optional[str], typer.Option(
        "--source", help="A local copy (PATH/data/<split>-*.parquet or a datasets folder), or 'sample' for the "
        "bundled sample. Default: the hub dataset of the environment.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Rewrite even when the files already match the manifest.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")] = False,
) -> None:
    """Write <split>.jsonl for every configured split and manifest.json (skipped when already up to date)."""
    from ..data.preparation import prepare as run
    from ..data.progress import reporter

    environment, where = _load(env, project)
    run(environment.config.data, where, source=source, force=force, reporter=reporter(quiet=quiet))


@app.command()
def preview(
    env: EnvOpt = None,
    project: ProjectOpt = None,
    split: Annotated[Optional[str], typer.Option("--split", help="Split to show (default: the train split).")] = None,
    rows: Annotated[int, typer.Option("--rows", "-n", min=1, max=10_000, help="Rows to show.")] = 5,
) -> None:
    """Show the first rows of a prepared split as the notebook does (full column width)."""
    from ..data.explore import preview as run

    environment, where = _load(env, project)
    print(run(environment, where, split=split, rows=rows))


@app.command()
def stats(
    env: EnvOpt = None,
    project: ProjectOpt = None,
    split: Annotated[Optional[list[str]], typer.Option("--split", help="Split(s) to analyse (default: all prepared).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Rows, turns per conversation, characters per message and role-order problems, per split."""
    from ..data.explore import format_stats
    from ..data.explore import stats as run

    environment, where = _load(env, project)
    result = run(environment, where, splits=split or None)
    print(json.dumps(result, indent=2, sort_keys=True) if as_json else format_stats(result))


@app.command("sample-request")
def sample_request(
    env: EnvOpt = None,
    project: ProjectOpt = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Output file (default: <data dir>/sample_request.<env>.json).")] = None,
) -> None:
    """Write the scoring request from a seeded row of the request split (the notebook's shape)."""
    from ..data.request import sample_request as run

    environment, where = _load(env, project)
    path = run(environment, where, out)
    try:
        shown = path.resolve().relative_to(where)
    except ValueError:
        shown = path
    print(f"wrote {shown}")
