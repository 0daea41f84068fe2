"""``amlgen data ...``: prepare, preview, stats, sample-request.

Errors (``AmlgenError``) are raised to ``generator.cli.main``, which prints them as one line with their exit code,
as for every other command."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import typer

app = typer.Typer(
    help="The dataset step: prepare the ultrachat_200k splits as JSON lines, preview them, show statistics and "
    "build the sample scoring request.",
    no_args_is_help=True,
)

EnvOpt = typer.Option("dev", "--env", "-e", help="Environment name (infra/environments/<env>.yml).")
ProjectOpt = typer.Option(None, "--project", help="Project root (default: found from the current directory).")


def _load(env: str, project: Optional[Path]) -> tuple[Any, Path]:
    from ..config import find_project_root, load_environment

    root = Path(project).resolve() if project else find_project_root()
    return load_environment(root, env), root


@app.command()
def prepare(
    env: str = EnvOpt,
    project: Optional[Path] = ProjectOpt,
    source: Optional[str] = typer.Option(
        None, "--source", help="A local copy (PATH/data/<split>-*.parquet or a datasets folder), or 'sample' for the "
        "bundled sample. Default: the hub dataset of the environment.",
    ),
    force: bool = typer.Option(False, "--force", help="Rewrite even when the files already match the manifest."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
) -> None:
    """Write <split>.jsonl for every configured split and manifest.json (skipped when already up to date)."""
    from .preparation import prepare as run
    from .progress import reporter

    environment, root = _load(env, project)
    run(environment.config.data, root, source=source, force=force, reporter=reporter(quiet=quiet))


@app.command()
def preview(
    env: str = EnvOpt,
    project: Optional[Path] = ProjectOpt,
    split: Optional[str] = typer.Option(None, "--split", help="Split to show (default: the train split)."),
    rows: int = typer.Option(5, "--rows", "-n", help="Rows to show."),
) -> None:
    """Show the first rows of a prepared split as the notebook does (pandas, full column width)."""
    from .explore import preview as run

    environment, root = _load(env, project)
    print(run(environment, root, split=split, rows=rows))


@app.command()
def stats(
    env: str = EnvOpt,
    project: Optional[Path] = ProjectOpt,
    split: Optional[list[str]] = typer.Option(None, "--split", help="Split(s) to analyse (default: all prepared)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Rows, turns per conversation, characters per message and role-order problems, per split."""
    from .explore import format_stats
    from .explore import stats as run

    environment, root = _load(env, project)
    result = run(environment, root, splits=split or None)
    print(json.dumps(result, indent=2, sort_keys=True) if as_json else format_stats(result))


@app.command("sample-request")
def sample_request(
    env: str = EnvOpt,
    project: Optional[Path] = ProjectOpt,
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Output file (default: <data dir>/sample_request.<env>.json)."),
) -> None:
    """Write the scoring request from a seeded row of the request split (the notebook's shape)."""
    from .request import sample_request as run

    environment, root = _load(env, project)
    path = run(environment, root, out)
    try:
        shown = path.resolve().relative_to(root)
    except ValueError:
        shown = path
    print(f"wrote {shown}")
