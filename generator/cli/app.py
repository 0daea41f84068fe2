"""The `amlgen` Typer application: the root command and the command groups (each module registers its commands)."""

from __future__ import annotations

import sys
from typing import Any

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


from . import data, gitops, infra, init, project, runs, workspace  # noqa: E402  (commands register themselves)

app.add_typer(data.app, name="data")
app.add_typer(infra.app, name="infra")
app.add_typer(project.catalog_app, name="catalog")
app.add_typer(gitops.github_app, name="github")


def command(argv: list[str] | None = None) -> Any:
    """The click command that runs ``argv`` (default: ``sys.argv[1:]``).

    Typer builds every command's parameters (annotations, type adapters) when it builds the group: a tenth of a
    ``render --check``. A command line that starts with a command's name gets a group holding that command only:
    the same root (callback, options, settings), the same command, so the same parsing, help and errors. Anything
    else (no command, a root option first, an unknown name) gets the whole group, with its listing and suggestions.
    """
    import copy

    from typer.main import get_command, get_command_name

    args = sys.argv[1:] if argv is None else argv
    name = args[0] if args else ""
    if name and not name.startswith("-"):
        one = copy.copy(app)
        for info in app.registered_commands:
            if (info.name or get_command_name(info.callback.__name__)) == name:  # type: ignore[union-attr]
                one.registered_commands, one.registered_groups = [info], []
                return get_command(one)
        for group in app.registered_groups:
            if group.name == name:
                one.registered_commands, one.registered_groups = [], [group]
                return get_command(one)
    return get_command(app)
