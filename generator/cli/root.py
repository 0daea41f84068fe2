"""The root `amlgen` Typer application: its callback (``--version``). The command modules register their commands
on it; ``cli/app.py`` imports them and builds the click command."""

from __future__ import annotations

import typer

from .. import __version__

app = typer.Typer(
    name="amlgen",
    help="Azure ML fine-tuning workflow as reviewable infrastructure-as-code.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"amlgen {__version__}")
        raise typer.Exit(0)


@app.callback()
def _main(
    version: bool = typer.Option(False, "--version", help="Show the version and exit.", is_eager=True,
                                 callback=_version),
) -> None:
    """Azure ML fine-tuning workflow as reviewable infrastructure-as-code."""
